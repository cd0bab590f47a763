"""Which cgroup hierarchies this host has, read from the filesystem types in mountinfo.

This module owns `Layout` (what the backends need to know about the host's cgroup mounts) and
`detect()`, which builds it from a mountinfo file. The rules:

    pure v2   a `cgroup2` filesystem is mounted AT the cgroup root (/sys/fs/cgroup)
    hybrid    v1 `cgroup` filesystems carry the controllers, and a `cgroup2` filesystem is mounted
              elsewhere (usually /sys/fs/cgroup/unified, without controllers): the v1 backend is
              used for every controller
    pure v1   only v1 `cgroup` filesystems

Only the filesystem-type field of each mountinfo line is looked at, never the text as a whole:
searching for "cgroup2" anywhere takes hybrid hosts for v2 (the original project's bug). The v1
controllers of each mount come from its super options, so co-mounted hierarchies
(`cpu,cpuacct`) and separate ones (`cpu` and `cpuacct`) both work; named hierarchies
(`name=systemd`) carry no controller and are ignored.
"""

from __future__ import annotations

import os

from rocker.cgroups.record import Record
from rocker.errors import HostError

MOUNTINFO = "/proc/self/mountinfo"
CGROUP_ROOT = "/sys/fs/cgroup"

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio")
"""The v1 hierarchies a container gets a cgroup in (those the host has)."""

_NOT_CONTROLLERS = {"rw", "ro", "clone_children", "xattr", "noprefix", "cpuset_v2_mode",
                    "sane_behavior", "favordynmods", "nofavordynmods", "relatime"}

V2 = "v2"
HYBRID = "hybrid"
V1 = "v1"


class DirOps:
    """How the managers make and remove cgroup directories. On cgroupfs `mkdir` creates the
    interface files and `rmdir` removes a cgroup with its files; tests that lay out a fake
    cgroupfs in a temporary folder pass a subclass that does the same with ordinary files."""

    def mkdir(self, path: str) -> None:
        os.mkdir(path, 0o755)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)


class Layout(Record):
    """The host's cgroup mounts as the managers use them.

    mode          "v2", "hybrid" or "v1"
    root          the cgroup root (/sys/fs/cgroup)
    unified       where cgroup2 is mounted, or None (on hybrid hosts it is only informative)
    controllers   v1 only: controller name -> mount point of its hierarchy
    ops           how directories are made and removed (see DirOps)
    """

    __slots__ = ("mode", "root", "unified", "controllers", "ops")
    _defaults = {"root": CGROUP_ROOT, "unified": None}
    _factories = {"controllers": dict, "ops": DirOps}
    _no_compare = ("ops",)

    @property
    def version(self) -> int:
        return 2 if self.mode == V2 else 1

    def hierarchies(self) -> dict[str, str]:
        """v1: mount point -> the controllers rocker uses in it (co-mounted ones share a key)."""
        out: dict[str, list[str]] = {}
        for name in V1_CONTROLLERS:
            mnt = self.controllers.get(name)
            if mnt:
                out.setdefault(mnt, []).append(name)
        return {k: ",".join(v) for k, v in out.items()}


def _unescape(s: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo octal."""
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 4 <= len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[tuple[str, str, str]]:
    """(mount point, filesystem type, super options) of every line."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if "-" not in parts:
            continue
        sep = parts.index("-")
        if sep < 5 or len(parts) < sep + 3:
            continue
        mountpoint = _unescape(parts[4])
        fstype = parts[sep + 1]
        superopts = parts[sep + 3] if len(parts) > sep + 3 else ""
        mounts.append((mountpoint, fstype, superopts))
    return mounts


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


_HOST: list = []  # this process's host layout, once read (a forked monitor inherits it)


def detect(mountinfo: str = MOUNTINFO, root: str = CGROUP_ROOT) -> Layout:
    """The Layout of this host (or of the given mountinfo file and cgroup root, for tests).
    The host's is read once per process: its cgroup mounts do not change under a command.

    Raises HostError when no cgroup filesystem is mounted."""
    if mountinfo == MOUNTINFO and root == CGROUP_ROOT:
        if not _HOST:
            _HOST.append(_detect(mountinfo, root))
        return _HOST[0]
    return _detect(mountinfo, root)


def _detect(mountinfo: str, root: str) -> Layout:
    try:
        with open(mountinfo) as f:
            text = f.read()
    except OSError as e:
        raise HostError(f"cannot read {mountinfo}: {e.strerror}") from None
    root = os.path.normpath(root)
    mounts = parse_mountinfo(text)
    unified = None
    controllers: dict[str, str] = {}
    for mountpoint, fstype, superopts in mounts:
        mountpoint = os.path.normpath(mountpoint)
        if fstype == "cgroup2":
            # the one at the cgroup root wins; otherwise the last one seen
            if unified != root:
                unified = mountpoint
        elif fstype == "cgroup":
            for opt in superopts.split(","):
                if opt in _NOT_CONTROLLERS or "=" in opt:
                    continue
                # prefer a mount under the cgroup root to a bind mount elsewhere
                have = controllers.get(opt)
                if have is None or (not _under(have, root) and _under(mountpoint, root)):
                    controllers[opt] = mountpoint
    if unified == root:
        return Layout(V2, root, unified, {})
    if controllers:
        return Layout(HYBRID if unified else V1, root, unified, controllers)
    if unified:
        # cgroup2 mounted elsewhere and no v1 controller at all: use it as the v2 root
        return Layout(V2, unified, unified, {})
    raise HostError(f"no cgroup filesystem is mounted (read {mountinfo}); rocker needs cgroups "
                    "to limit and track containers")
