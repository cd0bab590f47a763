"""Lifecycle verbs as in Docker: run -d, logs, exec, stop, ps, rm, start, restart, wait, kill,
inspect, names and ID prefixes."""

from __future__ import annotations

import datetime
import json
import os
import re
import time

from tests.integration.helpers import (alive, assert_fully_removed, cgroup_dirs, inspect,
                                       one_line_error, ps_json, run_d, state, wait_exited,
                                       wait_for, wait_log, wait_running)

TICKER = "while :; do echo tick; sleep 1; done"


def test_done_when_scenario(busybox):
    """The issue's scenario: run -d, logs, exec ps, stop (PID 1 ignores TERM), ps -a, rm."""
    cid = busybox("run", "-d", "--name", "w", "busybox", "sh", "-c",
                  'trap "" TERM; ' + TICKER).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    wait_log(busybox, "w", "tick")
    assert set(busybox("logs", "w").stdout.splitlines()) == {"tick"}
    out = busybox("exec", "w", "ps").stdout
    rows = out.strip().splitlines()[1:]
    assert rows[0].split()[0] == "1" and "sh -c" in rows[0]
    assert all(int(r.split()[0]) < 20 for r in rows), out
    t0 = time.monotonic()
    p = busybox("stop", "-t", "2", "w")
    took = time.monotonic() - t0
    assert p.stdout.strip() == "w"
    assert 1.5 < took < 4.5, took
    st = state(busybox, "w")
    assert st["Status"] == "exited" and st["ExitCode"] == 137 and st["Pid"] == 0
    table = busybox("ps", "-a").stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "PID", "STATUS", "COMMAND", "CREATED"]
    row = [ln for ln in table[1:] if " w " in ln][0]
    assert "Exited (137)" in row and cid[:12] in row
    assert busybox("ps", "-q").stdout == ""
    busybox("rm", "w")
    assert busybox("ps", "-aq").stdout == ""
    assert_fully_removed(busybox, cid)


def test_stop_sends_term_first(busybox):
    busybox("run", "-d", "--name", "t", "busybox", "sh", "-c",
            "trap 'echo bye; exit 7' TERM; while :; do sleep 0.1; done")
    wait_running(busybox, "t")
    t0 = time.monotonic()
    busybox("stop", "t")
    assert time.monotonic() - t0 < 3
    st = state(busybox, "t")
    assert st["ExitCode"] == 7
    assert "bye" in busybox("logs", "t").stdout


def test_stop_kills_every_process_of_the_container(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c", "trap '' TERM; sleep 1001 & sleep 1002 & "
                "while :; do sleep 0.2; done")
    wait_running(busybox, cid)
    wait_for(lambda: "sleep 1002" in busybox("exec", cid, "ps").stdout, 5)
    procs = os.path.join(cgroup_dirs(cid)[0], "cgroup.procs")
    with open(procs) as f:
        pids = [int(x) for x in f.read().split()]
    assert len(pids) >= 4
    busybox("stop", "-t", "1", cid)
    assert [p for p in pids if alive(p)] == []


def test_stop_signal_and_timeout_options(busybox):
    busybox("run", "-d", "--name", "s", "--stop-signal", "USR1", "--stop-timeout", "1",
            "busybox", "sh", "-c", "trap 'exit 5' USR1; trap '' TERM; "
            "while :; do sleep 0.1; done")
    wait_running(busybox, "s")
    busybox("stop", "s")
    assert state(busybox, "s")["ExitCode"] == 5
    cfg = inspect(busybox, "s")["Config"]
    assert cfg["StopSignal"] == "SIGUSR1" and cfg["StopTimeout"] == 1


def test_stop_of_a_stopped_container_is_ok(busybox):
    busybox("run", "--name", "done", "busybox", "true")
    p = busybox("stop", "done", check=False)
    assert p.returncode == 0
    assert state(busybox, "done")["ExitCode"] == 0


