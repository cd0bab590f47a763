"""The launcher's reading of config.json, and OCI seccomp profiles compiled to BPF."""

import errno

import pytest

from rocker.errors import ContainerStartError
from rocker.launcher import ocispec, seccomp
from tests.unit.test_seccomp import run_filter

CFG = {
    "ociVersion": "1.2.0",
    "process": {"terminal": True, "user": {"uid": 1000, "gid": 100, "additionalGids": [5]},
                "args": ["sh"], "env": ["A=1"], "cwd": "/w",
                "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SETFCAP"]},
                "noNewPrivileges": True},
    "root": {"path": "/run/x/rootfs"},
    "hostname": "h",
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
               {"destination": "/sys/fs/cgroup", "type": "cgroup2", "source": "cgroup"},
               {"destination": "/etc/hosts", "type": "bind", "source": "/run/x/hosts"},
               {"destination": "/data", "type": "bind", "source": "/srv", "options": ["ro"]}],
    "linux": {"namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "pid"},
                             {"type": "network", "path": "/proc/42/ns/net"}],
              "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
              "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}},
    "annotations": {ocispec.OVERLAY_LOWER: "/l1:/l2", ocispec.OVERLAY_UPPER: "/u",
                    ocispec.OVERLAY_WORK: "/w"},
}


def test_to_launch_reads_what_the_config_says():
    s = ocispec.to_launch(CFG)
    assert (s["rootfs"], s["lower"], s["upper"], s["work"]) == ("/run/x/rootfs", ["/l1", "/l2"],
                                                                 "/u", "/w")
    assert s["mounts"] == [
        {"kind": "bind", "source": "/run/x/hosts", "target": "/etc/hosts", "readonly": False,
         "recursive": True, "propagation": ""},
        {"kind": "bind", "source": "/srv", "target": "/data", "readonly": True,
         "recursive": True, "propagation": ""}]
    assert s["copy_up"] == [] and s["readonly_root"] is False
    assert s["cgroup_mount"] == {"version": 2} and s["tty"] and s["hostname"] == "h"
    p = s["process"]
    assert (p["uid"], p["gid"], p["groups"], p["cwd"]) == (1000, 100, [5], "/w")
    assert p["cap_mask"] == (1 << 0) | (1 << 5) | (1 << 31) and p["no_new_privs"]
    assert s["masked_paths"] == ["/proc/kcore"] and s["readonly_paths"] == ["/proc/sys"]


def test_namespaces_are_made_or_joined_as_listed():
    s = ocispec.to_launch(CFG)
    assert s["namespaces"] == [{"type": "mount", "path": ""}, {"type": "uts", "path": ""},
                               {"type": "pid", "path": ""},
                               {"type": "network", "path": "/proc/42/ns/net"}]
    assert s["new_network"] is False  # joined, so `lo` is the other container's business
    own = dict(CFG, linux=dict(CFG["linux"], namespaces=[{"type": "mount"}, {"type": "uts"},
                                                          {"type": "network"}]))
    assert ocispec.to_launch(own)["new_network"] is True


@pytest.mark.parametrize("namespaces, message", [
    ([{"type": "time"}, {"type": "mount"}, {"type": "uts"}], "'time' is not supported"),
    ([{"type": "mount"}, {"type": "mount"}, {"type": "uts"}], "listed twice"),
    ([{"type": "uts"}, {"type": "mount"}, {"type": "uts", "path": "/proc/1/ns/uts"}],
     "listed twice"),
    ([{"type": "mount"}, {"type": "uts"}, {"type": "ipc", "path": "ns/ipc"}], "not absolute"),
    ([{"type": "mount"}], "hostname needs a uts namespace"),
])
def test_namespaces_the_launcher_cannot_honour_are_refused(namespaces, message):
    cfg = dict(CFG, linux=dict(CFG["linux"], namespaces=namespaces))
    with pytest.raises(ContainerStartError, match=message):
        ocispec.to_launch(cfg)


def test_capability_names_round_trip():
    assert ocispec.cap_mask(ocispec.cap_names(0xA80425FB)) == 0xA80425FB
    with pytest.raises(ContainerStartError, match="unknown capability"):
        ocispec.cap_mask(["CAP_NOPE"])


@pytest.mark.parametrize("bad", [
    {"mounts": [{"destination": "/x", "source": "a:/b"}]},
    {"root": {}},
    {"process": {"args": ["x"], "rlimits": [{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]}},
    {"mounts": [{"destination": "/proc", "type": "bind", "source": "/srv"}]},
    {"mounts": [{"destination": "/a/../proc/x", "type": "bind", "source": "/srv"}]},
    {"mounts": [{"destination": "//", "type": "tmpfs", "source": "tmpfs"}]},
    {"mounts": [{"destination": "rel", "type": "bind", "source": "/srv"}]},
    {"mounts": [{"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                 "options": ["huge=always"]}]},
])
def test_a_config_the_launcher_cannot_run_is_one_clear_error(bad):
    with pytest.raises(ContainerStartError, match="config.json"):
        ocispec.to_launch(dict(CFG, **bad))


def test_a_profile_with_argument_rules_and_a_default_errno():
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EACCES,
               "syscalls": [
                   {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 0x10000000, "op": "SCMP_CMP_NE"}]},
                   {"names": ["mount", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
               ]}
    prog = seccomp.compile_profile(profile)
    allow, eacces = seccomp.SECCOMP_RET_ALLOW, seccomp.SECCOMP_RET_ERRNO | errno.EACCES
    assert run_filter(seccomp.NR_CLONE, arg0=0x11, prog=prog) == allow
    assert run_filter(seccomp.NR_CLONE, arg0=0x10000000, prog=prog) == eacces
    assert run_filter(seccomp.DENIED["mount"], prog=prog) == allow
    assert run_filter(0, prog=prog) == eacces  # read: not listed, the default


@pytest.mark.parametrize("bad", [
    {"architectures": ["SCMP_ARCH_AARCH64"]},
    {"syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]},
    {"syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 0, "value": 1 << 40, "op": "SCMP_CMP_EQ"}]}]},
])
def test_profiles_the_compiler_cannot_express_are_refused(bad):
    with pytest.raises(ValueError, match="seccomp"):
        seccomp.compile_profile(dict({"defaultAction": "SCMP_ACT_ALLOW"}, **bad))
