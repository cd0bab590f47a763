"""`rocker cp`: files between the host and a container's root, volumes and binds included,
running or not, symlink-safe in both directions (the `docker cp` CVEs).

The container's paths are resolved from the host side with the launcher's one in-root resolver
(rocker.launcher.mounts.open_in_root: openat2 RESOLVE_IN_ROOT), and both trees are copied by
rocker.util.treecopy, which never follows a symlink: a symlink named as the source is copied as
a symlink (Docker's rule), one met inside a tree is copied as a symlink, and a symlink at the
destination is replaced, never written through. rocker never chroots into the container nor
runs or loads anything of it (CVE-2019-14271).

- A running container: its root is `/proc/PID/root` (its own mount namespace, volumes and
  binds included), opened once the PID has been checked to be the container's (start time,
  through a pidfd), and checked again after.
- A stopped one: a child process in a private mount namespace mounts the container's overlay
  and its volumes and binds (as the launcher does, on descriptors) under the runtime root,
  copies, and exits; its mounts vanish with it (the host's mount table never changes). The
  container's start lock is held meanwhile, so it cannot start under the copy.
"""

from __future__ import annotations

import os
import stat

from rocker.containers import records
from rocker.containers import state as cstate
from rocker.errors import HostError, InvalidInput, NotFound
from rocker.paths import Paths


def split_ref(arg: str) -> tuple[str | None, str]:
    """`CONTAINER:PATH` -> (container, path); a local path -> (None, path). A local path with
    a colon is written ./a:b or /a:b (Docker's rule)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    ref, _, path = arg.partition(":")
    return ref, path


def _split_last(path: str) -> tuple[str, str]:
    """In-container path -> (parent, last component); "/" and "" are the root itself."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        return "/", ""
    return "/" + "/".join(parts[:-1]), parts[-1]


def _contents_only(path: str) -> bool:
    """Docker's `SRC/.`: the folder's contents, not the folder."""
    return path.endswith("/.") or path == "."


