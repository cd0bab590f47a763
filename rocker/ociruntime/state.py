"""The state of rocker-runtime's containers: ROOT/<id>/ and the truthful status.

    ROOT/<id>/state.json   id, bundle, pid, its start time and the boot id, the cgroup
                           (parent, name), the hooks to run later, annotations, created time
    ROOT/<id>/go.fifo      the created init waits for "go" on it (`start` writes it)
    ROOT/<id>/status.fifo  and reports there whether its command could be executed
    ROOT/<id>/lock         flock of the verbs that change a container

No monitor: the status comes from the kernel. Stopped when the pid is gone, a zombie or
another process (start time, boot id); created while the go FIFO is there (start removes
it); paused when the cgroup is frozen; running otherwise. Signals go through a pidfd opened
after the start-time check, so a reused pid is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil

from rocker.containers.state import boot_id, is_alive, start_time
from rocker.errors import InvalidInput, NotFound
from rocker.state.store import flocked, read_json, write_json

DEFAULT_ROOT = "/run/rocker-runtime"
_ID = re.compile(r"^[\w+\-.]+$")

CREATED, RUNNING, PAUSED, STOPPED = "created", "running", "paused", "stopped"


def check_id(cid: str) -> str:
    if not cid or len(cid) > 1024 or not _ID.match(cid) or cid in (".", ".."):
        raise InvalidInput(f"invalid container id {cid!r}: letters, digits, _ + - . only")
    return cid


class Store:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def dir(self, cid: str) -> str:
        return os.path.join(self.root, check_id(cid))

    def path(self, cid: str, name: str) -> str:
        return os.path.join(self.dir(cid), name)

    def claim(self, cid: str) -> str:
        """Make the container's folder; Conflict-like InvalidInput when the id is taken."""
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        d = self.dir(cid)
        try:
            os.mkdir(d, 0o711)
        except FileExistsError:
            raise InvalidInput(f"container with id exists: {cid}") from None
        return d

    def exists(self, cid: str) -> bool:
        return os.path.exists(self.path(cid, "state.json"))

    def load(self, cid: str) -> dict:
        try:
            return read_json(self.path(cid, "state.json"))
        except FileNotFoundError:
            raise NotFound(f"container does not exist: {cid}") from None

    def save(self, cid: str, st: dict) -> None:
        write_json(self.path(cid, "state.json"), st, durable=False)

    @contextlib.contextmanager
    def locked(self, cid: str):
        if not os.path.isdir(self.dir(cid)):
            raise NotFound(f"container does not exist: {cid}")
        with flocked(self.path(cid, "lock")):
            yield

    def remove(self, cid: str) -> None:
        shutil.rmtree(self.dir(cid), ignore_errors=True)

    def ids(self) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.root)
                          if e.is_dir(follow_symlinks=False) and _ID.match(e.name))
        except FileNotFoundError:
            return []


def record_pid(st: dict, pid: int) -> None:
    st.update(pid=pid, pid_start=start_time(pid), boot_id=boot_id())


def alive(st: dict) -> bool:
    return is_alive(st.get("pid"), st.get("pid_start"), st.get("boot_id"))


def status(store: Store, cid: str, st: dict, mgr=None) -> str:
    if not alive(st):
        return STOPPED
    if not st.get("started") and os.path.exists(store.path(cid, "go.fifo")):
        return CREATED
    if mgr is not None:
        try:
            if mgr.is_frozen():
                return PAUSED
        except Exception:  # noqa: BLE001 - no freezer, or the cgroup is going away
            pass
    return RUNNING


def signal_init(st: dict, sig: int) -> None:
    """Signal the container's init through a pidfd opened after the liveness check."""
    import signal as _signal
    if not alive(st):
        raise NotFound("container not running")
    try:
        fd = os.pidfd_open(st["pid"])
    except ProcessLookupError:
        raise NotFound("no such process") from None
    try:
        if start_time(st["pid"]) != st.get("pid_start"):
            raise NotFound("no such process")
        _signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        raise NotFound("no such process") from None
    finally:
        os.close(fd)
