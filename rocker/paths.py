"""Where rocker keeps things: the persistent root and the runtime root, and the layout below them.

    ROOT (--root, $ROCKER_ROOT, /var/lib/rocker)      persistent
      images/            image store (see rocker.images.store)
      containers/<id>/   container.json, upper/, work/, container.log
      names/<name>       symlink -> container id (claimed atomically)
      stacks/<name>/     stack lock and records
    RUNROOT (--runroot, $ROCKER_RUNROOT, /var/run/rocker)   runtime, gone after a reboot
      containers/<id>/   attach.sock, hostname, hosts, resolv.conf, rootfs/ (mount point)

This module only computes paths; it never creates anything on import.
"""

from __future__ import annotations

import os

DEFAULT_ROOT = "/var/lib/rocker"
DEFAULT_RUNROOT = "/var/run/rocker"


class Paths:
    """The two storage roots (a plain class: the monitor imports this and must stay small)."""

    __slots__ = ("root", "runroot")

    def __init__(self, root: str, runroot: str) -> None:
        self.root = root
        self.runroot = runroot

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Paths) and (self.root, self.runroot) == (other.root,
                                                                          other.runroot)

    def __repr__(self) -> str:
        return f"Paths(root={self.root!r}, runroot={self.runroot!r})"

    @classmethod
    def from_env(cls, root: str | None = None, runroot: str | None = None) -> "Paths":
        root = root or os.environ.get("ROCKER_ROOT") or DEFAULT_ROOT
        runroot = runroot or os.environ.get("ROCKER_RUNROOT") or DEFAULT_RUNROOT
        return cls(os.path.abspath(root), os.path.abspath(runroot))

    @property
    def images(self) -> str:
        return os.path.join(self.root, "images")

    @property
    def containers(self) -> str:
        return os.path.join(self.root, "containers")

    @property
    def names(self) -> str:
        return os.path.join(self.root, "names")

    @property
    def stacks(self) -> str:
        return os.path.join(self.root, "stacks")

    @property
    def run_containers(self) -> str:
        return os.path.join(self.runroot, "containers")

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.containers, cid)

    def container_rundir(self, cid: str) -> str:
        return os.path.join(self.run_containers, cid)
