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
from dataclasses import dataclass

DEFAULT_ROOT = "/var/lib/rocker"
DEFAULT_RUNROOT = "/var/run/rocker"


@dataclass(frozen=True)
class Paths:
    root: str
    runroot: str

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
