"""Isolation: namespaces, the root filesystem and its mounts, masks, capabilities, fds."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from tests.integration.helpers import run_d, wait_running


def test_pid_namespace_shell_is_pid_1(busybox):
    assert busybox("run", "busybox", "sh", "-c", "echo $$; true").stdout == "1\n"


def test_ps_shows_only_container_processes(busybox):
    out = busybox("run", "busybox", "sh", "-c", "sleep 5 & ps -o pid,args; true").stdout
    lines = out.strip().splitlines()[1:]
    pids = [int(ln.split()[0]) for ln in lines]
    assert 1 in pids and len(pids) == 3, out
    assert max(pids) < 10, out
    assert any("sleep 5" in ln for ln in lines)
    assert not any("rocker" in ln or "python" in ln or "pytest" in ln for ln in lines), out
    # /proc only lists container pids
    procs = busybox("run", "busybox", "sh", "-c", "ls -d /proc/[0-9]*; true").stdout.split()
    assert len(procs) <= 3, procs


def test_uts_namespace(busybox):
    host = socket.gethostname()
    assert busybox("run", "-h", "inside-name", "busybox", "hostname").stdout == "inside-name\n"
    assert socket.gethostname() == host
    # without CAP_SYS_ADMIN the container cannot change it itself (as in Docker)
    p = busybox("run", "busybox", "sh", "-c", "hostname changed-inside 2>&1; hostname")
    assert "changed-inside" not in p.stdout.splitlines()[-1]
    with open("/proc/sys/kernel/hostname") as f:
        assert f.read().strip() == host


def test_ipc_namespace_hides_host_queue(busybox):
    out = subprocess.run(["ipcmk", "-Q"], capture_output=True, text=True, check=True).stdout
    qid = out.strip().split()[-1]
    try:
        host = subprocess.run(["ipcs", "-q"], capture_output=True, text=True).stdout
        assert qid in host
        with open("/proc/sysvipc/msg") as f:
            assert any(ln.split()[1] == qid for ln in f.readlines()[1:])
        # the image has no ipcs: /proc/sysvipc/msg is the namespace's queue list
        inside = busybox("run", "busybox", "cat", "/proc/sysvipc/msg").stdout
        assert len(inside.strip().splitlines()) == 1, inside  # the header only
        assert subprocess.run(["ipcs", "-q"], capture_output=True, text=True).stdout == host
    finally:
        subprocess.run(["ipcrm", "-q", qid], capture_output=True)


def test_network_namespace_only_lo_up(busybox):
    """--network none: a namespace of its own with only lo, up (the default network is in
    tests/integration/test_network.py)."""
    assert busybox("run", "--network", "none", "busybox", "ls",
                   "/sys/class/net").stdout.split() == ["lo"]
    out = busybox("run", "--network", "none", "busybox", "ip", "-o", "link").stdout
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert ": lo:" in lines[0] and "UP" in lines[0]
    assert busybox("run", "--network", "none", "busybox", "ping", "-c", "1", "-W", "2",
                   "127.0.0.1").returncode == 0


def _mounts(busybox) -> dict[str, tuple[str, set[str]]]:
    out = busybox("run", "busybox", "cat", "/proc/self/mounts").stdout
    table = {}
    for ln in out.splitlines():
        _src, target, fstype, opts, *_ = ln.split()
        table[target] = (fstype, set(opts.split(",")))
    return table


def test_container_mounts(busybox):
    m = _mounts(busybox)
    assert m["/"][0] == "overlay"
    assert m["/proc"][0] == "proc" and {"nosuid", "nodev", "noexec"} <= m["/proc"][1]
    assert m["/dev"][0] == "tmpfs" and "nosuid" in m["/dev"][1]
    assert m["/dev/pts"][0] == "devpts"
    assert m["/dev/shm"][0] == "tmpfs" and {"nosuid", "nodev", "noexec"} <= m["/dev/shm"][1]
    assert m["/dev/mqueue"][0] == "mqueue"
    assert m["/sys"][0] == "sysfs" and "ro" in m["/sys"][1]
    for f in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf"):
        assert f in m, f
    # the old root is gone: no host path is mounted anywhere
    assert not [t for t in m if t.startswith(("/tmp/pytest", "/work", "/var/lib/rocker"))]


def test_dev_nodes_and_links(busybox):
    out = busybox("run", "busybox", "sh", "-c",
                  "for d in null zero full random urandom tty; do "
                  "stat -c '%n %F %t:%T' /dev/$d; done; "
                  "for l in fd stdin ptmx; do readlink /dev/$l; done; "
                  "echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c").stdout
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                               ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)):
        assert f"/dev/{name} character special file {major:x}:{minor:x}" in out, out
    assert "/proc/self/fd\n" in out and "/proc/self/fd/0\n" in out and "pts/ptmx\n" in out
    assert "null-ok" in out
    assert out.rstrip().endswith("4")


def test_etc_files_exist(busybox):
    out = busybox("run", "-h", "etc-host", "busybox", "sh", "-c",
                  "cat /etc/hostname; grep -c etc-host /etc/hosts; grep localhost /etc/hosts; "
                  "test -f /etc/resolv.conf && echo resolv-ok").stdout
    lines = out.splitlines()
    assert lines[0] == "etc-host"
    assert lines[1] == "1"
    assert "127.0.0.1" in out
    assert "resolv-ok" in out


def test_sys_is_read_only(busybox):
    p = busybox("run", "busybox", "sh", "-c", "touch /sys/x 2>&1; echo rc=$?")
    assert "rc=0" not in p.stdout


def test_masked_paths(busybox):
    checks = []
    for path in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/interrupts",
                 "/proc/sched_debug", "/proc/latency_stats"):
        if os.path.exists(path):  # only what this host's kernel has
            checks.append(path)
    script = "; ".join(f"echo {p} $(cat {p} 2>/dev/null | wc -c)" for p in checks)
    out = busybox("run", "busybox", "sh", "-c", script).stdout
    for ln in out.splitlines():
        path, n = ln.split()
        assert n == "0", f"{path} is readable inside: {n} bytes"
    assert busybox("run", "busybox", "ls", "-A", "/proc/acpi").stdout == ""
    for d in ("/proc/scsi", "/proc/asound", "/sys/firmware"):
        if os.path.isdir(d):
            assert busybox("run", "busybox", "ls", "-A", d).stdout == "", d
    p = busybox("run", "busybox", "sh", "-c", "touch /proc/acpi/x 2>&1; echo rc=$?")
    assert "rc=0" not in p.stdout


def test_kcore_masked_if_present(busybox):
    if not os.path.exists("/proc/kcore"):
        pytest.skip("this kernel has no /proc/kcore")
    out = busybox("run", "busybox", "sh", "-c", "cat /proc/kcore | wc -c").stdout
    assert out.strip() == "0"


def test_proc_sys_read_only(busybox):
    p = busybox("run", "busybox", "sh", "-c",
                "echo 1 > /proc/sys/kernel/domainname 2>/dev/null; echo rc=$?")
    assert "rc=0" not in p.stdout
    assert "Read-only" in busybox("run", "busybox", "sh", "-c",
                                   "echo x > /proc/sys/vm/drop_caches; true").stderr
    p = busybox("run", "busybox", "sh", "-c", "echo h > /proc/sysrq-trigger 2>/dev/null; "
                "echo rc=$?")
    assert "rc=0" not in p.stdout


CAPS = "00000000a80425fb"


def test_capabilities_and_no_new_privs(busybox):
    out = busybox("run", "busybox", "cat", "/proc/self/status").stdout
    st = dict(ln.split(":\t", 1) for ln in out.splitlines() if ":\t" in ln)
    assert st["CapEff"].strip() == CAPS
    assert st["CapPrm"].strip() == CAPS
    assert st["CapBnd"].strip() == CAPS
    assert st["CapInh"].strip() == "0000000000000000"
    assert st["CapAmb"].strip() == "0000000000000000"
    assert st["NoNewPrivs"].strip() == "1"


def test_non_root_user_has_no_caps(busybox):
    out = busybox("run", "-u", "nobody", "busybox", "cat", "/proc/self/status").stdout
    st = dict(ln.split(":\t", 1) for ln in out.splitlines() if ":\t" in ln)
    assert st["CapEff"].strip() == "0000000000000000"
    assert st["CapPrm"].strip() == "0000000000000000"
    assert st["CapBnd"].strip() == CAPS


def test_dropped_capability_is_enforced(busybox):
    # CAP_SYS_ADMIN is not in the set: mount must fail; CAP_SYS_TIME: date -s must fail
    p = busybox("run", "busybox", "sh", "-c", "mount -t tmpfs t /mnt 2>&1; echo rc=$?")
    assert "rc=0" not in p.stdout
    p = busybox("run", "busybox", "sh", "-c", "hostname x 2>&1; echo rc=$?")
    # sethostname needs CAP_SYS_ADMIN too; Docker refuses it inside
    assert "rc=0" not in p.stdout


def test_only_std_fds_reach_the_process(busybox):
    out = busybox("run", "busybox", "sh", "-c", "ls /proc/$$/fd; true").stdout
    assert out.split() == ["0", "1", "2"]
    out = busybox("run", "-t", "busybox", "sh", "-c", "ls /proc/$$/fd; true").stdout
    assert out.split() == ["0", "1", "2"], out
    out = busybox("run", "-i", "busybox", "sh", "-c", "ls /proc/$$/fd; true", input="").stdout
    assert out.split() == ["0", "1", "2"]


def test_writes_do_not_change_the_image(busybox):
    busybox("run", "busybox", "sh", "-c", "echo x > /etc/newfile && rm /bin/ls && "
            "echo y >> /etc/passwd")
    p = busybox("run", "busybox", "sh", "-c",
                "test -e /etc/newfile; echo new=$?; test -e /bin/ls; echo ls=$?; "
                "grep -c '^y$' /etc/passwd; true")
    assert p.stdout.splitlines() == ["new=1", "ls=0", "0"]


def test_host_mount_table_unchanged(busybox):
    def table():
        with open("/proc/self/mountinfo") as f:
            return sorted(ln for ln in f if "rocker" not in ln)
    # warm up (first use may create nothing on the host either)
    before = table()
    busybox("run", "busybox", "sh", "-c", "mount -t tmpfs x /mnt 2>/dev/null; true")
    cid = run_d(busybox, "busybox", "sleep", "30")
    wait_running(busybox, cid)
    with open("/proc/self/mountinfo") as f:
        during = f.read()
    assert cid not in during, "the container's mounts are visible on the host"
    assert busybox.root not in during
    busybox("rm", "-f", cid)
    assert table() == before


def test_container_is_not_in_host_cgroup_namespace_view(busybox):
    out = busybox("run", "busybox", "cat", "/proc/self/cgroup").stdout
    # on v1 hierarchies with a cgroup namespace each line ends in "/"
    for ln in out.splitlines():
        assert ln.rsplit(":", 1)[1] == "/", out
