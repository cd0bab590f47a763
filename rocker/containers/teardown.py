"""The one teardown of what a container owns: runtime files, cgroup, storage, name. Idempotent.

Two entry points, one sequence: release_stopped() takes what a container has only while it
runs (its cgroup, its runtime files, its published ports and the firewall rules for them; its
veths go with its network namespace, by the kernel), and remove_container() does that and then
removes the rest (record, storage, address leases, name; with `rm -v` and `--rm` its
anonymous volumes). The monitor
calls release_stopped() when a container ends (remove_container() for --rm), and so do stop,
rm and apply when they find a monitor gone (killed with -9); `rm`, `--rm`, apply and garbage
collection call remove_container(). Every step tolerates what is already gone, so a crash
half-way is finished by the next call.
"""

from __future__ import annotations

import os

from rocker.containers import records
from rocker.paths import Paths


def release_stopped(paths: Paths, cid: str, kill_leftovers: bool = False) -> None:
    """Everything a container has only while it runs: its cgroup and its runtime files
    (sockets, /etc files, the rootfs mount point). The one sequence for the end of a run: the
    monitor's finish, a stop or rm that finds the monitor gone, and remove_container's first
    step. `kill_leftovers`: SIGKILL what is still in the cgroup first (after a removal that
    raced a start). Idempotent: what is gone already is skipped; a cgroup that cannot be
    removed now is left for the next call."""
    try:
        _release_cgroup(cid, kill_leftovers)
    finally:  # the runtime files go even when the cgroup cannot yet
        rundir = paths.container_rundir(cid)
        if os.path.isdir(rundir):
            _remove_quietly(rundir)
        _release_network(paths, cid, remove=False)


def _release_network(paths: Paths, cid: str, remove: bool) -> None:
    """Ports and rules (and with `remove` the address leases) of `cid`; nothing to do, and
    nothing imported, for a root that never had a network."""
    from rocker.network.store import folder
    if not os.path.exists(os.path.join(folder(paths), "state.json")):
        return
    from rocker.containers.state import container_running
    from rocker.network import setup

    def alive(c: str) -> bool:
        return c != cid and container_running(paths, c)
    try:
        if remove:
            setup.forget(paths, cid, alive)
        else:
            setup.disconnect(paths, cid, None, alive)
    except Exception:  # noqa: BLE001 - stale leases and rules are reclaimed by the next one
        pass


def _release_cgroup(cid: str, kill_leftovers: bool) -> None:
    import signal
    import time
    from rocker.cgroups import manager_for
    for _ in range(40 if kill_leftovers else 1):
        try:
            m = manager_for(cid)
            if not m.exists():
                return
            if kill_leftovers and m.procs():
                m.kill(signal.SIGKILL)
                time.sleep(0.05)
                continue
            m.destroy()
            return
        except Exception:  # noqa: BLE001 - best effort: the next teardown tries again
            if not kill_leftovers:
                raise
            time.sleep(0.05)


def remove_container(paths: Paths, cid: str, volumes: bool | None = None) -> None:
    """Tear down everything of `cid`, in an order where a crash at any point is finished by
    the next call (`rm -f`, apply, delete, garbage collection):

    1. the cgroup and the runtime files (the record, still in place, names the container, so
       `ps -a` shows it and `rm -f NAME` finds it);
    2. the folder is renamed to `.rm-<id>`: from now on the container is gone for every
       command;
    3. the name is released (only now: while the folder had its real name, the name led to it);
    4. the `.rm-<id>` tree is removed (what is left of it is garbage collected);
    5. with `volumes` (`rm -v`; None: when the container was an --rm one) its anonymous
       volumes that no other container uses (a crash before leaves them to `volume prune`).
    """
    from rocker.util.faults import crash_point
    mounts: list = []
    try:
        rec = records.load(paths, cid)
        names, mounts = [rec["name"]], rec.get("mounts") or []
        if volumes is None:
            volumes = bool(rec["config"].get("auto_remove"))
    except Exception:  # noqa: BLE001 - a corrupt record is removed all the same, names too
        names = records.names_of(paths, cid)
    release_stopped(paths, cid)
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
    _release_network(paths, cid, remove=True)
    for name in names:
        records.release_name(paths, name, cid)
    _remove_quietly(trash)
    if volumes and mounts:
        from rocker.containers.volumes import release_anonymous
        release_anonymous(paths, mounts, cid)


def _remove_quietly(path: str) -> None:
    """Remove a tree the container could write to (symlink-safe, any depth); what cannot be
    removed now is left for the next removal or garbage collection, never an error here."""
    from rocker.util.fstree import remove_tree
    try:
        remove_tree(path)
    except OSError:
        pass
