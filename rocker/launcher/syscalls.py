"""The privileged system calls rocker makes, in one place (ctypes over libc).

mount (and the descriptor-based open_tree, move_mount, mount_setattr, fsopen/fsmount, openat2),
umount2, pivot_root, unshare, setns, sethostname, prctl, capset and the interface flag
ioctl. Python 3.11 has none of these in `os`. Everything that changes the kernel's view of
mounts, namespaces or privileges goes through this module, so the rest of the code can be read
(and unit-tested) without root. Each wrapper raises OSError with errno and the call's arguments.

ctypes and libc are loaded on the first call, not on import (about 2-3 ms): the CLI, which
only needs the constants, never loads them, and a process that will need them soon calls
load() ahead (the launcher's intermediate process does, through rocker.launcher.init, while
the monitor finishes the cgroup's set-up).
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

ctypes = None
"""The ctypes module, once load() has run."""
_libc = None
_types = None


def load():
    """Load ctypes and libc now (idempotent); returns libc."""
    global ctypes, _libc, _types
    if _libc is not None:
        return _libc
    import ctypes as ct
    try:
        lib = ct.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc: ask the loader (slower: it runs ldconfig)
        import ctypes.util
        lib = ct.CDLL(ct.util.find_library("c"), use_errno=True)
    lib.mount.argtypes = [ct.c_char_p, ct.c_char_p, ct.c_char_p, ct.c_ulong, ct.c_char_p]
    lib.umount2.argtypes = [ct.c_char_p, ct.c_int]
    lib.prctl.argtypes = [ct.c_int, ct.c_ulong, ct.c_ulong, ct.c_ulong, ct.c_ulong]

    class CapHeader(ct.Structure):
        _fields_ = [("version", ct.c_uint32), ("pid", ct.c_int)]

    class CapData(ct.Structure):
        _fields_ = [("effective", ct.c_uint32), ("permitted", ct.c_uint32),
                    ("inheritable", ct.c_uint32)]

    class OpenHow(ct.Structure):
        _fields_ = [("flags", ct.c_uint64), ("mode", ct.c_uint64), ("resolve", ct.c_uint64)]

    class MountAttr(ct.Structure):
        _fields_ = [("attr_set", ct.c_uint64), ("attr_clr", ct.c_uint64),
                    ("propagation", ct.c_uint64), ("userns_fd", ct.c_uint64)]

    _types = {"CapHeader": CapHeader, "CapData": CapData, "OpenHow": OpenHow,
              "MountAttr": MountAttr}
    ctypes, _libc = ct, lib
    return lib

# clone / unshare flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# prctl
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_SYS_pivot_root = 155  # x86_64
_SYS_capset = 126
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

def _check(ret: int, what: str) -> int:
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return ret


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    _check(load().mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
           f"mount {source or fstype} on {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(load().umount2(_b(target), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(load().syscall(_SYS_pivot_root, _b(new_root), _b(put_old)), f"pivot_root {new_root}")


def unshare(flags: int) -> None:
    _check(load().unshare(ctypes.c_int(flags)), f"unshare {flags:#x}")


def setns(fd: int, nstype: int = 0) -> None:
    _check(load().setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(load().sethostname(raw, ctypes.c_size_t(len(raw))), f"sethostname {name}")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(load().prctl(option, arg2, arg3, arg4, arg5), f"prctl {option}")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    load()
    hdr = _types["CapHeader"](_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_types["CapData"] * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.syscall(_SYS_capset, ctypes.byref(hdr), ctypes.byref(data)), "capset")


def drop_bounding_caps(keep: int) -> None:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except OSError:
        last = 40
    for cap in range(last + 1):
        if not keep & (1 << cap):
            prctl(PR_CAPBSET_DROP, cap)


def statfs_type(path: str) -> int:
    """f_type of the filesystem holding `path` (statfs(2); the first field on Linux)."""
    load()
    buf = ctypes.create_string_buffer(256)
    _check(_libc.statfs(_b(path), buf), f"statfs {path}")
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


def link_up(name: str = "lo") -> None:
    """Set an interface up with the SIOCSIFFLAGS ioctl (no netlink library needed)."""
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh", name.encode(), 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sh", name.encode(), flags | IFF_UP))


# -- the new mount API and openat2 (Linux 5.12+): mounts made on descriptors, never on paths ---

_SYS_open_tree, _SYS_move_mount, _SYS_fsopen, _SYS_fsconfig, _SYS_fsmount = 428, 429, 430, \
    431, 432
_SYS_openat2, _SYS_mount_setattr = 437, 442
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
FSOPEN_CLOEXEC = 1
FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MS_SHARED = 1 << 20
MS_UNBINDABLE = 1 << 17
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10


def _sys(num: int, what: str, *args) -> int:
    return _check(_libc.syscall(ctypes.c_long(num), *args), what)


def openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2): `path` below `dir_fd` with the given RESOLVE_* rules; a new descriptor."""
    load()
    how = _types["OpenHow"](flags | os.O_CLOEXEC, mode, resolve)
    return _sys(_SYS_openat2, f"open {path}", ctypes.c_int(dir_fd), _b(path), ctypes.byref(how),
                ctypes.c_size_t(ctypes.sizeof(how)))


def open_tree(dir_fd: int, path: str, flags: int) -> int:
    load()
    return _sys(_SYS_open_tree, f"open_tree {path or dir_fd}", ctypes.c_int(dir_fd), _b(path),
                ctypes.c_uint(flags))


def move_mount(from_fd: int, to_fd: int, what: str) -> None:
    """Attach the detached mount `from_fd` on the file or folder `to_fd` is open on."""
    load()
    _sys(_SYS_move_mount, f"mount {what}", ctypes.c_int(from_fd), b"", ctypes.c_int(to_fd),
         b"", ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH))


def mount_setattr(fd: int, attr_set: int = 0, propagation: int = 0, recursive: bool = True,
                  what: str = "") -> None:
    load()
    attr = _types["MountAttr"](attr_set, 0, propagation, 0)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    _sys(_SYS_mount_setattr, f"mount_setattr {what}", ctypes.c_int(fd), b"", ctypes.c_uint(flags),
         ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))


def fs_mount(fstype: str, options: dict[str, str], attrs: int, what: str) -> int:
    """A new detached mount of `fstype` (fsopen, fsconfig, fsmount): its descriptor."""
    load()
    fs = _sys(_SYS_fsopen, f"fsopen {fstype}", _b(fstype), ctypes.c_uint(FSOPEN_CLOEXEC))
    try:
        for key, value in options.items():
            _sys(_SYS_fsconfig, f"{fstype} option {key}={value} for {what}", ctypes.c_int(fs),
                 ctypes.c_uint(FSCONFIG_SET_STRING), _b(key), _b(value), ctypes.c_int(0))
        _sys(_SYS_fsconfig, f"creating the {fstype} for {what}", ctypes.c_int(fs),
             ctypes.c_uint(FSCONFIG_CMD_CREATE), None, None, ctypes.c_int(0))
        return _sys(_SYS_fsmount, f"fsmount {what}", ctypes.c_int(fs),
                    ctypes.c_uint(FSMOUNT_CLOEXEC), ctypes.c_uint(attrs))
    finally:
        os.close(fs)
