"""The cgroup of one container: the interface shared by the v1 and v2 backends, and `Stats`.

This module owns what does not depend on the cgroup version: where a container's cgroups are
(`<hierarchy>/rocker/<container id>`), creating them (and the `rocker` parent) safely against
a concurrent destroy, adding processes, listing them, signalling every process of a container
through its cgroup (freeze, signal, thaw, so that a forking process cannot escape), destroying
(killing what is left first), and comparing the limits in force with the wanted ones.
The backends (rocker.cgroups.v1 / rocker.cgroups.v2) own the interface files of each version.

Never touches anything outside the `rocker` directory directly below each hierarchy root,
except for a container of `rocker-runtime` whose caller chose its cgroup (an OCI
`cgroupsPath`, `manager_for(id, parent=...)`): then the chosen path and nothing above it is
removed.
"""

from __future__ import annotations

import errno
import os
import signal
import time

from rocker.cgroups import fs
from rocker.cgroups.detect import Layout, detect
from rocker.cgroups.limits import Limits
from rocker.cgroups.record import Record
from rocker.errors import HostError, InvalidInput, NotFound

PARENT = "rocker"
"""The directory below each hierarchy root that holds every container's cgroup."""


class Stats(Record):
    """One sample of a container's resource usage (what `rocker stats` shows).

    cpu_usage_ns           total CPU time used, nanoseconds (CPU % = delta / wall delta)
    memory_usage           bytes charged now (v1 memory.usage_in_bytes, v2 memory.current)
    memory_limit           bytes, None when unlimited
    pids_current           tasks in the cgroup
    memory_inactive_file   reclaimable page cache; `docker stats` shows usage minus this
    pids_limit             None when unlimited
    io_read_bytes / io_write_bytes   block I/O done (0 when the io/blkio controller is absent)
    oom_kills              processes killed by the OOM killer in this cgroup
    read_at                time.monotonic() when sampled
    """

    __slots__ = ("cpu_usage_ns", "memory_usage", "memory_limit", "pids_current",
                 "memory_inactive_file", "pids_limit", "io_read_bytes", "io_write_bytes",
                 "oom_kills", "read_at")
    _defaults = {"memory_inactive_file": 0, "pids_limit": None, "io_read_bytes": 0,
                 "io_write_bytes": 0, "oom_kills": 0, "read_at": 0.0}

    def to_dict(self) -> dict:
        return self.as_dict()


def _check_id(container_id: str) -> None:
    if (not container_id or "/" in container_id or container_id in (".", "..")
            or "\0" in container_id):
        raise InvalidInput(f"invalid cgroup name {container_id!r}")


def _check_parent(parent: str) -> None:
    parts = parent.split("/") if parent else []  # "": right below the hierarchy root
    if any(p in ("", ".", "..") or "\0" in p for p in parts):
        raise InvalidInput(f"invalid cgroup path {parent!r}")


