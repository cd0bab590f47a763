"""Container records on disk: ROOT/containers/<id>/container.json, plus the names index.

A record is a JSON object with at least: id, name, image (as the user typed it), image_id,
created, config (the ContainerConfig as a dict), state (see rocker.containers.state) and labels.
This module reads and writes records through rocker.state.store; it never touches the kernel.

A full disk (issue: the store's filesystem at 100%) must not lose a container's state. Each
container folder holds, allocated when it is created:
- two *reserve* files (`.reserve-1`, `.reserve-2`, 64 KiB each): a record write that fails with
  ENOSPC is made into one of them instead (see rocker.state.store); they are topped up after
  the next write that finds space again;
- the *monitor note* (`monitor.note`, 4 KiB, see `encode_note`): the monitor overwrites it in
  place, which needs no new space, with what it must not lose: the count of log lines it could
  not write and the exit of the container's process. `load` reads it for a record that still
  says the container runs, so an exit the monitor could not record is not lost.
"""

from __future__ import annotations

import os

from rocker import states as _states
from rocker.errors import CorruptRecord
from rocker.paths import Paths
from rocker.state.store import read_json

RECORD = "container.json"
RESERVES = (".reserve-1", ".reserve-2")
NOTE = "monitor.note"
NOTE_SIZE = 4096


def _gc_age() -> float:
    """Seconds before a crash's leftover folder counts as garbage; ROCKER_GC_AGE (documented
    as a test knob) may shorten it."""
    try:
        return max(0.0, float(os.environ.get("ROCKER_GC_AGE", "60")))
    except ValueError:
        return 60.0


GC_AGE = _gc_age()


def record_path(paths: Paths, cid: str) -> str:
    return os.path.join(paths.container_dir(cid), RECORD)


def list_ids(paths: Paths) -> list[str]:
    try:
        names = os.listdir(paths.containers)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if not n.startswith("."))


def collect_garbage(paths: Paths, older_than: float = GC_AGE) -> None:
    """Remove half-made (.new-*) and half-removed (.rm-*) folders that a crash left behind.

    Never fails the command that calls it: what cannot be removed is reported in one line on
    stderr and left for the next time. The removal is rocker.util.fstree's (symlink-safe, any
    depth, a bounded number of descriptors)."""
    import sys
    import time

    from rocker.util.fstree import remove_tree
    try:
        names = os.listdir(paths.containers)
    except OSError:
        return
    now = time.time()
    for n in names:
        if n.startswith((".new-", ".rm-")):
            p = os.path.join(paths.containers, n)
            try:
                if now - os.lstat(p).st_mtime > older_than or _holder_gone(p, n):
                    remove_tree(p)
            except FileNotFoundError:
                pass
            except Exception as e:  # noqa: BLE001 - garbage collection must not stop a command
                print(f"rocker: warning: could not remove the leftover {n}: "
                      f"{getattr(e, 'strerror', None) or e}", file=sys.stderr)


def _holder_gone(folder: str, n: str) -> bool:
    """Is the command that built (.new-: its creator file) or removed (.rm-: the remover in its
    record) this leftover gone? Without a holder: unknown (False; the age rule decides)."""
    try:
        if n.startswith(".new-"):
            h = read_json(os.path.join(folder, CREATOR))
        else:
            rec = read_json(os.path.join(folder, RECORD))
            h = (rec.get("state") or {}).get("remover") if isinstance(rec, dict) else None
            if h is None:
                return False
    except OSError:
        return False
    except (CorruptRecord, AttributeError):
        return n.startswith(".new-")
    return not _holder_alive(h)


def containers_using_image(paths: Paths, image_id: str) -> list[str]:
    """Names (or ids) of containers whose record says they were created from `image_id`."""
    users = []
    for cid in list_ids(paths):
        try:
            rec = read_json(record_path(paths, cid))   # a broken record still holds its image
        except (FileNotFoundError, CorruptRecord):
            continue
        if isinstance(rec, dict) and rec.get("image_id") == image_id:
            name = rec.get("name")
            users.append(name if isinstance(name, str) and name else cid[:12])
    return users


