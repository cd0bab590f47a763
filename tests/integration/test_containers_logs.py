"""`rocker logs`: streams, -t, --tail, --since, -f."""

from __future__ import annotations

import re
import subprocess
import time

from tests.integration.helpers import one_line_error, run_d, wait_exited, wait_for, wait_running

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) ")


def test_logs_of_detached_run(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c", "echo one; echo two")
    busybox("wait", cid)
    assert busybox("logs", cid).stdout == "one\ntwo\n"


def test_logs_streams_split(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c", "echo out1; echo err1 >&2; echo out2")
    busybox("wait", cid)
    p = busybox("logs", cid)
    assert p.stdout == "out1\nout2\n"
    assert p.stderr == "err1\n"


def test_logs_timestamps(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c", "echo a; echo b >&2")
    busybox("wait", cid)
    p = busybox("logs", "-t", cid)
    lines = p.stdout.splitlines() + p.stderr.splitlines()
    assert len(lines) == 2
    for ln in lines:
        assert TS.match(ln), ln
    assert p.stdout.splitlines()[0].endswith(" a")
    assert p.stderr.splitlines()[0].endswith(" b")


def test_logs_tail(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo l$i; done")
    busybox("wait", cid)
    assert busybox("logs", "--tail", "2", cid).stdout == "l4\nl5\n"
    assert busybox("logs", "-n", "0", cid).stdout == ""
    assert busybox("logs", "--tail", "all", cid).stdout.count("\n") == 5
    assert busybox("logs", "--tail", "99", cid).stdout.count("\n") == 5
    p = busybox("logs", "--tail", "x", cid, check=False)
    assert p.returncode != 0
    one_line_error(p)


def test_logs_since_duration(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c", "echo old; sleep 2.5; echo new; sleep 100")
    wait_for(lambda: "new" in busybox("logs", cid).stdout, 10)
    out = busybox("logs", "--since", "1s", cid).stdout
    assert out == "new\n", out
    assert busybox("logs", "--since", "1m", cid).stdout == "old\nnew\n"


def test_logs_since_rfc3339(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c", "echo x")
    busybox("wait", cid)
    assert busybox("logs", "--since", "2000-01-01T00:00:00Z", cid).stdout == "x\n"
    assert busybox("logs", "--since", "2999-01-01T00:00:00Z", cid).stdout == ""
    p = busybox("logs", "--since", "yesterday-ish", cid, check=False)
    assert p.returncode != 0
    one_line_error(p)


def test_logs_follow_until_exit(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c",
                "echo line1; sleep 0.5; echo line2; sleep 0.5; echo line3")
    t0 = time.monotonic()
    p = busybox("logs", "-f", cid, timeout=20)
    took = time.monotonic() - t0
    assert p.stdout == "line1\nline2\nline3\n"
    assert took < 8
    wait_exited(busybox, cid)


def test_logs_follow_streams_live(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c",
                "echo first; sleep 1; echo second; sleep 1; echo third")
    proc = busybox.popen("logs", "-f", cid, stdout=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        assert proc.stdout.readline() == "first\n"
        assert proc.stdout.readline() == "second\n"
        # the second line came while the container was still running
        assert time.monotonic() - t0 < 2.5
        assert proc.stdout.readline() == "third\n"
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_logs_follow_of_exited_container_returns(busybox):
    cid = run_d(busybox, "busybox", "echo", "done")
    busybox("wait", cid)
    p = busybox("logs", "-f", cid, timeout=10)
    assert p.stdout == "done\n"


def test_logs_follow_with_tail(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c", "echo a; echo b; echo c; sleep 1; echo d")
    wait_for(lambda: "c" in busybox("logs", cid).stdout, 5)
    p = busybox("logs", "-f", "--tail", "1", cid, timeout=15)
    assert p.stdout == "c\nd\n"


def test_logs_partial_line_and_long_lines(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c",
                "printf 'no-eol'; head -c 40000 /dev/zero | tr '\\0' x; echo")
    busybox("wait", cid)
    out = busybox("logs", cid).stdout
    assert out == "no-eol" + "x" * 40000 + "\n"


def test_logs_of_foreground_run_are_kept(busybox):
    busybox("run", "--name", "fgl", "busybox", "echo", "kept")
    assert busybox("logs", "fgl").stdout == "kept\n"


def test_logs_survive_restart_of_container(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c", "echo boot")
    busybox("wait", cid)
    busybox("start", cid)
    busybox("wait", cid)
    assert busybox("logs", cid).stdout == "boot\nboot\n"


def test_logs_unknown_container(busybox):
    p = busybox("logs", "nope", check=False)
    assert p.returncode != 0
    one_line_error(p)


def test_logs_while_running_ticks(busybox):
    busybox("run", "-d", "--name", "tk", "busybox", "sh", "-c",
            "while :; do echo tick; sleep 0.2; done")
    wait_running(busybox, "tk")
    wait_for(lambda: busybox("logs", "tk").stdout.count("tick") >= 3, 5)
