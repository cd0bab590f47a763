"""Mounts inside a container's root, made on descriptors: the one in-root resolver and the
user's binds, volumes and tmpfs mounts (with a volume's copy-up), and rocker's /etc files;
the other filesystems an OCI bundle may list (rocker-runtime).

Every mount target is resolved inside the container's root with openat2(RESOLVE_IN_ROOT |
RESOLVE_NO_MAGICLINKS): symlinks are followed as if the root were `/` and `..` stops at it, so
neither an image nor a container sharing a volume can steer a target outside the root, and
missing components are created one at a time below the descriptor of their resolved parent.
The mount itself is attached to the descriptor the resolution returned (open_tree/fsmount +
move_mount): nothing is looked up by path again between the check and the mount, so swapping a
component for a symlink meanwhile (runc CVE-2021-30465) changes nothing. A target that resolves
to the root itself, to /proc, /sys or /dev, or to anything on procfs or sysfs is refused.

`open_in_root` is also what `rocker cp` resolves container paths with (rocker.runtime.copy).
"""

from __future__ import annotations

import errno
import os
import stat

from rocker.errors import ContainerStartError
from rocker.launcher import syscalls as sc

RESOLVE = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
PROC_SUPER_MAGIC = 0x9FA0
SYSFS_MAGIC = 0x62656572
PROPAGATION = {"private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE, "slave": sc.MS_SLAVE,
               "rslave": sc.MS_SLAVE, "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED,
               "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE}
TMPFS_ATTRS = {"nosuid": sc.MOUNT_ATTR_NOSUID, "nodev": sc.MOUNT_ATTR_NODEV,
               "noexec": sc.MOUNT_ATTR_NOEXEC, "ro": sc.MOUNT_ATTR_RDONLY}
TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes")
"""The tmpfs options rocker passes on (fsconfig keys); the flags above are mount attributes."""


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def open_in_root(root_fd: int, path: str, create: str | None = None, mode: int = 0o755) -> int:
    """An O_PATH descriptor of `path` resolved inside the folder `root_fd` (symlinks as if it
    were `/`, never leaving it). `create`: "dir" or "file" makes what is missing (folders for
    the components before the last), each below its resolved parent. OSError as the kernel
    says (ENOENT, ENOTDIR, ELOOP, EXDEV for a magic link)."""
    parts = _parts(path)
    rel = "/".join(parts) or "."
    try:
        return sc.openat2(root_fd, rel, os.O_PATH, RESOLVE)
    except FileNotFoundError:
        if create is None:
            raise
    fd = os.dup(root_fd)
    try:
        for i, name in enumerate(parts):
            sub = "/".join(parts[:i + 1])
            for attempt in (1, 2):
                try:
                    nfd = sc.openat2(root_fd, sub, os.O_PATH, RESOLVE)
                    break
                except FileNotFoundError:
                    if attempt == 2 or name == "..":
                        raise OSError(errno.ENOENT, f"cannot create {'/' + sub}: a dangling "
                                                    "symlink or a concurrent change") from None
                try:
                    if i == len(parts) - 1 and create == "file":
                        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                         | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd))
                    else:
                        os.mkdir(name, mode, dir_fd=fd)
                except FileExistsError:
                    pass  # made meanwhile, or a dangling symlink: the second look says which
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def reopen_dir(fd: int) -> int:
    """A readable descriptor of the folder an O_PATH descriptor is open on."""
    return os.open(fd_path(fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _check_target(fd: int, target: str, want_dir: bool, forbidden: set) -> None:
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) in forbidden:
        raise ContainerStartError(f"mount target {target} resolves to the container's root, "
                                  "/proc, /sys or /dev: refusing to mount over it")
    if sc.statfs_type(fd_path(fd)) in (PROC_SUPER_MAGIC, SYSFS_MAGIC):
        raise ContainerStartError(f"mount target {target} resolves into /proc or /sys: "
                                  "refusing to mount there")
    if want_dir and not stat.S_ISDIR(st.st_mode):
        raise ContainerStartError(f"mount target {target} is not a directory in the container "
                                  "(the source is one)")
    if not want_dir and stat.S_ISDIR(st.st_mode):
        raise ContainerStartError(f"mount target {target} is a directory in the container (the "
                                  "source is a file)")


def _resolve_target(root_fd: int, target: str, want_dir: bool, forbidden: set) -> int:
    try:
        fd = open_in_root(root_fd, target, "dir" if want_dir else "file")
    except OSError as e:
        raise ContainerStartError(f"cannot make the mount target {target}: "
                                  f"{e.strerror or e}") from None
    try:
        _check_target(fd, target, want_dir, forbidden)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_empty(dir_fd: int) -> bool:
    with os.scandir(dir_fd) as it:
        return next(it, None) is None


def _copy_up(src_tree: int, target_fd: int, what: str) -> None:
    """Docker's copy-up: fill an empty volume with what the image has at the target."""
    from rocker.util.treecopy import copy_into
    vol = os.open(fd_path(src_tree), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if not _is_empty(vol):
            return
        img = reopen_dir(target_fd)
        try:
            if _is_empty(img):
                return
            copy_into(img, vol, top=True)
        finally:
            os.close(img)
    except OSError as e:
        raise ContainerStartError(f"copying the image's {what} into its volume: "
                                  f"{e.strerror or e}") from None
    finally:
        os.close(vol)


def _bind(root_fd: int, m: dict, forbidden: set, copy_up: bool) -> None:
    target = m["target"]
    flags = sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | (sc.AT_RECURSIVE
                                                          if m.get("recursive", True) else 0)
    # the source as resolved at create: opened without following any symlink, so one
    # swapped into its path since then is refused, never followed
    try:
        src = sc.openat2(sc.AT_FDCWD, m["source"], os.O_PATH, sc.RESOLVE_NO_SYMLINKS)
        try:
            tree = sc.open_tree(src, "", flags | sc.AT_EMPTY_PATH)
        finally:
            os.close(src)
    except OSError as e:
        why = ("a symlink is in its path now (it was resolved when the container was created): "
               "refusing to follow it" if e.errno in (errno.ELOOP, errno.EXDEV)
               else os.strerror(e.errno))
        raise ContainerStartError(f"bind source {m['source']} for {target}: {why}") from None
    try:
        want_dir = stat.S_ISDIR(os.fstat(tree).st_mode)
        tfd = _resolve_target(root_fd, target, want_dir, forbidden)
        try:
            if copy_up and want_dir:
                _copy_up(tree, tfd, target)
            sc.move_mount(tree, tfd, f"{m['source']} on {target}")
        finally:
            os.close(tfd)
        # the tree descriptor now names the attached mount: its attributes are set on it
        attrs = sc.MOUNT_ATTR_RDONLY if m.get("readonly") else 0
        for flag in m.get("flags") or ():  # nosuid, nodev, noexec (OCI bundles)
            attrs |= TMPFS_ATTRS[flag]
        if attrs:
            sc.mount_setattr(tree, attrs, recursive=True, what=target)
        prop = m.get("propagation") or "rprivate"
        sc.mount_setattr(tree, propagation=PROPAGATION[prop], recursive=prop.startswith("r"),
                         what=target)
    finally:
        os.close(tree)


def _tmpfs(root_fd: int, m: dict, forbidden: set) -> None:
    target = m["target"]
    attrs = 0
    for flag in m.get("flags") or ():
        attrs |= TMPFS_ATTRS[flag]
    tfd = _resolve_target(root_fd, target, True, forbidden)
    try:
        try:
            mnt = sc.fs_mount("tmpfs", {"source": "tmpfs", **(m.get("data") or {})}, attrs,
                              target)
        except OSError as e:
            raise ContainerStartError(f"tmpfs at {target}: {e.strerror or e}") from None
        try:
            sc.move_mount(mnt, tfd, f"tmpfs on {target}")
            prop = m.get("propagation")
            if prop:  # an OCI bundle's tmpfs with a propagation option
                sc.mount_setattr(mnt, propagation=PROPAGATION[prop],
                                 recursive=prop.startswith("r"), what=target)
        finally:
            os.close(mnt)
    finally:
        os.close(tfd)


def _other(root_fd: int, m: dict, forbidden: set) -> None:
    """Another filesystem of an OCI bundle (mqueue, a proc, sysfs, ...), mounted as given
    (flags and data from rocker.launcher.ocispec.mount_flags) on the resolved target."""
    target = m["target"]
    tfd = _resolve_target(root_fd, target, True, forbidden)
    try:
        try:
            sc.mount(m["source"], fd_path(tfd), m["type"], m["flags"], m["data"] or None)
            if m.get("propagation"):
                sc.mount(None, fd_path(tfd), None, m["propagation"])
        except OSError as e:
            raise ContainerStartError(f"{m['type']} at {target}: {e.strerror or e}") from None
    finally:
        os.close(tfd)


def depth(target: str) -> int:
    return len(_parts(target))


def _stats(root_fd: int, names: tuple[str, ...]) -> list[os.stat_result]:
    """The root's own stat and those of its /proc, /sys, /dev (rocker's mounts; the ones a
    stopped container's root for `rocker cp` has, unmounted)."""
    out = [os.fstat(root_fd)]
    for n in names:
        try:
            out.append(os.stat(n, dir_fd=root_fd, follow_symlinks=False))
        except FileNotFoundError:
            pass
    return out


def make_all(rootfs: str, mounts: list[dict], copy_up: set | frozenset = frozenset()) -> None:
    """The mounts of `mounts` ({kind: bind|tmpfs, source, target, ...}, from
    rocker.launcher.ocispec) under `rootfs`, parents before children (by target depth, stable),
    after /proc, /dev and /sys are in place. `copy_up`: the targets whose (volume) source is
    filled from the image when it is empty."""
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        forbidden = {(st.st_dev, st.st_ino) for st in _stats(root_fd, ("proc", "sys", "dev"))}
        for m in sorted(mounts, key=lambda m: depth(m["target"])):
            if m["kind"] == "tmpfs":
                _tmpfs(root_fd, m, forbidden)
            elif m["kind"] == "other":
                _other(root_fd, m, forbidden)
            else:
                _bind(root_fd, m, forbidden, m["target"] in copy_up)
    finally:
        os.close(root_fd)


def make_dirs(rootfs: str, path: str) -> None:
    """Create the folder `path` inside the root (a read-only root needs its working folder
    before it is made read-only)."""
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(open_in_root(root_fd, path, "dir"))
    except OSError as e:
        raise ContainerStartError(f"cannot use working directory {path}: "
                                  f"{e.strerror or e}") from None
    finally:
        os.close(root_fd)
