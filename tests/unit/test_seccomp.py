"""The default seccomp filter, run through a small classic-BPF interpreter (no root)."""

import errno
import struct

import pytest

from rocker.launcher import seccomp
from rocker.launcher import syscalls as sc


def run_filter(nr: int, arch: int = seccomp.AUDIT_ARCH_X86_64, arg0: int = 0,
               prog: list[bytes] | None = None) -> int:
    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    prog = [struct.unpack("HBBI", ins) for ins in (prog or seccomp.program())]
    pc, acc = 0, 0
    for _ in range(10000):
        code, jt, jf, k = prog[pc]
        if code == seccomp.LD_W_ABS:
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code == seccomp.RET_K:
            return k
        elif code == seccomp.ALU_AND_K:
            acc &= k
            pc += 1
        else:
            if code == seccomp.JEQ_K:
                cond = acc == k
            elif code == seccomp.JGE_K:
                cond = acc >= k
            elif code == seccomp.JSET_K:
                cond = bool(acc & k)
            else:
                raise AssertionError(f"unknown opcode {code:#x}")
            pc += 1 + (jt if cond else jf)
    raise AssertionError("no return")


EPERM = seccomp.SECCOMP_RET_ERRNO | errno.EPERM


@pytest.mark.parametrize("name", sorted(seccomp.DENIED))
def test_denied_calls_get_eperm(name):
    assert run_filter(seccomp.DENIED[name]) == EPERM


@pytest.mark.parametrize("nr", [0, 1, 2, 3, 59, 57, 61, 231, 157, 435 - 1])
def test_ordinary_calls_are_allowed(nr):
    assert run_filter(nr) == seccomp.SECCOMP_RET_ALLOW


def test_clone_with_namespace_flags_is_refused():
    assert run_filter(seccomp.NR_CLONE, arg0=0x11) == seccomp.SECCOMP_RET_ALLOW  # fork-like
    for flag in (sc.CLONE_NEWNS, sc.CLONE_NEWUSER, sc.CLONE_NEWNET, sc.CLONE_NEWPID):
        assert run_filter(seccomp.NR_CLONE, arg0=flag | 0x11) == EPERM


def test_clone3_says_enosys_and_x32_and_other_arches_are_refused():
    assert run_filter(seccomp.NR_CLONE3) == seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS
    assert run_filter(seccomp.X32_SYSCALL_BIT | 1) == EPERM
    assert run_filter(0, arch=0x40000003) == EPERM
