"""In-memory fakes of the drivers rocker.apply calls, with the real drivers' signatures.

rocker.apply has no driver seam: it imports its drivers inside its methods and calls module
attributes (`lifecycle.create(...)`, `records.update(...)`, `ImageStore(paths).import_tar(...)`).
`FakeDrivers.install(monkeypatch)` replaces exactly those attributes. Every fake method has the
same parameter names, kinds and defaults as the function it replaces (tests/unit/test_fakes.py
asserts it with inspect.signature against `TARGETS`), so a keyword apply gets wrong, or a driver
whose signature drifts, fails a unit test instead of passing against a permissive lambda.

The fakes keep a table of container records (the shape records.load returns) so that apply's
waiting (records.resolve + records.load + containers.state.observed) works too: a "running" fake
container carries this test process's pid, so `observed` sees it alive and supervised.

Each call is appended to `log` as a tuple: ("create", name, stack), ("start", cid),
("stop", cid, timeout), ("remove", cid, force), ("update", cid, {keyword arguments}),
("record", cid, <the "stack" stamp after fn>), ("import", src, ref, changes).
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import os
import time

from rocker.containers import state as cstate
from rocker.containers.config import ContainerConfig
from rocker.errors import Conflict, NotFound
from rocker.paths import Paths

# (module, attribute, path of the fake on a FakeDrivers): what apply calls, and what replaces it
TARGETS: tuple[tuple[str, str, str], ...] = (
    ("rocker.runtime.lifecycle", "create", "lifecycle.create"),
    ("rocker.runtime.lifecycle", "start", "lifecycle.start"),
    ("rocker.runtime.lifecycle", "stop", "lifecycle.stop"),
    ("rocker.runtime.lifecycle", "remove", "lifecycle.remove"),
    ("rocker.runtime.lifecycle", "update", "lifecycle.update"),
    ("rocker.containers.records", "update", "records.update"),
    ("rocker.containers.records", "resolve", "records.resolve"),
    ("rocker.containers.records", "load", "records.load"),
    ("rocker.images.store", "ImageStore", "ImageStore"),
)
# the methods of the fake image store that must match rocker.images.store.ImageStore
IMAGE_STORE_METHODS = ("__init__", "import_tar")


def real(module: str, attr: str):
    """The real driver (imported fresh from its module, not whatever is patched in)."""
    return getattr(importlib.import_module(module), attr)


def _check_paths(paths) -> None:
    assert isinstance(paths, Paths), f"paths must be a Paths, not {type(paths).__name__}"


def _running_state() -> dict:
    pid = os.getpid()
    me = cstate.start_time(pid)
    return {"status": "running", "pid": pid, "pid_start": me, "boot_id": cstate.boot_id(),
            "monitor_pid": pid, "monitor_start": me, "started_at": time.time()}


class FakeLifecycle:
    """rocker.runtime.lifecycle: create, start, stop, remove, update."""

    def __init__(self, drivers: "FakeDrivers") -> None:
        self._d = drivers

    def create(self, paths: Paths, cfg: ContainerConfig, name: str | None = None,
               stack: dict | None = None) -> dict:
        _check_paths(paths)
        assert isinstance(cfg, ContainerConfig), f"cfg must be a ContainerConfig, not {cfg!r}"
        d = self._d
        d.log.append(("create", name, stack))
        d.raise_if_failing("create", name)
        if name is not None and any(r["name"] == name for r in d.containers.values()):
            raise Conflict(f'the container name "{name}" is already in use')
        cid = hashlib.sha256(f"{name}-{len(d.log)}".encode()).hexdigest()
        rec = {"id": cid, "name": name or cid[:12], "config": cfg.to_dict(),
               "state": {"status": "created"}, "image_id": "sha256:" + "0" * 64}
        if stack is not None:
            rec["stack"] = copy.deepcopy(stack)
        d.containers[cid] = rec
        return copy.deepcopy(rec)

    def start(self, paths: Paths, cid: str, attach_sock=None) -> dict:
        _check_paths(paths)
        d = self._d
        d.log.append(("start", cid))
        rec = d.record(cid)
        d.raise_if_failing("start", rec["name"])
        code = d.exits.get(rec["name"])
        if code is None:
            rec["state"] = _running_state()
        else:   # a one-shot job: it has already exited when start returns
            rec["state"] = {"status": "exited", "exit_code": code, "started_at": time.time(),
                            "finished_at": time.time()}
            rec["state"]["pid"] = None
        return copy.deepcopy(rec)

    def stop(self, paths: Paths, cid: str, timeout: float | None = None) -> dict | None:
        _check_paths(paths)
        d = self._d
        d.log.append(("stop", cid, timeout))
        rec = d.record(cid)   # FileNotFoundError when it is gone, like records.load
        d.raise_if_failing("stop", rec["name"])
        if rec["state"].get("status") in ("running", "paused"):
            rec["state"] = {"status": "exited", "exit_code": 143, "finished_at": time.time()}
        return copy.deepcopy(rec)

    def remove(self, paths: Paths, cid: str, force: bool = False, volumes: bool = False) -> None:
        _check_paths(paths)
        d = self._d
        d.log.append(("remove", cid, force))
        rec = d.containers.get(cid)
        if rec is None:
            return   # gone meanwhile, like the real one
        d.raise_if_failing("remove", rec["name"])
        if rec["state"].get("status") in ("running", "paused") and not force:
            raise Conflict(f"cannot remove container {rec['name']}: it is running")
        del d.containers[cid]

    def update(self, paths: Paths, cid: str, limits: dict | None = None,
               restart: str | None = None, labels: dict | None = None,
               replace_limits: bool = False) -> tuple[dict, list[str]]:
        _check_paths(paths)
        d = self._d
        d.log.append(("update", cid, {"limits": limits, "restart": restart, "labels": labels,
                                      "replace_limits": replace_limits}))
        rec = d.record(cid)
        d.raise_if_failing("update", rec["name"])
        cfg = rec["config"]
        if limits is not None:
            cfg["limits"] = dict(limits) if replace_limits else {**cfg.get("limits", {}),
                                                                 **limits}
        if restart is not None:
            cfg["restart"] = restart
        if labels is not None:
            cfg["labels"] = dict(labels)
        return copy.deepcopy(rec), list(d.update_warnings)


class FakeRecords:
    """rocker.containers.records: update, resolve, load."""

    def __init__(self, drivers: "FakeDrivers") -> None:
        self._d = drivers

    def update(self, paths: Paths, cid: str, fn) -> dict:
        _check_paths(paths)
        d = self._d
        rec = d.record(cid)
        new = fn(rec)
        rec = rec if new is None else new
        d.containers[cid] = rec
        d.log.append(("record", cid, copy.deepcopy(rec.get("stack"))))
        return copy.deepcopy(rec)

    def resolve(self, paths: Paths, ref: str) -> str:
        _check_paths(paths)
        for cid, rec in self._d.containers.items():
            if rec["name"] == ref or cid == ref:
                return cid
        matches = [cid for cid in self._d.containers if cid.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        raise NotFound(f"no such container: {ref}")

    def load(self, paths: Paths, cid: str) -> dict:
        _check_paths(paths)
        return copy.deepcopy(self._d.record(cid))


class FakeImage:
    """What apply reads of rocker.images.store.Image: id, short_id, document, source."""

    def __init__(self, id: str, document: dict) -> None:
        self.id = id
        self.document = document
        self.source: dict | None = None

    @property
    def short_id(self) -> str:
        return self.id[len("sha256:"):][:12]


def _image_store_class(drivers: "FakeDrivers") -> type:
    class FakeImageStore:
        """rocker.images.store.ImageStore: the constructor and import_tar."""

        def __init__(self, paths: Paths) -> None:
            _check_paths(paths)
            self.paths = paths

        def import_tar(self, src, ref: str | None, changes: list[str] | None = None,
                       message: str | None = None, progress=None) -> FakeImage:
            drivers.log.append(("import", os.fspath(src), ref, changes))
            drivers.raise_if_failing("import", ref)
            digest = drivers.import_digests.get(ref) or \
                "sha256:" + hashlib.sha256(os.fspath(src).encode()).hexdigest()
            image_id = "sha256:" + hashlib.sha256(f"{digest}{changes}".encode()).hexdigest()
            img = FakeImage(image_id, {})
            img.source = {"digest": digest, "changes": list(changes or [])}
            drivers.images[ref] = img
            return img

    return FakeImageStore


class FakeDrivers:
    """The drivers apply uses, in memory. Knobs:

    exits[name] = code      start makes that container exit at once with `code`
    failures[(verb, name)]  an exception that verb raises for that container / image ref
    import_digests[ref]     the digest import_tar reports having read for that ref
    update_warnings         the warnings lifecycle.update returns
    """

    def __init__(self) -> None:
        self.log: list[tuple] = []
        self.containers: dict[str, dict] = {}
        self.images: dict[str | None, FakeImage] = {}
        self.exits: dict[str, int] = {}
        self.failures: dict[tuple[str, str | None], BaseException] = {}
        self.import_digests: dict[str | None, str] = {}
        self.update_warnings: list[str] = []
        self.lifecycle = FakeLifecycle(self)
        self.records = FakeRecords(self)
        self.ImageStore = _image_store_class(self)

    def fake_for(self, path: str):
        obj = self
        for part in path.split("."):
            obj = getattr(obj, part)
        return obj

    def install(self, monkeypatch) -> "FakeDrivers":
        """Put every fake in place of the module attribute apply calls."""
        for module, attr, path in TARGETS:
            mod = importlib.import_module(module)
            assert hasattr(mod, attr), f"{module}.{attr} does not exist any more"
            monkeypatch.setattr(mod, attr, self.fake_for(path))
        return self

    # ------------------------------------------------------------------- the table

    def record(self, cid: str) -> dict:
        try:
            return self.containers[cid]
        except KeyError:
            raise FileNotFoundError(2, "No such file or directory", cid) from None

    def raise_if_failing(self, verb: str, name: str | None) -> None:
        err = self.failures.get((verb, name))
        if err is not None:
            raise err

    def add(self, name: str, config: dict, status: str = "running", stack: dict | None = None,
            exit_code: int | None = None) -> str:
        """A container that exists before apply runs; returns its id."""
        cid = hashlib.sha256(f"existing-{name}".encode()).hexdigest()
        state = _running_state() if status == "running" else \
            {"status": status, "exit_code": exit_code}
        rec = {"id": cid, "name": name, "config": copy.deepcopy(dict(config)), "state": state,
               "image_id": "sha256:" + "0" * 64}
        if stack is not None:
            rec["stack"] = stack
        self.containers[cid] = rec
        return cid

    def by_name(self, name: str) -> dict:
        for rec in self.containers.values():
            if rec["name"] == name:
                return rec
        raise KeyError(name)

    def verbs(self) -> list[tuple]:
        """The log without the record writes' payloads: (verb, first argument)."""
        return [entry[:2] for entry in self.log]
