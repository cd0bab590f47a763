"""A cache of parsed stack files, so a no-op `apply` / `diff` does not pay for pydantic.

One entry per stack file path under ROOT/stacks/.spec-cache/<sha256(path)[:24]>.json holds the
DesiredState built from it, valid only while all of these are unchanged: the file's bytes, the
path shown in messages, the host's online CPUs and memory nodes (limits are checked against
them), rocker's version, and every file it was built from:

    env files and image tars    device, inode, size, mtime and ctime (ctime cannot be set back by
                                `touch -r` or `cp -p`); files up to 64 KiB (env files) are hashed
    the code                    the same stat of every rocker module loaded when the entry was
                                written (rocker.stackfile, rocker.containers.config,
                                rocker.images.*, rocker.util.durations, rocker.cgroups.limits, ...)

Anything else, or any problem reading or writing the cache, means a normal load. The cache never
decides anything: it only stores what rocker.stackfile.loader returned, in the same key order (so a
hit renders exactly like a miss).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

from rocker.plan.model import (
    DesiredContainer,
    DesiredImage,
    DesiredNetwork,
    DesiredState,
    DesiredVolume,
)

VERSION = 3
_CODE = ("spec/__init__.py", "spec/loader.py", "spec/models.py", "spec/hashing.py",
         "spec/cache.py", "containers/config.py", "cgroups/limits.py", "images/refs.py",
         "images/changes.py", "images/store.py", "util/durations.py", "plan/model.py",
         "plan/planner.py", "errors.py")
_HOST = ("/sys/devices/system/cpu/online", "/sys/devices/system/node/online")
SMALL = 64 * 1024
"""Dependencies up to this size are hashed too (env files); larger ones (tars) are stat'ed."""


def _stat(path: str) -> list | None:
    """What identifies a file's content without reading it: device, inode, size, mtime and
    ctime (the kernel sets ctime on every change; no tool can set it back), plus the sha256
    of a small file's bytes."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    out: list = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    if st.st_size <= SMALL:
        try:
            with open(path, "rb") as f:
                out.append(hashlib.sha256(f.read()).hexdigest())
        except OSError:
            return None
    return out


def _code_stat(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _code_files() -> list[str]:
    """The sources of the rocker modules loaded now (after a load: all the loader used)."""
    import sys

    import rocker
    pkg = os.path.dirname(os.path.abspath(rocker.__file__))
    files = {os.path.join(pkg, rel) for rel in _CODE}
    for name, mod in list(sys.modules.items()):
        if name == "rocker" or name.startswith("rocker."):
            f = getattr(mod, "__file__", None)
            if f and f.endswith(".py"):
                files.add(os.path.abspath(f))
    return sorted(files)


def _key(path: str, display: str, raw: bytes) -> str:
    import rocker
    h = hashlib.sha256()
    h.update(f"{VERSION}\0{getattr(rocker, '__version__', '')}\0{os.path.abspath(path)}\0"
             f"{display}\0".encode())
    h.update(raw)
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
                    "changes": list(i.changes), "changes_key": i.changes_key}
                   for i in d.images],
        "containers": [{"name": c.name, "service": c.service, "config": c.config,
                        "spec_hash": c.spec_hash, "image_ref": c.image_ref,
                        "depends_on": [list(x) for x in c.depends_on], "index": c.index}
                       for c in d.containers],
        "networks": [dataclasses.asdict(n) for n in d.networks],
        "volumes": [dataclasses.asdict(v) for v in d.volumes],
    }


def _from_json(d: dict) -> DesiredState:
    return DesiredState(
        stack=d["stack"], source=d["source"], lines=d["lines"],
        images=tuple(DesiredImage(name=i["name"], ref=i["ref"], source=i["source"],
                                  digest=i["digest"], changes=tuple(i["changes"]),
                                  changes_key=i["changes_key"], pull=i.get("pull", ""))
                     for i in d["images"]),
        containers=tuple(DesiredContainer(name=c["name"], service=c["service"],
                                          config=c["config"], spec_hash=c["spec_hash"],
                                          image_ref=c["image_ref"],
                                          depends_on=tuple(tuple(x) for x in c["depends_on"]),
                                          index=c["index"])
                         for c in d["containers"]),
        networks=tuple(DesiredNetwork(**n) for n in d["networks"]),
        volumes=tuple(DesiredVolume(**v) for v in d.get("volumes") or ()))


def load_desired_cached(path: str, display: str, cache_dir: str | None,
                        paths=None) -> DesiredState:
    from rocker.stackfile.loader import load_desired, load_desired_with_deps
    if cache_dir is None:
        return load_desired(path, display, paths)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return load_desired(path, display, paths)   # raises the proper SpecError
    key = _key(path, display, raw)
    entry = os.path.join(cache_dir, hashlib.sha256(
        os.path.abspath(path).encode()).hexdigest()[:24] + ".json")
    try:
        with open(entry) as f:
            cached: dict[str, Any] = json.load(f)
        if cached.get("key") == key and all(_stat(p) == s for p, s in cached["deps"]) and \
                all(_code_stat(p) == s for p, s in cached["code"]):
            return _from_json(cached["desired"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    desired, deps, cacheable = load_desired_with_deps(path, display, paths)
    if not cacheable:   # a bare `KEY` takes the host's environment: never cached
        return desired
    try:
        from rocker.state.store import atomic_write, makedirs
        makedirs(cache_dir)
        doc = {"key": key, "deps": [[p, _stat(p)] for p in deps],
               "code": [[p, _code_stat(p)] for p in _code_files()],
               "desired": _to_json(desired)}
        # not sorted: dict order (config fields, env) is what the renderer shows
        atomic_write(entry, (json.dumps(doc, indent=1) + "\n").encode())
    except OSError:
        pass
    return desired
