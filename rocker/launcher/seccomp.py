"""Seccomp: rocker's default profile (OCI form) and the compiler of OCI profiles to classic BPF.

The default refuses the system calls Docker's default profile refuses.

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

import errno
import platform
import struct

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
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME (linux/sched.h);
# written out so that the profile is built without loading ctypes (rocker.launcher.syscalls)
CLONE_NEW_MASK = (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 |
                  0x20000000 | 0x40000000 | 0x00000080)

# BPF opcodes
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06


def _ins(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


ALU_AND_K = 0x54
ACTIONS = {"SCMP_ACT_ALLOW": SECCOMP_RET_ALLOW, "SCMP_ACT_KILL": 0, "SCMP_ACT_KILL_THREAD": 0,
           "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
           "SCMP_ACT_LOG": 0x7FFC0000}
CLONE_NEW_FLAGS = sorted(b for b in (1 << i for i in range(32)) if b & CLONE_NEW_MASK)


def default_profile() -> dict:
    """rocker's default filter as an OCI seccomp profile (linux.seccomp of config.json): the
    deny list with EPERM, clone3 with ENOSYS (libc then falls back to clone), and clone with
    any namespace flag refused (one rule per flag: the rules of a profile are alternatives)."""
    rules = [{"names": sorted(DENIED), "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM},
             {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS}]
    for flag in CLONE_NEW_FLAGS:
        rules.append({"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM,
                      "args": [{"index": 0, "value": flag, "valueTwo": flag,
                                "op": "SCMP_CMP_MASKED_EQ"}]})
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": rules}


def _numbers() -> dict[str, int]:
    from rocker.launcher.syscall_table import X86_64
    return dict(X86_64, **DENIED, clone=NR_CLONE, clone3=NR_CLONE3)


NUMBERS = _numbers()
"""Names this compiler knows (x86_64, rocker.launcher.syscall_table); a profile's other names
are skipped, as runc skips the names libseccomp does not know."""


def _action(name: str, errno_ret: int | None) -> int:
    if name == "SCMP_ACT_ERRNO":
        return SECCOMP_RET_ERRNO | ((errno.EPERM if errno_ret is None else int(errno_ret)) & 0xFFFF)
    if name not in ACTIONS:
        raise ValueError(f"seccomp: unsupported action {name!r}")
    return ACTIONS[name]


def _cond(arg: dict, skip: int) -> list[bytes]:
    """Instructions that fall through when the argument condition holds and jump `skip`
    instructions past their end when it does not (low 32 bits of the argument)."""
    op, value, two = arg.get("op"), int(arg.get("value", 0)), int(arg.get("valueTwo", 0))
    index = int(arg["index"])
    if not 0 <= index <= 5 or value >> 32 or two >> 32:
        raise ValueError("seccomp: only 32-bit comparisons of arguments 0-5 are supported")
    load = _ins(LD_W_ABS, 0, 0, 16 + 8 * index)
    if op == "SCMP_CMP_MASKED_EQ":
        return [load, _ins(ALU_AND_K, 0, 0, value), _ins(JEQ_K, 0, skip, two)]
    if op == "SCMP_CMP_EQ":
        return [load, _ins(JEQ_K, 0, skip, value)]
    if op == "SCMP_CMP_NE":
        return [load, _ins(JEQ_K, skip, 0, value)]
    raise ValueError(f"seccomp: unsupported argument operator {op!r}")


def compile_profile(profile: dict) -> list[bytes]:
    """An OCI seccomp profile -> classic BPF (x86_64). Rules are tried in order; the first whose
    name and argument conditions match decides; then the default action. Other architectures
    and the x32 ABI get EPERM."""
    if "SCMP_ARCH_X86_64" not in (profile.get("architectures") or ["SCMP_ARCH_X86_64"]):
        raise ValueError("seccomp: the profile does not cover SCMP_ARCH_X86_64")
    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    prog = [
        _ins(LD_W_ABS, 0, 0, 4),                        # arch
        _ins(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        _ins(RET_K, 0, 0, eperm),
        _ins(LD_W_ABS, 0, 0, 0),                        # syscall number
        _ins(JGE_K, 0, 1, X32_SYSCALL_BIT),
        _ins(RET_K, 0, 0, eperm),
    ]
    for rule in profile.get("syscalls") or []:
        ret = _ins(RET_K, 0, 0, _action(rule["action"], rule.get("errnoRet")))
        args = rule.get("args") or []
        for name in rule.get("names") or []:
            if name not in NUMBERS:
                continue
            # built backwards: each jump skips what follows it in this block
            block = [ret]
            for arg in reversed(args):
                block = _cond(arg, len(block)) + block
            block = [_ins(LD_W_ABS, 0, 0, 0), _ins(JEQ_K, 0, len(block), NUMBERS[name])] + block
            if len(block) > 255:
                raise ValueError("seccomp: a rule is too long")
            prog += block
    prog.append(_ins(RET_K, 0, 0, _action(profile.get("defaultAction", "SCMP_ACT_ALLOW"),
                                          profile.get("defaultErrnoRet"))))
    return prog


def program(profile: dict | None = None) -> list[bytes]:
    """The filter as a list of sock_filter instructions (testable without installing it)."""
    return compile_profile(default_profile() if profile is None else profile)


def supported() -> bool:
    return platform.machine() == "x86_64"


def install(profile: dict | None = None) -> None:
    """Install the filter of `profile` (default: rocker's) on this thread and what it execs.
    Needs no_new_privs or CAP_SYS_ADMIN."""
    if not supported():
        return
    import ctypes

    from rocker.launcher import syscalls as sc
    code = b"".join(program(profile))
    buf = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = SockFprog(len(code) // 8, ctypes.addressof(buf))
    sc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
