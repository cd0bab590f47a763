"""The volume store: ROOT/volumes/<name>/volume.json and ROOT/volumes/<name>/_data.

Every change happens under ROOT/volumes/.lock (`locked`). A volume is built in a hidden
`.new-<name>-<random>` folder and renamed into place, and removed by renaming it to
`.rm-<name>-<random>` first, so a crash never leaves a half-made or half-removed volume under
its name; the hidden leftovers are collected under the lock (no live command can own them
then). Removal walks the folder with rocker.util.fstree, never following a symlink out of it.
A volume created with `--opt type=none --opt o=bind --opt device=PATH` (the local driver's bind
form) has PATH as its data; removing it removes rocker's record, never PATH's contents.
"""

from __future__ import annotations

import contextlib
import json
import os
import re

from rocker.errors import Conflict, InvalidInput, NotFound
from rocker.paths import Paths

RECORD = "volume.json"
DATA = "_data"
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,254}\Z")
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
"""The label Docker gives anonymous volumes (rocker too, so `volume ls` filters alike)."""
MAX_LABELS = 256


def folder(paths: Paths) -> str:
    return os.path.join(paths.root, "volumes")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(f"invalid volume name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]+")
    return name


@contextlib.contextmanager
def locked(paths: Paths):
    """The volume lock, held for a read-modify-write of the store; leftovers of crashed
    commands are collected first."""
    from rocker.state.store import flocked, makedirs
    top = makedirs(folder(paths), 0o700)
    with flocked(os.path.join(top, ".lock"), timeout=60):
        _collect(top)
        yield top


def _collect(top: str) -> None:
    from rocker.util.fstree import remove_tree
    for n in os.listdir(top):
        if n.startswith((".new-", ".rm-")):
            try:
                remove_tree(os.path.join(top, n))
            except OSError:
                pass


def parse_options(opts: dict[str, str]) -> dict[str, str]:
    """The local driver's options rocker supports: none, or a bind of a host folder
    (type=none, o=bind, device=ABSOLUTE PATH, which must exist)."""
    if not opts:
        return {}
    unknown = set(opts) - {"type", "o", "device"}
    if unknown:
        raise InvalidInput(f"invalid volume option(s) {', '.join(sorted(unknown))}: the local "
                           "driver takes type, o and device")
    if opts.get("type") != "none" or opts.get("o") not in ("bind", "rbind") or \
            not opts.get("device"):
        raise InvalidInput("volume options: only a bind of a host folder is supported "
                           "(--opt type=none --opt o=bind --opt device=/PATH)")
    dev = opts["device"]
    if not dev.startswith("/") or "\0" in dev:
        raise InvalidInput(f"invalid volume device {dev!r}: an absolute host path")
    if not os.path.isdir(dev):
        raise InvalidInput(f"volume device {dev} does not exist or is not a directory")
    return dict(opts)


def data_path(paths: Paths, rec: dict) -> str:
    """Where a volume's data is: its _data folder, or its bind device."""
    dev = (rec.get("Options") or {}).get("device")
    return dev if dev else os.path.join(folder(paths), rec["Name"], DATA)


def _read(top: str, name: str) -> dict | None:
    try:
        with open(os.path.join(top, name, RECORD), "rb") as f:
            rec = json.loads(f.read(1 << 20))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"Name": name, "Driver": "local", "Labels": {}, "Options": {}, "CreatedAt": "",
                "Scope": "local", "Error": "unreadable record"}
    return rec if isinstance(rec, dict) else None


def get(paths: Paths, name: str) -> dict:
    check_name(name)
    rec = _read(folder(paths), name)
    if rec is None:
        raise NotFound(f"no such volume: {name}")
    return rec


def exists(paths: Paths, name: str) -> bool:
    return _read(folder(paths), name) is not None


def list_all(paths: Paths) -> list[dict]:
    top = folder(paths)
    try:
        names = sorted(os.listdir(top))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        if n.startswith("."):
            continue
        rec = _read(top, n)
        if rec is not None:
            out.append(rec)
    return out


def create_locked(paths: Paths, name: str | None, labels: dict | None = None,
                  options: dict | None = None, anonymous: bool = False,
                  stack: str | None = None) -> tuple[dict, bool]:
    """Create a volume (the caller holds `locked`); an existing one of that name is returned
    as it is (Docker's `volume create` is idempotent). -> (record, created)."""
    from rocker.state.store import write_json
    from rocker.util.timefmt import now_rfc3339
    top = folder(paths)
    if name is None:
        name = os.urandom(32).hex()
    check_name(name)
    labels = dict(labels or {})
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"too many labels ({len(labels)})")
    old = _read(top, name)
    if old is not None:
        if options and (old.get("Options") or {}) != options:
            raise Conflict(f"volume {name} exists with other options")
        return old, False
    opts = parse_options(options or {})
    if opts:
        dev, top_real = os.path.realpath(opts["device"]), os.path.realpath(paths.root)
        if dev == top_real or dev.startswith(top_real.rstrip("/") + "/"):
            raise InvalidInput(f"volume device {opts['device']} is inside rocker's storage "
                               f"({paths.root})")
        opts["device"] = dev   # opened at every start without following symlinks
    if anonymous:
        labels[ANONYMOUS_LABEL] = ""
    rec = {"CreatedAt": now_rfc3339(), "Driver": "local", "Labels": labels, "Name": name,
           "Options": opts, "Scope": "local", **({"Stack": stack} if stack else {})}
    staging = os.path.join(top, f".new-{name}-{os.urandom(4).hex()}")
    os.mkdir(staging, 0o701)
    try:
        if not opts:
            os.mkdir(os.path.join(staging, DATA), 0o755)
        write_json(os.path.join(staging, RECORD), rec)
        os.rename(staging, os.path.join(top, name))
    except BaseException:
        from rocker.util.fstree import remove_tree
        remove_tree(staging)
        raise
    return rec, True


def set_owner_locked(paths: Paths, name: str, stack: str | None, labels: dict) -> dict:
    """The owner stack and labels of a volume (the caller holds `locked`): apply's update."""
    from rocker.state.store import write_json
    rec = get(paths, name)
    rec["Labels"] = dict(labels)
    if stack:
        rec["Stack"] = stack
    else:
        rec.pop("Stack", None)
    write_json(os.path.join(folder(paths), name, RECORD), rec)
    return rec


def remove_locked(paths: Paths, name: str) -> None:
    """Remove a volume and its data (the caller holds `locked` and has checked that no
    container uses it): renamed away first, then removed without following symlinks."""
    from rocker.util.fstree import remove_tree
    top = folder(paths)
    check_name(name)
    trash = os.path.join(top, f".rm-{name}-{os.urandom(4).hex()}")
    try:
        os.rename(os.path.join(top, name), trash)
    except FileNotFoundError:
        raise NotFound(f"no such volume: {name}") from None
    try:
        remove_tree(trash)
    except OSError:
        pass  # collected by the next command that takes the lock


def is_anonymous(rec: dict) -> bool:
    return ANONYMOUS_LABEL in (rec.get("Labels") or {})
