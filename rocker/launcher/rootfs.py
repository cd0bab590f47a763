"""The container's root filesystem: overlay, /proc, /dev, /sys, per-container /etc files, masks.

Runs inside the container's fresh mount namespace (in the init process, before the user's command
exists). /proc, /dev and /sys must be real folders of the image (never symlinks); every other
mount (volumes, binds, tmpfs, rocker's /etc files) is made by rocker.launcher.mounts on a target
resolved inside the root (openat2 RESOLVE_IN_ROOT), so an image that ships
`/etc/hosts -> /etc/shadow`, or a container that swaps a shared volume's folder for a symlink,
can never make rocker mount over or create anything outside the container. Finally the
process pivots into the new root and detaches the old one (with root.readonly, the overlay is
made read-only just before).
"""

from __future__ import annotations

import errno
import os
import stat

from rocker.launcher import mounts
from rocker.launcher import syscalls as sc
from rocker.launcher.ocispec import DEVICES, MASKED_PATHS, READONLY_PATHS

# what runc and Docker mount by default (../shared/reference/runtime-defaults.md)
DEV_LINKS = [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
             ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")]
NOSUID_NOEXEC_NODEV = sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV
PROC_SUPER_MAGIC = 0x9FA0
SYSFS_MAGIC = 0x62656572
TMPFS_MAGIC = 0x01021994


def _real_dir(rootfs: str, name: str) -> str:
    """The image's /proc, /sys or /dev, which must be a real directory (or absent).

    An image that makes one of them a symlink would move rocker's mounts, and with them the
    masked and read-only paths, somewhere else (runc CVE-2025-31133 and relatives): refuse.
    """
    from rocker.errors import ContainerStartError
    path = os.path.join(rootfs, name)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        os.mkdir(path, 0o755)
        return path
    if not stat.S_ISDIR(st.st_mode):
        raise ContainerStartError(f"the image's /{name} is not a directory (a symlink or a "
                                  "file): refusing to start")
    return path


def _check_fs(path: str, magic: int, what: str) -> None:
    if sc.statfs_type(path) != magic:
        raise OSError(errno.EPERM, f"{path} is not {what} after mounting it: refusing to start")


def mount_overlay(rootfs: str, lower: list[str], upper: str, work: str) -> None:
    opts = f"lowerdir={':'.join(lower)},upperdir={upper},workdir={work}"
    if len(opts) > 4000:  # the mount data page: use paths relative to a common folder
        common = os.path.commonpath(lower)
        os.chdir(common)
        rel = [os.path.relpath(p, common) for p in lower]
        opts = f"lowerdir={':'.join(rel)},upperdir={upper},workdir={work}"
    # nodev: device nodes shipped in image layers are never usable (the container's /dev is
    # rocker's own tmpfs); this also covers cgroup v2 hosts, which have no device cgroup
    sc.mount("overlay", rootfs, "overlay", sc.MS_NODEV, opts)


def _mount_dev(rootfs: str, tty: bool, userns: bool = False) -> None:
    dev = _real_dir(rootfs, "dev")
    sc.mount("tmpfs", dev, "tmpfs", sc.MS_NOSUID | sc.MS_STRICTATIME, "mode=755,size=65536k")
    _check_fs(dev, TMPFS_MAGIC, "a tmpfs")
    old = os.umask(0)
    try:
        for name, major, minor in DEVICES:
            _make_device(os.path.join(dev, name), stat.S_IFCHR, major, minor, 0o666, userns)
    finally:
        os.umask(old)
    for name, target in DEV_LINKS:
        os.symlink(target, os.path.join(dev, name))
    for d, mode in (("pts", 0o755), ("shm", 0o1777), ("mqueue", 0o755)):
        os.mkdir(os.path.join(dev, d))
        os.chmod(os.path.join(dev, d), mode)
    sc.mount("devpts", os.path.join(dev, "pts"), "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620,gid=5")
    sc.mount("shm", os.path.join(dev, "shm"), "tmpfs", NOSUID_NOEXEC_NODEV,
             "mode=1777,size=65536k")
    sc.mount("mqueue", os.path.join(dev, "mqueue"), "mqueue", NOSUID_NOEXEC_NODEV)
    if tty:
        fd = os.open(os.path.join(dev, "console"), os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        os.close(fd)


def _make_device(target: str, kind: int, major: int, minor: int, mode: int,
                 userns: bool) -> None:
    """A device node; in a user namespace (where mknod is refused) the host's own node is
    bind-mounted on an empty file instead, as runc does."""
    if not userns:
        os.mknod(target, mode | kind, os.makedev(major, minor))
        return
    host = _host_device(kind, major, minor)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    sc.mount(host, target, None, sc.MS_BIND)


def _host_device(kind: int, major: int, minor: int) -> str:
    """The host's node for a device (a user namespace cannot make one)."""
    for name, ma, mi in DEVICES:
        if (ma, mi) == (major, minor) and kind == stat.S_IFCHR:
            return "/dev/" + name
    letter = "char" if kind == stat.S_IFCHR else "block"
    path = f"/dev/{letter}/{major}:{minor}"
    if os.path.exists(path):
        return path
    raise OSError(errno.EPERM, f"device {major}:{minor}: no host node to bind in a user "
                               "namespace")


def make_devices(rootfs: str, devices: list[dict], userns: bool) -> None:
    """linux.devices: nodes made in the container (an existing one is replaced), each below
    its parent folder resolved inside the root (rocker.launcher.mounts.open_in_root)."""
    kinds = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
    if not devices:
        return
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    old = os.umask(0)
    try:
        for d in devices:
            parent, name = os.path.split("/" + d["path"].strip("/"))
            if not name or name in (".", ".."):
                raise OSError(errno.EINVAL, f"device path {d['path']!r} names no file")
            pfd = mounts.open_in_root(root_fd, parent, "dir")
            try:
                try:
                    os.unlink(name, dir_fd=pfd)
                except FileNotFoundError:
                    pass
                kind, mode = kinds[d["type"]], d["mode"] & 0o7777
                if kind == stat.S_IFIFO:
                    os.mkfifo(name, mode, dir_fd=pfd)
                elif not userns:
                    os.mknod(name, mode | kind, os.makedev(d["major"], d["minor"]), dir_fd=pfd)
                else:  # no mknod in a user namespace: the host's node, bind-mounted
                    os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                     | os.O_CLOEXEC, 0o600, dir_fd=pfd))
                    nfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
                    try:
                        sc.mount(_host_device(kind, d["major"], d["minor"]),
                                 mounts.fd_path(nfd), None, sc.MS_BIND)
                    finally:
                        os.close(nfd)
                if not userns:
                    os.chown(name, d["uid"], d["gid"], dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(pfd)
    finally:
        os.umask(old)
        os.close(root_fd)


def write_sysctl(rootfs: str, sysctl: dict) -> None:
    """linux.sysctl, through the container's own /proc (namespaced keys land in its
    namespaces) before /proc/sys is made read-only."""
    for key, value in sysctl.items():
        rel = key.replace(".", "/")
        if ".." in rel.split("/"):
            raise OSError(errno.EINVAL, f"sysctl {key}: invalid name")
        path = os.path.join(rootfs, "proc/sys", rel)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise OSError(e.errno, f"sysctl {key}: {e.strerror}") from None
        try:
            os.write(fd, str(value).encode())
        except OSError as e:
            raise OSError(e.errno, f"sysctl {key}={value}: {e.strerror}") from None
        finally:
            os.close(fd)


def _mount_cgroups(target: str, cg: dict) -> None:
    """/sys/fs/cgroup, read-only; the cgroup namespace makes the container's cgroup its root."""
    if not os.path.isdir(target) or not cg:
        return
    ro = NOSUID_NOEXEC_NODEV | sc.MS_RDONLY
    if cg.get("version") == 2:
        sc.mount("cgroup2", target, "cgroup2", ro)
        return
    sc.mount("tmpfs", target, "tmpfs", NOSUID_NOEXEC_NODEV, "mode=755")
    for name, controllers in sorted(cg.get("hierarchies", {}).items()):
        d = os.path.join(target, name)
        os.mkdir(d, 0o755)
        sc.mount("cgroup", d, "cgroup", ro, controllers)
    sc.mount("tmpfs", target, None, sc.MS_REMOUNT | ro, "mode=755")


def _mask(rootfs: str, masked: list[str], readonly: list[str]) -> None:
    null = os.path.join(rootfs, "dev/null")
    st = os.lstat(null)
    if not stat.S_ISCHR(st.st_mode) or os.major(st.st_rdev) != 1 or os.minor(st.st_rdev) != 3:
        raise OSError(errno.EPERM, "/dev/null is not the null device: refusing to mask paths")
    # /proc and /sys are rocker's own mounts on real directories (see _real_dir), so these
    # paths are the kernel's, not the image's
    for path in masked:
        target = os.path.join(rootfs, path.lstrip("/"))
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            sc.mount("tmpfs", target, "tmpfs", sc.MS_RDONLY, "size=0,mode=755")
        else:
            sc.mount(null, target, None, sc.MS_BIND)
    for path in readonly:
        target = os.path.join(rootfs, path.lstrip("/"))
        if not os.path.lexists(target):
            continue
        sc.mount(target, target, None, sc.MS_BIND | sc.MS_REC)
        sc.mount(target, target, None,
                 sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | NOSUID_NOEXEC_NODEV)


def setup(spec: dict) -> None:
    """Build the container's mounts under spec['rootfs'] (mount namespace already unshared)."""
    rootfs = spec["rootfs"]
    userns = spec.get("userns", False)
    # slave when a mount asks for slave or shared propagation: the host's mount events still
    # reach it, nothing made here goes back (the host's mount table never changes)
    slave = spec.get("rootfs_propagation") in ("slave", "rslave", "shared", "rshared")
    sc.mount(None, "/", None, sc.MS_REC | (sc.MS_SLAVE if slave else sc.MS_PRIVATE))
    if spec.get("lower") is None:  # an OCI bundle's own root (rocker.ociruntime)
        sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    else:
        os.makedirs(rootfs, exist_ok=True)
        mount_overlay(rootfs, spec["lower"], spec["upper"], spec["work"])
    os.chdir("/")
    proc = _real_dir(rootfs, "proc")
    sc.mount("proc", proc, "proc", NOSUID_NOEXEC_NODEV)
    _check_fs(proc, PROC_SUPER_MAGIC, "procfs")
    _mount_dev(rootfs, spec.get("tty", False), userns)
    sys_dir = _real_dir(rootfs, "sys")
    sc.mount("sysfs", sys_dir, "sysfs", NOSUID_NOEXEC_NODEV | sc.MS_RDONLY)
    _check_fs(sys_dir, SYSFS_MAGIC, "sysfs")
    _mount_cgroups(os.path.join(sys_dir, "fs/cgroup"), spec.get("cgroup_mount") or {})
    # volumes, binds, tmpfs mounts, other filesystems and rocker's /etc files, each resolved
    # inside the root
    mounts.make_all(rootfs, spec.get("mounts", []), frozenset(spec.get("copy_up") or ()))
    make_devices(rootfs, spec.get("devices") or [], userns)
    write_sysctl(rootfs, spec.get("sysctl") or {})
    _mask(rootfs, spec.get("masked_paths", MASKED_PATHS),
          spec.get("readonly_paths", READONLY_PATHS))


def make_readonly(spec: dict) -> None:
    """root.readonly: the overlay itself read-only (its sub-mounts, /dev and the /etc files
    among them, stay as they are), after its last change (the working folder made)."""
    if not spec.get("readonly_root"):
        return
    mounts.make_dirs(spec["rootfs"], spec["process"].get("cwd") or "/")
    sc.mount(None, spec["rootfs"], None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY)


def bind_console(rootfs: str, slave_path: str) -> None:
    sc.mount(slave_path, os.path.join(rootfs, "dev/console"), None, sc.MS_BIND)


def pivot(rootfs: str, propagation: str = "") -> None:
    """Enter the new root with pivot_root (not chroot) and detach the old root entirely;
    then linux.rootfsPropagation, as given, on the new root."""
    os.chdir(rootfs)
    sc.pivot_root(".", ".")
    sc.umount(".", sc.MNT_DETACH)
    os.chdir("/")
    if propagation:
        from rocker.launcher.ocispec import PROPAGATION
        sc.mount(None, "/", None, PROPAGATION[propagation])