def test_rm_of_running_refused_then_force(busybox):
    cid = run_d(busybox, "--name", "r", "busybox", "sleep", "100")
    p = busybox("rm", "r", check=False)
    assert p.returncode != 0
    err = one_line_error(p)
    assert "running" in err and "-f" in err
    assert state(busybox, "r")["Status"] == "running"
    pid = state(busybox, "r")["Pid"]
    busybox("rm", "-f", "r")
    assert not alive(pid)
    assert_fully_removed(busybox, cid)
    p = busybox("rm", "r", check=False)
    assert p.returncode != 0 and "no such container" in one_line_error(p).lower()


def test_start_an_exited_container(busybox):
    busybox("run", "--name", "again", "busybox", "sh", "-c", "echo run; date +%s%N")
    first = state(busybox, "again")
    assert first["ExitCode"] == 0
    assert busybox("start", "again").stdout.strip() == "again"
    assert busybox("wait", "again").stdout.strip() == "0"
    logs = busybox("logs", "again").stdout.splitlines()
    assert logs.count("run") == 2
    second = state(busybox, "again")
    assert second["StartedAt"] > first["StartedAt"]
    # start -a attaches and returns the exit code
    p = busybox("start", "-a", "again", check=False)
    assert p.returncode == 0 and p.stdout.startswith("run\n")


def test_start_of_a_running_container_is_refused(busybox):
    run_d(busybox, "--name", "up", "busybox", "sleep", "100")
    p = busybox("start", "up", check=False)
    assert p.returncode != 0
    assert "running" in one_line_error(p)


def test_start_a_created_container(busybox):
    cid = busybox("create", "--name", "cr", "busybox", "echo", "created").stdout.strip()
    assert state(busybox, "cr")["Status"] == "created"
    assert "Created" in busybox("ps", "-a").stdout
    busybox("start", "cr")
    assert busybox("wait", cid).stdout.strip() == "0"
    assert busybox("logs", "cr").stdout == "created\n"


def test_restart(busybox):
    busybox("run", "-d", "--name", "rs", "busybox", "sh", "-c", "echo start; sleep 100")
    st1 = wait_running(busybox, "rs")
    wait_log(busybox, "rs", "start")
    t0 = time.monotonic()
    busybox("restart", "-t", "1", "rs")
    assert time.monotonic() - t0 < 5
    st2 = wait_running(busybox, "rs")
    assert st2["Pid"] != st1["Pid"]
    assert not alive(st1["Pid"])
    wait_for(lambda: busybox("logs", "rs").stdout.count("start") == 2, 5)
    # restart of an exited container starts it
    busybox("stop", "-t", "0", "rs")
    busybox("restart", "rs")
    wait_running(busybox, "rs")