def check_shape(rec: object, cid: str, path: str) -> dict:
    """The record if it has the shape every command relies on; CorruptRecord (one line, what
    is wrong, how to mend) otherwise. Valid JSON of the wrong shape (`[]`, `"config": null`,
    an unknown state) must not take listing down."""
    def bad(what: str) -> CorruptRecord:
        return CorruptRecord(f"corrupt record {path}: {what} (rm -f {cid[:12]} removes it)")
    if not isinstance(rec, dict):
        raise bad(f"a JSON {type(rec).__name__}, not an object")
    if rec.get("id") != cid:
        raise bad("its id is not its folder's name")
    if not isinstance(rec.get("name"), str) or not rec["name"]:
        raise bad('"name" is not a string')
    for key in ("config", "state", "process", "rootfs"):
        if not isinstance(rec.get(key), dict):
            raise bad(f'"{key}" is not an object')
    if rec["state"].get("status") not in _states.ALL:
        raise bad(f'unknown state {str(rec["state"].get("status"))[:40]!r}')
    for key in ("labels", "stack"):
        if rec.get(key) is not None and not isinstance(rec[key], dict):
            raise bad(f'"{key}" is not an object')
    if not isinstance(rec.get("image_id"), str):
        raise bad('"image_id" is not a string')
    return rec


def load(paths: Paths, cid: str) -> dict:
    path = record_path(paths, cid)
    rec = check_shape(read_json(path), cid, path)
    if rec["state"].get("status") in _states.LIVE:
        _merge_note(paths.container_dir(cid), rec["state"])
    return rec


def prepare_folder(folder: str) -> None:
    """Allocate the reserves and the monitor note of a new container folder (ENOSPC if the
    disk cannot hold them: a container that starts on a full disk could not keep its state)."""
    import errno

    from rocker.state.store import RESERVE_SIZE, make_reserve
    for name, size in [(r, RESERVE_SIZE) for r in RESERVES] + [(NOTE, NOTE_SIZE)]:
        path = os.path.join(folder, name)
        if not make_reserve(path, size):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


def _top_up(folder: str) -> None:
    """Re-allocate the reserves a full disk used up, once there is space again."""
    from rocker.state.store import make_reserve
    for name in RESERVES:
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            make_reserve(path)


def read_note(folder: str) -> dict:
    """The monitor note: {"log_dropped": N, "exit": {pid, pid_start, exit_code, ...} | None}."""
    import json
    try:
        with open(os.path.join(folder, NOTE), "rb") as f:
            raw = f.read(NOTE_SIZE).rstrip(b"\0 ")
        note = json.loads(raw) if raw else {}
    except (OSError, ValueError, UnicodeDecodeError):
        return {}  # missing, or caught half-written: the record is all there is
    return note if isinstance(note, dict) else {}


def encode_note(note: dict) -> bytes | None:
    """The note as the fixed-size block `write_note` puts in place; None if it is too long."""
    import json
    data = json.dumps(note, separators=(",", ":")).encode()
    return data.ljust(NOTE_SIZE, b" ") if len(data) <= NOTE_SIZE else None


def _merge_note(folder: str, st: dict) -> None:
    note = read_note(folder)
    if not note:
        return
    dropped = note.get("log_dropped")
    if isinstance(dropped, int) and dropped > (st.get("log_dropped") or 0):
        st["log_dropped"] = dropped
    ex = note.get("exit")
    if (isinstance(ex, dict) and st.get("exit_code") is None and st.get("pid")
            and ex.get("pid") == st.get("pid") and ex.get("pid_start") == st.get("pid_start")
            and isinstance(ex.get("exit_code"), int)):
        # the process the record says runs has exited, and the monitor could not say so
        st["exit_code"] = ex["exit_code"]
        st["oom_killed"] = bool(ex.get("oom_killed"))
        st["finished_at"] = ex.get("finished_at")


def update(paths: Paths, cid: str, fn) -> dict:
    """Read-modify-write one record under its lock; `fn(rec)` mutates or returns a new dict."""
    from rocker.state.store import flocked, write_json
    folder = paths.container_dir(cid)
    path = os.path.join(folder, RECORD)
    with flocked(path + ".lock"):
        rec = check_shape(read_json(path), cid, path)
        if rec["state"].get("status") in _states.LIVE:
            _merge_note(folder, rec["state"])  # so that what it knows is written down
        new = fn(rec)
        rec = rec if new is None else new
        write_json(path, rec, reserves=tuple(os.path.join(folder, r) for r in RESERVES))
        _top_up(folder)
        return rec


def update_state(paths: Paths, cid: str, **changes) -> dict:
    """Change a record's state under its lock. A new status is checked against the one
    transition table (rocker.states): an illegal move raises Conflict naming both statuses,
    except that a record marked `removing` stays so (a monitor finishing beside `rm -f` must
    not unmark a removal); its other changes are still written."""
    def fn(rec):
        st = rec.setdefault("state", {})
        new = changes.get("status")
        old = st.get("status", _states.CREATED)
        if new is not None and new != old:
            if old == _states.REMOVING:
                st.update({k: v for k, v in changes.items() if k != "status"})
                return
            _states.check_transition(old, new)
        st.update(changes)
    return update(paths, cid, fn)


