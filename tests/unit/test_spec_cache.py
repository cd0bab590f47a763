"""The parse cache returns exactly what the loader returns, and never a stale state."""

from __future__ import annotations

import json
import os
import time

import pytest

from rocker.errors import SpecError
from rocker.stackfile import cache
from rocker.stackfile.loader import load_desired


def test_cache_hit_equals_a_fresh_load_and_misses_on_any_change(tmp_path, monkeypatch):
    d = tmp_path / "s"
    d.mkdir()
    (d / "a.tar").write_bytes(b"tar")
    (d / "e.env").write_text("A=1\n")
    f = d / "s.yaml"
    f.write_text("images: {b: {import: a.tar}}\ncontainers:\n  w: {image: b, env_file: e.env}\n")
    cdir = str(tmp_path / "cache")
    first = cache.load_desired_cached(str(f), "s.yaml", cdir)
    assert first == load_desired(str(f), "s.yaml")
    assert len(os.listdir(cdir)) == 1
    calls = []
    monkeypatch.setattr("rocker.stackfile.loader.load_desired_with_deps",
                        lambda *a: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    assert cache.load_desired_cached(str(f), "s.yaml", cdir) == first   # a hit: no parsing
    monkeypatch.undo()
    (d / "e.env").write_text("A=2\n")             # a dependency changed
    os.utime(d / "e.env", ns=(1, 1))
    again = cache.load_desired_cached(str(f), "s.yaml", cdir)
    assert again.containers[0].config["env"] == {"A": "2"}
    f.write_text(f.read_text().replace("e.env}", "e.env, memroy: 1}"))  # errors still raised
    with pytest.raises(SpecError, match="memroy"):
        cache.load_desired_cached(str(f), "s.yaml", cdir)


def test_host_environment_is_never_cached(tmp_path, monkeypatch):
    f = tmp_path / "s.yaml"
    f.write_text("containers:\n  w: {image: x, env: [HOME_THING]}\n")
    cdir = str(tmp_path / "cache")
    monkeypatch.setenv("HOME_THING", "1")
    assert cache.load_desired_cached(str(f), "s", cdir).containers[0].config["env"] == {
        "HOME_THING": "1"}
    assert not os.path.exists(cdir)


def _stack(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    (d / "a.tar").write_bytes(b"tar-1")
    (d / "e.env").write_text("SECRET=aaaa\n")
    f = d / "s.yaml"
    f.write_text("images: {b: {import: a.tar}}\ncontainers:\n"
                 "  w: {image: b, env_file: e.env, env: {Z: '1', A: '2'}, memory: 64m,\n"
                 "      labels: {z: '1', a: '2'}}\n")
    return d, str(f), str(tmp_path / "cache")


@pytest.mark.parametrize("dep, new", [("e.env", b"SECRET=bbbb\n"), ("a.tar", b"tar-2")])
def test_same_size_edit_with_restored_mtime_is_a_miss(tmp_path, dep, new):
    """`cp -p` / `touch -r` keep size and mtime: ctime (and, for small files, the bytes)
    still tell the change."""
    d, f, cdir = _stack(tmp_path)
    first = cache.load_desired_cached(f, "s.yaml", cdir)
    p = d / dep
    st = os.stat(p)
    time.sleep(0.01)
    p.write_bytes(new)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(p).st_size == st.st_size and os.stat(p).st_mtime_ns == st.st_mtime_ns
    again = cache.load_desired_cached(f, "s.yaml", cdir)
    assert again == load_desired(f, "s.yaml") and again != first


def test_every_module_the_loader_used_is_a_dependency(tmp_path):
    _d, f, cdir = _stack(tmp_path)
    cache.load_desired_cached(f, "s.yaml", cdir)
    [entry] = os.listdir(cdir)
    with open(os.path.join(cdir, entry)) as fh:
        code = [p for p, _ in json.load(fh)["code"]]
    for rel in ("spec/loader.py", "spec/models.py", "containers/config.py",
                "images/changes.py", "images/store.py", "util/durations.py",
                "cgroups/limits.py", "plan/planner.py"):
        assert any(p.endswith("/rocker/" + rel) for p in code), rel


def test_code_change_is_a_miss(tmp_path, monkeypatch):
    _d, f, cdir = _stack(tmp_path)
    fake = tmp_path / "durations.py"
    fake.write_text("# v1\n")
    monkeypatch.setattr(cache, "_code_files", lambda: [str(fake)])
    first = cache.load_desired_cached(f, "s.yaml", cdir)
    fake.write_text("# v2\n")
    calls = []
    import rocker.stackfile.loader as loader
    orig = loader.load_desired_with_deps
    monkeypatch.setattr(loader, "load_desired_with_deps",
                        lambda *a: calls.append(a) or orig(*a))
    assert cache.load_desired_cached(f, "s.yaml", cdir) == first
    assert calls, "a changed code file must not give a cache hit"


def test_hit_keeps_the_key_order_of_a_miss(tmp_path):
    """The renderer lists fields in dict order: a hit must render exactly like a miss."""
    from rocker.plan import ObservedState, plan
    from rocker.plan.render import render_json, render_text
    _d, f, cdir = _stack(tmp_path)
    miss = cache.load_desired_cached(f, "s.yaml", cdir)
    hit = cache.load_desired_cached(f, "s.yaml", cdir)
    for a, b in zip(miss.containers, hit.containers):
        assert list(a.config) == list(b.config)
        assert list(a.config["env"]) == list(b.config["env"]) == ["SECRET", "Z", "A"]
        assert list(a.config["labels"]) == list(b.config["labels"])
    pm, ph = plan(miss, ObservedState()), plan(hit, ObservedState())
    assert render_text(pm) == render_text(ph) and render_json(pm) == render_json(ph)
