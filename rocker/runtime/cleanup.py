"""Removing what a container had: runtime files, cgroup, storage, name. Idempotent.

Used by the monitor when a container ends (runtime files always, everything for --rm) and by
`rocker rm`, which also cleans up after a monitor that was killed with -9. Every step tolerates
what is already gone, so a crash half-way is finished by the next call.
"""

from __future__ import annotations

import os

from rocker.containers import records
from rocker.paths import Paths


def release_runtime(paths: Paths, cid: str) -> None:
    """Runtime files of a stopped container (sockets, /etc files, the rootfs mount point)."""
    rundir = paths.container_rundir(cid)
    if os.path.isdir(rundir):
        _remove_quietly(rundir)


def destroy_cgroup(cid: str) -> None:
    from rocker.cgroups import manager_for
    m = manager_for(cid)
    if m.exists():
        m.destroy()


def remove_container(paths: Paths, cid: str) -> None:
    name = None
    try:
        name = records.load(paths, cid).get("name")
    except Exception:  # noqa: BLE001 - a corrupt record is removed all the same
        pass
    destroy_cgroup(cid)
    release_runtime(paths, cid)
    if name:
        records.release_name(paths, name, cid)
    cdir = paths.container_dir(cid)
    if os.path.isdir(cdir):
        # rename first so a half-removed container never shows as one
        trash = os.path.join(paths.containers, f".rm-{cid}")
        try:
            os.rename(cdir, trash)
        except OSError:
            trash = cdir
        _remove_quietly(trash)


def _remove_quietly(path: str) -> None:
    """Remove a tree the container could write to (symlink-safe, any depth); what cannot be
    removed now is left for the next removal or garbage collection, never an error here."""
    from rocker.util.fstree import remove_tree
    try:
        remove_tree(path)
    except OSError:
        pass