class CgroupManager:
    """The cgroups of one container. Get one with `manager_for(container_id)`."""

    version = 0

    def __init__(self, container_id: str, layout: Layout, parent: str = PARENT) -> None:
        _check_id(container_id)
        _check_parent(parent)
        self.id = container_id
        self.layout = layout
        self.parent = parent
        """The container's cgroup is <hierarchy>/<parent>/<id>; `rocker` for rocker's own."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.parent}/{self.id} ({self.layout.mode})>"

    # -- where --------------------------------------------------------------------------------

    def _bases(self) -> list[str]:
        """The hierarchy roots this container has a cgroup in."""
        raise NotImplementedError

    def paths(self) -> list[str]:
        """The container's cgroup directories, one per hierarchy (the container's first process
        and every exec join them themselves: rocker.launcher.launch.join_cgroups)."""
        return [os.path.join(b, self.parent, self.id) for b in self._bases()]

    def exists(self) -> bool:
        return any(os.path.isdir(p) for p in self.paths())

    # -- create -------------------------------------------------------------------------------

    def _prepare_base(self, base: str) -> list[str]:
        """Backend hook: make the hierarchy root ready for `rocker` (v2: subtree_control)."""
        return []

    def _prepare_parent(self, base: str, parent: str) -> list[str]:
        """Backend hook: make the `rocker` directory usable (v1 cpuset, v2 subtree_control)."""
        return []

    def _prepare_child(self, base: str, path: str) -> list[str]:
        return []

    def _mkdir(self, path: str) -> bool:
        """True when created, False when it was there already."""
        try:
            self.layout.ops.mkdir(path)
            return True
        except FileExistsError:
            return False

    def create(self) -> list[str]:
        """Make the container's cgroup in every hierarchy (and the `rocker` parent on the way).
        Idempotent. Returns warnings (e.g. a controller that could not be enabled)."""
        warnings: list[str] = []
        for base in self._bases():
            parent = os.path.join(base, self.parent)
            path = os.path.join(parent, self.id)
            for attempt in range(20):
                try:
                    warnings += self._prepare_base(base)
                    step = base
                    for part in self.parent.split("/") if self.parent else []:
                        # `rocker`, or a caller's nested path
                        step = os.path.join(step, part)
                        self._mkdir(step)
                        warnings += self._prepare_parent(base, step)
                    self._mkdir(path)
                    warnings += self._prepare_child(base, path)
                    break
                except (FileNotFoundError, HostError) as e:
                    # a concurrent destroy removed the empty parent between two steps (the
                    # parent may even be back already, made by a third rocker): again
                    vanished = (isinstance(e, FileNotFoundError)
                                or getattr(e, "errno", None) in fs.VANISHED)
                    if vanished and os.path.isdir(base) and attempt < 19:
                        time.sleep(0.002 * (attempt + 1))
                        continue
                    if isinstance(e, HostError):
                        raise
                    raise HostError(f"cannot create cgroup {path}: {e.strerror}") from None
                except OSError as e:
                    raise HostError(f"cannot create cgroup {path}: {e.strerror}") from None
        return warnings

    # -- processes ----------------------------------------------------------------------------

    def add_pid(self, pid: int) -> None:
        """Move a process into the container's cgroup in every hierarchy."""
        for path in self.paths():
            fs.write(os.path.join(path, "cgroup.procs"), int(pid))

    def procs(self) -> list[int]:
        """Every pid in the container's cgroups (nested cgroups included), sorted."""
        pids: set[int] = set()
        for path in self.paths():
            for d, _subdirs, _files in os.walk(path):
                pids.update(fs.read_pids(os.path.join(d, "cgroup.procs")))
        return sorted(pids)

    def _has_freezer(self) -> bool:
        raise NotImplementedError

    def _cgroup_kill(self) -> bool:
        """Backend hook: kill everything with SIGKILL in one write when the kernel can."""
        return False

    def kill(self, sig: int) -> int:
        """Send `sig` to every process of the container; returns how many were signalled.

        With SIGKILL on v2 (Linux 5.14+) one write to cgroup.kill does it. Otherwise the cgroup
        is frozen, every pid in it signalled, and thawed again, so a process that forks in a loop
        cannot escape. A container that was paused stays paused unless the signal is SIGKILL."""
        pids = self.procs()
        if not pids:
            return 0
        if sig == signal.SIGKILL and self._cgroup_kill():
            return len(pids)
        if not self._has_freezer():
            return self._kill_loop(sig)
        was_frozen = self.is_frozen()
        self.freeze()
        count = 0
        try:
            for pid in self.procs():
                try:
                    os.kill(pid, sig)
                    count += 1
                except ProcessLookupError:
                    pass
        finally:
            if not was_frozen or sig == signal.SIGKILL:
                self.thaw()
        return count

    def _kill_loop(self, sig: int) -> int:
        """Without a freezer: signal until no new pid shows up (SIGKILL: until empty)."""
        done: set[int] = set()
        for _ in range(100):
            new = [p for p in self.procs() if p not in done]
            if not new:
                break
            for pid in new:
                try:
                    os.kill(pid, sig)
                    done.add(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)
        return len(done)

    # -- destroy ------------------------------------------------------------------------------

    def destroy(self, timeout: float = 5.0) -> None:
        """Remove the container's cgroups. Processes still inside (a crashed monitor) are
        killed with SIGKILL through the cgroup first, and waited for. The `rocker` parent is
        removed too when no other container uses it. Idempotent."""
        deadline = time.monotonic() + timeout
        if not self.exists():
            self._remove_parents()
            return
        pids = self.procs()
        last_kill = 0.0
        while pids:
            now = time.monotonic()
            if now - last_kill > 0.5:
                self.kill(signal.SIGKILL)
                last_kill = now
            if now > deadline:
                raise HostError(f"cannot remove cgroup {self.parent}/{self.id}: processes "
                                f"{' '.join(map(str, pids[:10]))} did not die within {timeout}s")
            time.sleep(0.01)
            pids = self.procs()
        for path in self.paths():
            self._rmtree(path, deadline)
        self._remove_parents()

    def _rmtree(self, path: str, deadline: float) -> None:
        if not os.path.isdir(path):
            return
        dirs = [d for d, _s, _f in os.walk(path, topdown=False)]
        for d in dirs:
            while True:
                try:
                    self.layout.ops.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    # the kernel may report EBUSY for a moment after the last task exited
                    if e.errno == errno.EBUSY and time.monotonic() < deadline:
                        time.sleep(0.01)
                        continue
                    raise HostError(f"cannot remove cgroup {d}: {e.strerror}") from None

    def _remove_parents(self) -> None:
        if self.parent != PARENT:  # a caller's path (rocker-runtime): the caller owns it
            return
        for base in self._bases():
            parent = os.path.join(base, PARENT)
            for _ in range(20):
                try:
                    self.layout.ops.rmdir(parent)
                    break
                except OSError as e:
                    if e.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY, errno.EEXIST):
                        raise HostError(f"cannot remove cgroup {parent}: {e.strerror}") from None
                    # EBUSY with no child left: a removed child may still be going offline
                    if e.errno != errno.EBUSY or self._has_children(parent):
                        break
                    time.sleep(0.005)

    @staticmethod
    def _has_children(path: str) -> bool:
        try:
            return any(e.is_dir(follow_symlinks=False) for e in os.scandir(path))
        except FileNotFoundError:
            return False

    # -- limits -------------------------------------------------------------------------------

    def apply(self, limits: Limits) -> list[str]:
        """Write every field that is set in `limits` (at start, and for a live update).
        Returns warnings for what this host cannot do (e.g. no swap accounting).

        All or nothing: when one write is refused (e.g. a memory limit below what the
        container uses now: InvalidInput naming the option), the files already written are put
        back as they were before the error is raised, so a failed `rocker update` changes
        nothing. Writes exactly what is given: pass `limits.effective()` to get Docker's
        derived values (swap = memory when only --memory is set)."""
        undo: list = []
        try:
            return self._apply(limits, undo)
        except BaseException:
            fs.rollback(undo)
            raise

    def _apply(self, limits: Limits, undo: list) -> list[str]:
        """Backend: the writes of apply(), each with `undo=undo`."""
        raise NotImplementedError

    def reset_unset(self, limits: Limits) -> list[str]:
        """Put every field that is NOT set in `limits` back to the kernel default (unlimited
        memory and pids, default CPU weight, no quota, the parent's cpusets). Call it before
        apply() to replace all limits (e.g. a stack whose spec dropped one)."""
        raise NotImplementedError

    def replace(self, limits: Limits) -> list[str]:
        """Make `limits` exactly the limits in force: reset_unset() then apply()."""
        return self.reset_unset(limits) + self.apply(limits)

    def read_limits(self) -> Limits:
        """The limits in force, read back from the cgroup files; unlimited values are None."""
        raise NotImplementedError

    def freeze(self, timeout: float = 5.0) -> None:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def is_frozen(self) -> bool:
        raise NotImplementedError

    def oom_kill_count(self) -> int:
        raise NotImplementedError

    def stats(self) -> Stats:
        raise NotImplementedError

    def setup_devices(self) -> None:
        """Deny every device but the standard nodes (v1 devices cgroup; nothing on v2)."""

    def _need(self, path: str | None) -> str:
        if path is None or not os.path.isdir(path):
            raise NotFound(f"container {self.id} has no cgroup (is it running?)")
        return path


def manager_for(container_id: str, layout: Layout | None = None,
                parent: str = PARENT) -> CgroupManager:
    """The cgroup manager of one container, for this host's cgroups (or the given layout);
    `parent` is the path below each hierarchy root that holds it (`rocker`, or the folder of
    an OCI cgroupsPath)."""
    if layout is None:
        layout = detect()
    if layout.version == 2:
        from rocker.cgroups.v2 import V2Manager
        return V2Manager(container_id, layout, parent)
    from rocker.cgroups.v1 import V1Manager
    return V1Manager(container_id, layout, parent)
