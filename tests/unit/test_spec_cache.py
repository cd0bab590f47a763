"""The parse cache returns exactly what the loader returns, and never a stale state."""

from __future__ import annotations

import os

import pytest

from rocker.errors import SpecError
from rocker.spec import cache
from rocker.spec.loader import load_desired


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
    monkeypatch.setattr("rocker.spec.loader.load_desired_with_deps",
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
