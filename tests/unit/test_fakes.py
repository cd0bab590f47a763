"""The fake drivers of tests/unit/fakes.py keep the real drivers' interface: same names, same
parameters (names, kinds, defaults), and they cover every driver call rocker.apply makes."""

from __future__ import annotations

import ast
import inspect

import pytest

import rocker.apply
from tests.unit.fakes import IMAGE_STORE_METHODS, TARGETS, FakeDrivers, real


def _params(fn) -> list[tuple]:
    """What a caller depends on: each parameter's name, kind and default (not annotations)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("module,attr,path", [t for t in TARGETS if t[1] != "ImageStore"],
                         ids=[f"{t[0]}.{t[1]}" for t in TARGETS if t[1] != "ImageStore"])
def test_each_fake_has_the_signature_of_the_real_driver(module, attr, path):
    fake = FakeDrivers().fake_for(path)
    assert _params(fake) == _params(real(module, attr)), (
        f"{path} of tests/unit/fakes.py no longer matches {module}.{attr}: "
        f"fake {inspect.signature(fake)} vs real {inspect.signature(real(module, attr))}")


@pytest.mark.parametrize("method", IMAGE_STORE_METHODS)
def test_the_fake_image_store_has_the_signatures_of_the_real_one(method):
    fake = getattr(FakeDrivers().ImageStore, method)
    want = getattr(real("rocker.images.store", "ImageStore"), method)
    assert _params(fake) == _params(want), (
        f"FakeImageStore.{method}{inspect.signature(fake)} vs "
        f"ImageStore.{method}{inspect.signature(want)}")


def _driver_calls_of_apply() -> set[tuple[str, str]]:
    """(module alias, attribute) of every call apply makes through lifecycle / records, plus
    every use of ImageStore."""
    tree = ast.parse(inspect.getsource(rocker.apply))
    calls = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and \
                    f.value.id in ("lifecycle", "records"):
                calls.add((f.value.id, f.attr))
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Call) and \
                    isinstance(f.value.func, ast.Name) and f.value.func.id == "ImageStore":
                calls.add(("ImageStore", f.attr))
    return calls


def test_the_fakes_cover_every_driver_call_apply_makes():
    faked = {(module.rsplit(".", 1)[1], attr) for module, attr, _ in TARGETS}
    calls = _driver_calls_of_apply()
    assert ("lifecycle", "create") in calls   # the scan itself works
    missing = {c for c in calls if c[0] != "ImageStore" and c not in faked}
    assert not missing, f"apply calls drivers that tests/unit/fakes.py does not fake: {missing}"
    store = {attr for kind, attr in calls if kind == "ImageStore"}
    assert store <= set(IMAGE_STORE_METHODS), store


def test_apply_imports_its_drivers_from_the_modules_the_fakes_patch():
    src = inspect.getsource(rocker.apply)
    assert "from rocker.runtime import lifecycle" in src
    assert "from rocker.containers import records" in src
    assert "from rocker.images.store import ImageStore" in src


def test_a_wrong_keyword_fails_like_it_would_against_the_real_driver(tmp_path):
    from rocker.paths import Paths
    d = FakeDrivers()
    paths = Paths(str(tmp_path / "root"), str(tmp_path / "run"))
    with pytest.raises(TypeError):
        d.lifecycle.update(paths, "c1", limit={})          # limits=
    with pytest.raises(TypeError):
        d.lifecycle.stop(paths, "c1", signal="SIGTERM")    # stop takes no signal
    with pytest.raises(TypeError):
        d.lifecycle.create(paths, None, stack_name="x")    # stack=


def test_install_patches_the_module_attributes(monkeypatch):
    from rocker.containers import records
    from rocker.images import store
    from rocker.runtime import lifecycle
    d = FakeDrivers().install(monkeypatch)
    assert lifecycle.create == d.lifecycle.create and lifecycle.update == d.lifecycle.update
    assert records.update == d.records.update and records.load == d.records.load
    assert store.ImageStore is d.ImageStore
