"""A cache of parsed stack files, so a no-op `apply` / `diff` does not pay for pydantic.

One entry per stack file path under ROOT/stacks/.spec-cache/<sha256(path)[:24]>.json holds the
DesiredState built from it, valid only while all of these are unchanged: the file's bytes, the
path shown in messages, the files it was built from (env files and image tars: size and mtime),
the host's online CPUs and memory nodes (limits are checked against them), and the code that
builds it (mtimes of rocker.spec and rocker.containers.config / rocker.cgroups.limits).
Anything else, or any problem reading or writing the cache, means a normal load. The cache never
decides anything: it only stores what rocker.spec.loader returned.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from rocker.plan.model import DesiredContainer, DesiredImage, DesiredState

VERSION = 1
_CODE = ("spec/loader.py", "spec/models.py", "spec/hashing.py", "spec/cache.py",
         "containers/config.py", "cgroups/limits.py", "images/refs.py", "plan/model.py")
_HOST = ("/sys/devices/system/cpu/online", "/sys/devices/system/node/online")


def _stat(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _key(path: str, display: str, raw: bytes) -> str:
    import rocker
    pkg = os.path.dirname(os.path.abspath(rocker.__file__))
    h = hashlib.sha256()
    h.update(f"{VERSION}\0{os.path.abspath(path)}\0{display}\0".encode())
    h.update(raw)
    for rel in _CODE:
        h.update(f"\0{_stat(os.path.join(pkg, rel))}".encode())
    for p in _HOST:
        try:
            with open(p, "rb") as f:
                h.update(f.read())
        except OSError:
            h.update(b"-")
    return h.hexdigest()


def _to_json(d: DesiredState) -> dict:
    return {
        "stack": d.stack, "source": d.source, "lines": dict(d.lines),
        "images": [{"name": i.name, "ref": i.ref, "source": i.source, "digest": i.digest,
                    "changes": list(i.changes)} for i in d.images],
        "containers": [{"name": c.name, "service": c.service, "config": c.config,
                        "spec_hash": c.spec_hash, "image_ref": c.image_ref,
                        "depends_on": [list(x) for x in c.depends_on]} for c in d.containers],
    }


def _from_json(d: dict) -> DesiredState:
    return DesiredState(
        stack=d["stack"], source=d["source"], lines=d["lines"],
        images=tuple(DesiredImage(name=i["name"], ref=i["ref"], source=i["source"],
                                  digest=i["digest"], changes=tuple(i["changes"]))
                     for i in d["images"]),
        containers=tuple(DesiredContainer(name=c["name"], service=c["service"],
                                          config=c["config"], spec_hash=c["spec_hash"],
                                          image_ref=c["image_ref"],
                                          depends_on=tuple(tuple(x) for x in c["depends_on"]))
                         for c in d["containers"]))


def load_desired_cached(path: str, display: str, cache_dir: str | None) -> DesiredState:
    from rocker.spec.loader import load_desired, load_desired_with_deps
    if cache_dir is None:
        return load_desired(path, display)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return load_desired(path, display)   # raises the proper SpecError
    key = _key(path, display, raw)
    entry = os.path.join(cache_dir, hashlib.sha256(
        os.path.abspath(path).encode()).hexdigest()[:24] + ".json")
    try:
        with open(entry) as f:
            cached: dict[str, Any] = json.load(f)
        if cached.get("key") == key and all(_stat(p) == s for p, s in cached["deps"]):
            return _from_json(cached["desired"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    desired, deps, cacheable = load_desired_with_deps(path, display)
    if not cacheable:   # a bare `KEY` takes the host's environment: never cached
        return desired
    try:
        from rocker.state.store import makedirs, write_json
        makedirs(cache_dir)
        write_json(entry, {"key": key, "deps": [[p, _stat(p)] for p in deps],
                           "desired": _to_json(desired)})
    except OSError:
        pass
    return desired
