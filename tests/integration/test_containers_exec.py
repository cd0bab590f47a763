"""`rocker exec`: exit codes, options, namespaces and cgroup, refusal when stopped."""

from __future__ import annotations

import os
import time

from tests.integration.helpers import Pty, one_line_error, run_d, state, wait_for, wait_running


def _box(busybox, name="x", *extra):
    cid = run_d(busybox, "--name", name, *extra, "busybox", "sh", "-c",
                "trap 'exit 0' TERM; while :; do sleep 0.2; done")
    wait_running(busybox, name)
    return cid


def test_exec_output_and_exit_code(busybox):
    _box(busybox)
    assert busybox("exec", "x", "echo", "hi").stdout == "hi\n"
    assert busybox("exec", "x", "sh", "-c", "exit 13", check=False).returncode == 13
    p = busybox("exec", "x", "sh", "-c", "echo e >&2")
    assert p.stderr == "e\n" and p.stdout == ""
    p = busybox("exec", "x", "no-such-cmd", check=False)
    assert p.returncode == 127 and "no-such-cmd" in one_line_error(p)
    p = busybox("exec", "x", "/etc/passwd", check=False)
    assert p.returncode == 126
    one_line_error(p)
    # several args are an exact argv
    assert busybox("exec", "x", "sh", "-c", 'echo "$1"', "_", "a  b").stdout == "a  b\n"


def test_exec_sees_container_processes_and_is_in_its_pid_namespace(busybox):
    _box(busybox)
    out = busybox("exec", "x", "ps", "aux").stdout
    rows = out.strip().splitlines()[1:]
    assert rows[0].split()[0] == "1"
    assert all(int(r.split()[0]) < 50 for r in rows), out
    assert not any("python" in r or "pytest" in r for r in rows)
    assert busybox("exec", "x", "sh", "-c", "test $$ -gt 1 && echo ok").stdout == "ok\n"


def test_exec_joins_the_cgroup_and_namespaces(busybox):
    _box(busybox)
    pid = state(busybox, "x")["Pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        init_cg = sorted(f.read().splitlines())
    # inside (cgroup namespace view): the same lines as PID 1's
    out = busybox("exec", "x", "sh", "-c", "cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup"
                  ).stdout
    mine, init = out.split("---\n")
    assert sorted(mine.splitlines()) == sorted(init.splitlines())
    assert all(ln.endswith(":/") for ln in mine.splitlines()), mine
    # from the host: an exec'd process is in exactly the init's cgroups
    busybox("exec", "-d", "x", "sleep", "77")
    hp = wait_for(lambda: [int(p) for p in os.listdir("/proc") if p.isdigit() and
                           _cmdline(p) == "sleep\x0077\x00"], 5, what="exec'd sleep on host")
    with open(f"/proc/{hp[0]}/cgroup") as f:
        assert sorted(f.read().splitlines()) == init_cg
    assert os.readlink(f"/proc/{hp[0]}/ns/pid") == os.readlink(f"/proc/{pid}/ns/pid")
    for ns in ("mnt", "uts", "ipc", "net", "pid", "cgroup"):
        inside = busybox("exec", "x", "readlink", f"/proc/self/ns/{ns}").stdout.strip()
        assert inside == os.readlink(f"/proc/{pid}/ns/{ns}"), ns
    # the container's rootfs (not the host's)
    assert busybox("exec", "x", "cat", "/etc/hostname").stdout.strip() == \
        inspect_hostname(busybox)


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read()
    except OSError:
        return ""


def inspect_hostname(busybox):
    import json
    return json.loads(busybox("inspect", "x").stdout)[0]["Config"]["Hostname"]


def test_exec_environment_options(busybox):
    _box(busybox, "x", "-e", "CONT=1")
    env = busybox("exec", "-e", "EXTRA=2", "-e", "CONT=over", "x", "env").stdout.splitlines()
    assert "EXTRA=2" in env and "CONT=over" in env
    env = busybox("exec", "x", "env").stdout.splitlines()
    assert "CONT=1" in env
    assert busybox("exec", "-w", "/etc", "x", "pwd").stdout == "/etc\n"
    assert busybox("exec", "-u", "nobody", "x", "id", "-u").stdout == "65534\n"
    assert busybox("exec", "-u", "33:33", "x", "id", "-g").stdout == "33\n"
    p = busybox("exec", "-u", "nosuchuser", "x", "id", check=False)
    assert p.returncode == 125 and "nosuchuser" in one_line_error(p)
    out = busybox("exec", "-u", "nobody", "x", "grep", "CapEff", "/proc/self/status").stdout
    assert out.split()[1] == "0000000000000000"
    out = busybox("exec", "x", "cat", "/proc/self/status").stdout
    assert "00000000a80425fb" in out.split("CapEff:")[1].split("\n")[0]
    assert "NoNewPrivs:\t1" in out


def test_exec_only_std_fds(busybox):
    _box(busybox)
    assert busybox("exec", "x", "sh", "-c", "ls /proc/$$/fd; true").stdout.split() == \
        ["0", "1", "2"]


def test_exec_detach(busybox):
    _box(busybox)
    t0 = time.monotonic()
    p = busybox("exec", "-d", "x", "sh", "-c", "sleep 1; touch /tmp/detached-done")
    assert p.returncode == 0
    assert time.monotonic() - t0 < 1.0
    wait_for(lambda: busybox("exec", "x", "sh", "-c", "test -f /tmp/detached-done && echo y"
                             ).stdout == "y\n", 5)


def test_exec_stdin(busybox):
    _box(busybox)
    assert busybox("exec", "-i", "x", "cat", input="piped\n").stdout == "piped\n"


def test_exec_into_stopped_container_refused(busybox):
    busybox("run", "--name", "gone", "busybox", "true")
    p = busybox("exec", "gone", "true", check=False)
    assert p.returncode != 0
    assert "not running" in one_line_error(p)
    p = busybox("exec", "nosuch", "true", check=False)
    assert p.returncode != 0
    one_line_error(p)


def test_exec_does_not_outlive_container_stop(busybox):
    _box(busybox)
    proc = busybox.popen("exec", "x", "sleep", "60")
    try:
        wait_for(lambda: "sleep 60" in busybox("exec", "x", "ps").stdout, 5)
        busybox("stop", "-t", "1", "x")
        assert proc.wait(timeout=10) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_exec_it_via_pty(busybox):
    _box(busybox)
    t = Pty(busybox, "exec", "-it", "x", "sh")
    try:
        t.expect("#", 10)
        t.send("tty; echo MARK$((40+2))\r")
        before = t.expect("MARK42", 10)
        assert b"/dev/pts/" in before
        t.send("exit 5\r")
        assert t.wait(10) == 5
    finally:
        t.close()


def test_exec_it_window_size(busybox):
    _box(busybox)
    t = Pty(busybox, "exec", "-it", "x", "sh", rows=27, cols=91)
    try:
        t.expect("#", 10)
        t.send("stty size; echo E$((1+1))ND\r")
        t.expect("E$((1+1))ND", 10)
        assert b"27 91" in t.expect("E2ND", 10)
        t.send("exit\r")
        assert t.wait(10) == 0
    finally:
        t.close()


def test_exec_user_env_home(busybox):
    _box(busybox)
    # HOME from the image's /etc/passwd
    assert busybox("exec", "-u", "nobody", "x", "sh", "-c", "echo $HOME").stdout == \
        "/nonexistent\n"
    assert busybox("exec", "x", "sh", "-c", "echo $HOME").stdout == "/root\n"
