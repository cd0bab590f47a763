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
    """Tear down everything of `cid`, in an order where a crash at any point is finished by
    the next call (`rm -f`, apply, delete, garbage collection):

    1. the cgroup and the runtime files (the record, still in place, names the container, so
       `ps -a` shows it and `rm -f NAME` finds it);
    2. the folder is renamed to `.rm-<id>`: from now on the container is gone for every
       command;
    3. the name is released (only now: while the folder had its real name, the name led to it);
    4. the `.rm-<id>` tree is removed (what is left of it is garbage collected).
    """
    from rocker.util.faults import crash_point
    try:
        names = [records.load(paths, cid)["name"]]
    except Exception:  # noqa: BLE001 - a corrupt record is removed all the same, names too
        names = records.names_of(paths, cid)
    destroy_cgroup(cid)
    release_runtime(paths, cid)
    crash_point("remove:released")
    cdir = paths.container_dir(cid)
    trash = os.path.join(paths.containers, f".rm-{cid}")
    if os.path.isdir(cdir):
        if os.path.lexists(trash):   # a removal interrupted earlier
            _remove_quietly(trash)
        try:
            os.rename(cdir, trash)
        except FileNotFoundError:
            pass   # another removal renamed it meanwhile
        except OSError:
            trash = cdir
    crash_point("remove:renamed")
    for name in names:
        records.release_name(paths, name, cid)
    _remove_quietly(trash)


def _remove_quietly(path: str) -> None:
    """Remove a tree the container could write to (symlink-safe, any depth); what cannot be
    removed now is left for the next removal or garbage collection, never an error here."""
    from rocker.util.fstree import remove_tree
    try:
        remove_tree(path)
    except OSError:
        pass