def test_wait_prints_exit_code(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c", "sleep 0.5; exit 3")
    t0 = time.monotonic()
    p = busybox("wait", cid)
    assert p.stdout.strip() == "3"
    assert time.monotonic() - t0 > 0.2
    # wait on an already exited container returns at once
    assert busybox("wait", cid).stdout.strip() == "3"
    a = run_d(busybox, "busybox", "sh", "-c", "exit 1")
    b = run_d(busybox, "busybox", "sh", "-c", "exit 2")
    assert busybox("wait", a, b).stdout.split() == ["1", "2"]


def test_kill_with_signal(busybox):
    busybox("run", "-d", "--name", "k", "busybox", "sh", "-c",
            "trap 'echo got TERM; exit 9' TERM; while :; do sleep 0.1; done")
    wait_running(busybox, "k")
    busybox("kill", "-s", "TERM", "k")
    assert busybox("wait", "k").stdout.strip() == "9"
    assert "got TERM" in busybox("logs", "k").stdout
    busybox("run", "-d", "--name", "k2", "busybox", "sleep", "100")
    wait_running(busybox, "k2")
    busybox("kill", "k2")  # SIGKILL by default
    assert busybox("wait", "k2").stdout.strip() == "137"
    p = busybox("kill", "k2", check=False)
    assert p.returncode != 0 and "not running" in one_line_error(p)
    p = busybox("kill", "-s", "NOSUCHSIG", "k2", check=False)
    assert p.returncode != 0
    one_line_error(p)


def _rfc3339(s: str) -> datetime.datetime:
    s = re.sub(r"\.(\d{6})\d*", r".\1", s).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(s)


def test_inspect_fields(busybox):
    before = datetime.datetime.now(datetime.timezone.utc)
    cid = run_d(busybox, "--name", "ins", "-e", "A=1", "-l", "x=y", "busybox", "sleep", "100")
    info = inspect(busybox, "ins")
    st = info["State"]
    assert info["Id"] == cid and info["Name"] == "ins"
    assert st["Status"] == "running" and st["Running"] is True
    assert st["Pid"] > 1 and alive(st["Pid"])
    assert st["MonitorPid"] > 1 and alive(st["MonitorPid"])
    assert st["OOMKilled"] is False
    assert st["ExitCode"] in (None, 0)
    started = _rfc3339(st["StartedAt"])
    assert before - datetime.timedelta(seconds=2) < started < before + datetime.timedelta(
        seconds=30)
    assert info["Image"].startswith("sha256:")
    assert info["ImageName"] == "busybox:latest"  # stored canonical
    assert info["Mounts"] == []  # as Docker: volumes and binds only
    assert info["GraphDriver"]["Data"]["UpperDir"].endswith("/upper")
    assert info["HostsPath"].endswith("/hosts")
    assert "A=1" in info["Config"]["Env"]
    assert info["Config"]["Labels"]["x"] == "y"
    assert info["Path"] == "sleep" and info["Args"] == ["100"]
    # the PID really is the container's init: its pid namespace differs from ours
    assert os.readlink(f"/proc/{st['Pid']}/ns/pid") != os.readlink("/proc/self/ns/pid")
    busybox("stop", "-t", "0", "ins")
    st = state(busybox, "ins")
    assert st["Running"] is False and st["Pid"] == 0 and st["ExitCode"] == 137
    assert _rfc3339(st["FinishedAt"]) >= started
    # several at once; unknown is an error
    both = json.loads(busybox("inspect", "ins", cid[:10]).stdout)
    assert [x["Id"] for x in both] == [cid, cid]
    p = busybox("inspect", "nope", check=False)
    assert p.returncode != 0
    one_line_error(p)


def test_duplicate_name_refused(busybox):
    cid = run_d(busybox, "--name", "dup", "busybox", "sleep", "100")
    p = busybox("run", "-d", "--name", "dup", "busybox", "sleep", "100", check=False)
    assert p.returncode != 0
    err = one_line_error(p)
    assert "dup" in err and "in use" in err
    p = busybox("run", "--name", "dup", "busybox", "true", check=False)
    assert p.returncode != 0
    assert busybox("ps", "-aq", "--no-trunc").stdout.split() == [cid]
    # after rm the name is free again
    busybox("rm", "-f", "dup")
    run_d(busybox, "--name", "dup", "busybox", "true")


def test_invalid_name_refused(busybox):
    p = busybox("run", "--name", "bad/name", "busybox", "true", check=False)
    assert p.returncode != 0
    one_line_error(p)
    assert busybox("ps", "-aq").stdout == ""


def test_generated_names_are_unique(busybox):
    ids = [run_d(busybox, "busybox", "true") for _ in range(3)]
    rows = ps_json(busybox, "-a")
    names = [r["Name"] for r in rows]
    assert len(set(names)) == 3 and all(names)
    for cid in ids:
        name = inspect(busybox, cid)["Name"]
        assert inspect(busybox, name)["Id"] == cid


def test_id_prefix_resolution(busybox):
    cid = run_d(busybox, "busybox", "sleep", "100")
    for ref in (cid, cid[:12], cid[:5]):
        assert inspect(busybox, ref)["Id"] == cid
    p = busybox("inspect", "zzzz", check=False)
    assert p.returncode != 0
    # make an ambiguous prefix likely: 17 more containers share some first hex digit
    others = [run_d(busybox, "busybox", "true") for _ in range(17)]
    firsts = {}
    for c in [cid, *others]:
        firsts.setdefault(c[0], []).append(c)
    shared = [v for v in firsts.values() if len(v) > 1][0]
    p = busybox("inspect", shared[0][0], check=False)
    assert p.returncode != 0
    assert "ambiguous" in one_line_error(p)


def test_ps_columns_quiet_json_and_filters(busybox):
    a = run_d(busybox, "--name", "alpha", "busybox", "sleep", "100")
    b = run_d(busybox, "--name", "beta", "busybox", "sh", "-c", "exit 4")
    busybox("wait", "beta")
    table = busybox("ps").stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "PID", "STATUS", "COMMAND", "CREATED"]
    assert len(table) == 2
    row = table[1]
    pid = state(busybox, "alpha")["Pid"]
    assert a[:12] in row and "alpha" in row and str(pid) in row and "Up" in row
    assert "sleep 100" in row
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", row), row
    assert len(busybox("ps", "-a").stdout.splitlines()) == 3
    assert busybox("ps", "-q").stdout.split() == [a[:12]]
    assert sorted(busybox("ps", "-aq").stdout.split()) == sorted([a[:12], b[:12]])
    rows = ps_json(busybox, "-a")
    by = {r["Name"]: r for r in rows}
    assert by["alpha"]["State"] == "running" and by["alpha"]["Pid"] == pid
    assert by["beta"]["State"] == "exited" and by["beta"]["ExitCode"] == 4
    assert by["beta"]["Status"].startswith("Exited (4)")
    assert busybox("ps", "-q", "--filter", "status=exited").stdout.split() == [b[:12]]
    assert busybox("ps", "-q", "--filter", "status=running").stdout.split() == [a[:12]]
    assert busybox("ps", "-aq", "--filter", "name=alp").stdout.split() == [a[:12]]
    assert busybox("ps", "-aq", "--filter", "name=beta").stdout.split() == [b[:12]]
    p = busybox("ps", "--filter", "bogus=1", check=False)
    assert p.returncode != 0
    one_line_error(p)