def try_update_state(paths: Paths, cid: str, **changes) -> dict | None:
    """update_state, or None when the disk is too full even for the reserves (the caller
    goes on without the write: a full disk must not stop stop, kill, rm -f or the monitor)."""
    from rocker.state.store import NO_SPACE
    try:
        return update_state(paths, cid, **changes)
    except OSError as e:
        if e.errno not in NO_SPACE:
            raise
        return None


def iter_records(paths: Paths):
    """Yield (cid, record or None, error or None) for every container folder."""
    for cid in list_ids(paths):
        try:
            yield cid, load(paths, cid), None
        except FileNotFoundError:
            continue  # being created or removed right now
        except CorruptRecord as e:
            yield cid, None, e


CREATOR = ".creator"
"""In a staging folder (.new-<id>): the pid, start time and boot id of the command building it.
A name claimed for a staging folder whose creator is gone is free at once (a crash between the
claim and the rename), and such a folder is garbage at once."""


def holder() -> dict:
    """This process as a holder of work in progress: pid, start time, boot id."""
    from rocker.containers import state as cstate
    pid = os.getpid()
    return {"pid": pid, "pid_start": cstate.start_time(pid), "boot_id": cstate.boot_id()}


def _holder_alive(h) -> bool:
    from rocker.containers import state as cstate
    return isinstance(h, dict) and cstate.is_alive(h.get("pid"), h.get("pid_start"),
                                                   h.get("boot_id"))


def write_creator(staging: str) -> None:
    from rocker.state.store import write_json
    write_json(os.path.join(staging, CREATOR), holder())


def _staging_alive(paths: Paths, cid: str) -> bool:
    """Is a live command still building the staging folder of `cid`?"""
    staging = os.path.join(paths.containers, f".new-{cid}")
    if not os.path.isdir(staging):
        return False
    if not os.path.exists(os.path.join(staging, CREATOR)):
        return _young(staging)   # from before creator files existed: the age rule decides
    return not _holder_gone(staging, f".new-{cid}")


def _young(path: str) -> bool:
    import time
    try:
        return time.time() - os.lstat(path).st_mtime <= GC_AGE
    except OSError:
        return False


def name_path(paths: Paths, name: str) -> str:
    return os.path.join(paths.names, name)


def claim_name(paths: Paths, name: str, cid: str) -> None:
    """Atomically bind `name` to `cid`; raises Conflict if another container has it."""
    from rocker.errors import Conflict
    from rocker.state.store import flocked, makedirs
    makedirs(paths.names)
    with flocked(os.path.join(paths.names, ".lock")):
        link = name_path(paths, name)
        try:
            os.symlink(cid, link)
            return
        except FileExistsError:
            owner = os.readlink(link)
        if owner != cid and (os.path.exists(paths.container_dir(owner)) or
                             _staging_alive(paths, owner)):
            raise Conflict(f'the container name "{name}" is already in use by container '
                           f'{owner[:12]}: remove or rename that container first')
        os.unlink(link)  # stale: its container is gone
        os.symlink(cid, link)


def names_of(paths: Paths, cid: str) -> list[str]:
    """Every name whose link points at `cid` (for a record too broken to say its name)."""
    try:
        names = os.listdir(paths.names)
    except OSError:
        return []
    out = []
    for n in names:
        try:
            if os.readlink(name_path(paths, n)) == cid:
                out.append(n)
        except OSError:
            continue
    return out


def release_name(paths: Paths, name: str, cid: str) -> None:
    from rocker.state.store import flocked
    if not name or not os.path.isdir(paths.names):
        return
    with flocked(os.path.join(paths.names, ".lock")):
        link = name_path(paths, name)
        try:
            if os.readlink(link) == cid:
                os.unlink(link)
        except OSError:
            pass


def resolve(paths: Paths, ref: str) -> str:
    """A container by name, full ID or unique ID prefix -> its ID."""
    from rocker.errors import InvalidInput, NotFound
    if not ref:
        raise InvalidInput("a container name or ID is required")
    if "/" not in ref and ref not in (".", ".."):
        try:
            cid = os.readlink(name_path(paths, ref))
            if os.path.isdir(paths.container_dir(cid)):
                return cid
        except OSError:
            pass
    ids = list_ids(paths)
    if ref in ids:
        return ref
    if all(c in "0123456789abcdef" for c in ref):
        matches = [i for i in ids if i.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidInput(f"container ID prefix {ref} is ambiguous ({len(matches)} match)")
    raise NotFound(f"no such container: {ref}")
