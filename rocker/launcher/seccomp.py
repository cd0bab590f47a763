"""The default seccomp filter: refuse the system calls Docker's default profile refuses.

A small classic-BPF deny list (x86_64), installed by init and by exec'd processes right before
execve, after no_new_privs. Denied calls fail with EPERM (clone3 with ENOSYS, so libc falls back
to clone, whose namespace flags are then checked): mount and friends, namespaces (unshare,
setns, clone with CLONE_NEW*), pivot_root, keyrings, kexec, bpf, perf_event_open, kernel
modules, reboot, swap, clock and time setting, open_by_handle_at, userfaultfd, io_uring, the
new mount API, and the x32 ABI. Everything else is allowed. Docker's profile is an allow list
with ~300 entries; this deny list covers the calls its documentation names as blocked.
On other architectures no filter is installed (the note in docs/containers.md says so).
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

from rocker.launcher import syscalls as sc

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
SECCOMP_MODE_FILTER = 2
PR_SET_SECCOMP = 22
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000

# x86_64 syscall numbers
DENIED = {
    "acct": 163, "add_key": 248, "adjtimex": 159, "bpf": 321, "clock_adjtime": 305,
    "clock_settime": 227, "create_module": 174, "delete_module": 176, "finit_module": 313,
    "fsconfig": 431, "fsmount": 432, "fsopen": 430, "fspick": 433, "get_kernel_syms": 177,
    "init_module": 175, "io_uring_enter": 426, "io_uring_register": 427, "io_uring_setup": 425,
    "ioperm": 173, "iopl": 172, "kexec_file_load": 320, "kexec_load": 246, "keyctl": 250,
    "lookup_dcookie": 212, "mount": 165, "mount_setattr": 442, "move_mount": 429,
    "name_to_handle_at": 303, "nfsservctl": 180, "open_by_handle_at": 304, "open_tree": 428,
    "perf_event_open": 298, "pivot_root": 155, "query_module": 178, "quotactl": 179,
    "reboot": 169, "request_key": 249, "setns": 308, "settimeofday": 164, "swapoff": 168,
    "swapon": 167, "_sysctl": 156, "umount2": 166, "unshare": 272, "uselib": 134,
    "userfaultfd": 323, "ustat": 136, "vhangup": 153,
}
NR_CLONE = 56
NR_CLONE3 = 435
CLONE_NEW_MASK = (sc.CLONE_NEWNS | sc.CLONE_NEWCGROUP | sc.CLONE_NEWUTS | sc.CLONE_NEWIPC |
                  sc.CLONE_NEWUSER | sc.CLONE_NEWPID | sc.CLONE_NEWNET | 0x00000080)  # +NEWTIME

# BPF opcodes
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06


def _ins(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def program() -> list[bytes]:
    """The filter as a list of sock_filter instructions (testable without installing it)."""
    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    enosys = SECCOMP_RET_ERRNO | errno.ENOSYS
    prog = [
        _ins(LD_W_ABS, 0, 0, 4),                        # arch
        _ins(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        _ins(RET_K, 0, 0, eperm),
        _ins(LD_W_ABS, 0, 0, 0),                        # syscall number
        _ins(JGE_K, 0, 1, X32_SYSCALL_BIT),
        _ins(RET_K, 0, 0, eperm),
        _ins(JEQ_K, 0, 1, NR_CLONE3),
        _ins(RET_K, 0, 0, enosys),
    ]
    nrs = sorted(set(DENIED.values()))
    for i, nr in enumerate(nrs):
        # jump to the shared "deny" return placed after the list
        to_deny = len(nrs) - i + 3
        prog.append(_ins(JEQ_K, to_deny, 0, nr))
    prog += [
        _ins(JEQ_K, 0, 4, NR_CLONE),                    # clone: look at its flags
        _ins(LD_W_ABS, 0, 0, 16),                       # args[0], low 32 bits
        _ins(JSET_K, 1, 0, CLONE_NEW_MASK),
        _ins(RET_K, 0, 0, SECCOMP_RET_ALLOW),
        _ins(RET_K, 0, 0, eperm),                       # the shared deny
        _ins(RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    return prog


def supported() -> bool:
    return platform.machine() == "x86_64"


def install() -> None:
    """Install the filter on this thread (and what it execs). Needs no_new_privs or
    CAP_SYS_ADMIN."""
    if not supported():
        return
    code = b"".join(program())
    buf = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = SockFprog(len(code) // 8, ctypes.addressof(buf))
    sc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