def test_ps_is_truthful_when_process_dies_behind_its_back(busybox):
    busybox("run", "-d", "--name", "v", "busybox", "sleep", "100")
    st = wait_running(busybox, "v")
    os.kill(st["Pid"], 9)
    wait_exited(busybox, "v")
    assert busybox("ps", "-q").stdout == ""
    assert "Exited (137)" in busybox("ps", "-a").stdout


def test_stop_right_after_run_d(busybox):
    for _ in range(3):
        cid = run_d(busybox, "busybox", "sleep", "100")
        t0 = time.monotonic()
        busybox("stop", "-t", "1", cid)
        assert time.monotonic() - t0 < 5
        st = state(busybox, cid)
        assert st["Status"] == "exited" and st["MonitorPid"] == 0
        busybox("rm", cid)
        assert_fully_removed(busybox, cid)


def test_stop_several_and_unknown(busybox):
    a = run_d(busybox, "busybox", "sleep", "100")
    b = run_d(busybox, "busybox", "sleep", "100")
    p = busybox("stop", "-t", "0", a, "nosuch", b, check=False)
    assert p.returncode != 0
    assert p.stdout.split() == [a, b]
    assert "nosuch" in one_line_error(p)
    assert busybox("ps", "-q").stdout == ""


def test_start_attach_exit_code(busybox):
    busybox("run", "--name", "s3", "busybox", "sh", "-c", "echo hi; exit 3", check=False)
    p = busybox("start", "-a", "s3", check=False)
    assert p.returncode == 3 and p.stdout == "hi\n"


def test_workdir_that_is_a_file(busybox):
    p = busybox("run", "-w", "/etc/passwd", "busybox", "true", check=False)
    assert p.returncode == 125
    assert "/etc/passwd" in one_line_error(p)