def copy_out(root_fd: int, src: str, dst: str) -> None:
    """From the container (root `root_fd`) to the host path `dst`."""
    from rocker.launcher.mounts import open_in_root
    from rocker.util.treecopy import copy_entry, copy_into
    parent, name = _split_last(src)
    try:
        pfd = open_in_root(root_fd, parent)
    except OSError:
        raise NotFound(f"no such file or directory in the container: {src}") from None
    try:
        if not name:
            name = "."
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except OSError:
            raise NotFound(f"no such file or directory in the container: {src}") from None
        into = os.path.isdir(dst) and not os.path.islink(dst)
        if _contents_only(src) or name == ".":
            if not stat.S_ISDIR(st.st_mode):
                raise InvalidInput(f"{src}: not a directory")
            if not os.path.exists(dst):
                os.mkdir(dst, 0o755)
            elif not into:
                raise InvalidInput(f"cannot copy a directory to the file {dst}")
            sfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=pfd)
            dfd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                copy_into(sfd, dfd, top=True, host=True)
            finally:
                os.close(sfd)
                os.close(dfd)
            return
        if into:
            dparent, dname = dst, name
        else:
            dparent, dname = os.path.dirname(os.path.abspath(dst)), os.path.basename(dst)
            if not os.path.isdir(dparent):
                raise NotFound(f"no such directory on the host: {dparent}")
        dfd = os.open(dparent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            copy_entry(pfd, name, dfd, dname, host=True)
        finally:
            os.close(dfd)
    finally:
        os.close(pfd)


def copy_in(root_fd: int, src: str, dst: str) -> None:
    """From the host path `src` into the container (root `root_fd`) at `dst`."""
    from rocker.launcher.mounts import open_in_root
    from rocker.util.treecopy import copy_entry, copy_into
    if not os.path.lexists(src.rstrip("/") if src not in ("/", "") else src):
        raise NotFound(f"no such file or directory on the host: {src}")
    sparent, sname = os.path.split(os.path.abspath(src.rstrip("/.") or "/"))
    sfd = os.open(sparent or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sdir = stat.S_ISDIR(os.stat(sname, dir_fd=sfd, follow_symlinks=False).st_mode) \
            if sname else True
        try:  # the destination as the container resolves it: an existing folder takes it in
            tfd = open_in_root(root_fd, dst)
            is_dir = stat.S_ISDIR(os.fstat(tfd).st_mode)
            os.close(tfd)
        except FileNotFoundError:
            is_dir = False
        except OSError as e:
            raise InvalidInput(f"cannot copy to {dst} in the container: {e.strerror}") from None
        if _contents_only(src) or not sname:
            if not sdir:
                raise InvalidInput(f"{src}: not a directory")
            if not is_dir:
                parent, name = _split_last(dst)
                pfd = _parent(root_fd, parent, dst)
                try:
                    os.mkdir(name, 0o755, dir_fd=pfd)
                finally:
                    os.close(pfd)
            dfd = _reopen(open_in_root(root_fd, dst))
            src_dir = os.open(sname or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                              | os.O_CLOEXEC, dir_fd=sfd)
            try:
                copy_into(src_dir, dfd, top=True)
            finally:
                os.close(src_dir)
                os.close(dfd)
            return
        if is_dir:
            pfd, name = _reopen(open_in_root(root_fd, dst)), sname
        else:
            parent, name = _split_last(dst)
            if not name:
                raise InvalidInput(f"cannot copy to {dst}")
            pfd = _parent(root_fd, parent, dst)
        try:
            copy_entry(sfd, sname, pfd, name)
        finally:
            os.close(pfd)
    finally:
        os.close(sfd)


def _reopen(fd: int) -> int:
    from rocker.launcher.mounts import reopen_dir
    try:
        return reopen_dir(fd)
    finally:
        os.close(fd)


def _parent(root_fd: int, parent: str, dst: str) -> int:
    from rocker.launcher.mounts import open_in_root
    try:
        fd = open_in_root(root_fd, parent)
    except OSError:
        raise NotFound(f"no such directory in the container: {parent} (for {dst})") from None
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidInput(f"{parent} is not a directory in the container")
    return _reopen(fd)


def _running_root(rec: dict) -> int | None:
    """An O_PATH descriptor of the running container's root (None if it does not run)."""
    st = rec["state"]
    obs = cstate.observed(st)
    pid, start = obs.get("pid"), obs.get("pid_start")
    if not (obs.get("alive") and pid and start is not None):
        return None
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        if cstate.start_time(pid) != start:
            return None
        try:
            fd = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return None
        if cstate.start_time(pid) != start:   # the pidfd keeps the pid from being reused
            os.close(fd)
            return None
        return fd
    finally:
        os.close(pidfd)


def copy(paths: Paths, src: str, dst: str) -> None:
    """`rocker cp SRC DST`: one of them CONTAINER:PATH."""
    (sref, spath), (dref, dpath) = split_ref(src), split_ref(dst)
    if (sref is None) == (dref is None):
        raise InvalidInput("copying between containers or between two host paths is not "
                           "supported: one of SRC and DST must be CONTAINER:PATH")
    if "-" in (spath if sref is None else dpath,):
        raise InvalidInput("cp with - (a tar stream on stdin or stdout) is not supported")
    ref = sref or dref
    cid = records.resolve(paths, ref)
    out = sref is not None
    cpath = spath if out else dpath
    if not cpath:
        raise InvalidInput(f"{ref}: a path in the container is required (CONTAINER:PATH)")

    def work(root_fd: int) -> None:
        if out:
            copy_out(root_fd, spath, dpath)
        else:
            copy_in(root_fd, spath, dpath)
    if _in_running(records.load(paths, cid), work):
        return
    from rocker.state.store import flocked
    with flocked(os.path.join(paths.container_dir(cid), "start.lock"), timeout=60):
        rec = records.load(paths, cid)
        if not _in_running(rec, work):   # it may have started meanwhile
            _in_private_namespace(paths, rec, work)


def _in_running(rec: dict, work) -> bool:
    """Copy through the root of the running container `rec`; False if it does not run."""
    fd = _running_root(rec)
    if fd is None:
        return False
    try:
        _as_error(work, fd)
    finally:
        os.close(fd)
    return True


def _as_error(work, fd: int) -> None:
    try:
        work(fd)
    except (NotFound, InvalidInput):
        raise
    except OSError as e:
        raise HostError(f"cp: {e.strerror or e}" + (f": {e.filename}" if e.filename else "")) \
            from None


def _in_private_namespace(paths: Paths, rec: dict, work) -> None:
    """Mount the stopped container's root in a child's own mount namespace and copy there."""
    import json
    from rocker.launcher import mounts, rootfs, syscalls as sc
    from rocker.runtime.bundle import oci_mounts
    from rocker.launcher.ocispec import user_mount
    from rocker.state.store import makedirs
    from rocker.util.fstree import remove_tree
    spot = os.path.join(makedirs(paths.run_containers), f".cp-{rec['id'][:12]}-"
                                                          f"{os.urandom(4).hex()}")
    os.mkdir(spot, 0o700)
    r, w = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                sc.unshare(sc.CLONE_NEWNS)
                sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
                rootfs.mount_overlay(spot, rec["rootfs"]["lower"], rec["rootfs"]["upper"],
                                     rec["rootfs"]["work"])
                os.chdir("/")
                binds = [user_mount(m) for m in oci_mounts(rec.get("mounts") or [])
                         if m["type"] == "bind"]
                mounts.make_all(spot, binds)
                fd = os.open(spot, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                _as_error(work, fd)
                os._exit(0)
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                code = getattr(e, "exit_code", 1)
                kind = type(e).__name__ if isinstance(e, (NotFound, InvalidInput)) else "Host"
                msg = str(e) if not isinstance(e, OSError) else (e.strerror or str(e))
                try:
                    os.write(w, json.dumps({"kind": kind, "error": msg, "code": code}).encode())
                finally:
                    os._exit(1)
        os.close(w)
        w = -1
        data = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
        os.waitpid(pid, 0)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
        remove_tree(spot)
    if data:
        msg = json.loads(data)
        cls = {"NotFound": NotFound, "InvalidInput": InvalidInput}.get(msg["kind"], HostError)
        raise cls(msg["error"])
