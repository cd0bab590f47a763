"""Concurrency and crashes: parallel runs, name races, kill -9 of the monitor, the container and
the CLI, and a simulated reboot. State must stay truthful and `rm -f` must clean everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time


from tests.integration.helpers import (alive, assert_fully_removed, cgroup_dirs, container_dirs,
                                       inspect, ps_json, state, wait_for, wait_running)


def test_twenty_parallel_detached_runs(busybox):
    procs = [busybox.popen("run", "-d", "--name", f"par{i}", "busybox", "sleep", "60",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(20)]
    outs = [(p.wait(timeout=90), *p.communicate()) for p in procs]
    bad = [(rc, err) for rc, _out, err in outs if rc != 0]
    assert not bad, bad
    ids = {out.strip() for _rc, out, _err in outs}
    assert len(ids) == 20
    rows = ps_json(busybox)
    assert {r["Id"] for r in rows} == ids
    assert all(r["State"] == "running" and r["Pid"] for r in rows)
    assert len({r["Pid"] for r in rows}) == 20
    busybox("rm", "-f", *[f"par{i}" for i in range(20)])
    assert busybox("ps", "-aq").stdout == ""
    for cid in ids:
        assert_fully_removed(busybox, cid)


def test_parallel_same_name_exactly_one_wins(busybox):
    procs = [busybox.popen("run", "-d", "--name", "same", "busybox", "sleep", "60",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(5)]
    outs = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    winners = [o for o in outs if o[0] == 0]
    losers = [o for o in outs if o[0] != 0]
    assert len(winners) == 1, outs
    for rc, out, err in losers:
        assert "same" in err and "in use" in err, err
        assert len(err.strip().splitlines()) == 1
        assert out == ""
    rows = ps_json(busybox, "-a")
    assert len(rows) == 1 and rows[0]["Id"] == winners[0][1].strip()
    assert container_dirs(busybox) == [rows[0]["Id"]]


def test_kill9_monitor_and_container(busybox):
    busybox("run", "-d", "--name", "k9", "busybox", "sleep", "100")
    st = wait_running(busybox, "k9")
    cid = inspect(busybox, "k9")["Id"]
    mon, pid = st["MonitorPid"], st["Pid"]
    assert mon and pid and mon != pid
    os.kill(mon, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(mon) and not alive(pid), 5, what="both dead")
    rows = ps_json(busybox, "-a")
    assert rows[0]["State"] == "exited", rows
    assert busybox("ps", "-q").stdout == ""
    st = state(busybox, "k9")
    assert st["Running"] is False and st["Pid"] == 0 and st["MonitorPid"] == 0
    busybox("rm", "-f", "k9")
    assert busybox("ps", "-aq").stdout == ""
    assert_fully_removed(busybox, cid)


def test_kill9_monitor_only(busybox):
    """The container outlives its monitor: it is still shown running and rm -f kills it."""
    busybox("run", "-d", "--name", "mo", "busybox", "sleep", "100")
    st = wait_running(busybox, "mo")
    cid = inspect(busybox, "mo")["Id"]
    os.kill(st["MonitorPid"], signal.SIGKILL)
    wait_for(lambda: not alive(st["MonitorPid"]), 5)
    assert state(busybox, "mo")["Status"] == "running"
    busybox("rm", "-f", "mo")
    assert not alive(st["Pid"])
    assert_fully_removed(busybox, cid)


def test_kill9_monitor_then_stop(busybox):
    busybox("run", "-d", "--name", "ms", "busybox", "sleep", "100")
    st = wait_running(busybox, "ms")
    os.kill(st["MonitorPid"], signal.SIGKILL)
    wait_for(lambda: not alive(st["MonitorPid"]), 5)
    t0 = time.monotonic()
    busybox("stop", "-t", "1", "ms")
    assert time.monotonic() - t0 < 5
    assert not alive(st["Pid"])
    s = state(busybox, "ms")
    assert s["Status"] == "exited" and s["ExitCode"] == 137
    cid = inspect(busybox, "ms")["Id"]
    assert cgroup_dirs(cid) == []
    # it can run again
    busybox("start", "ms")
    wait_running(busybox, "ms")


def test_kill9_of_foreground_cli(busybox):
    proc = busybox.popen("run", "--name", "fgk", "busybox", "sh", "-c",
                         "echo started; sleep 100", stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"started\n"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the container keeps running under its monitor; ps says so truthfully
    st = state(busybox, "fgk")
    assert st["Status"] == "running" and alive(st["Pid"])
    rows = ps_json(busybox, "-a")
    assert rows[0]["State"] == "running"
    cid = inspect(busybox, "fgk")["Id"]
    busybox("rm", "-f", "fgk")
    assert not alive(st["Pid"])
    assert_fully_removed(busybox, cid)


def test_kill9_of_cli_at_many_moments(busybox):
    """kill -9 of `rocker run` at a spread of moments during start: every leftover is either
    nothing or a container that ps -a reports truthfully and rm -f cleans."""
    variants = [(), ("-d",), ("-i",), ("-t",)]  # --rm: see test_rm_f_of_running_rm_container
    for i, delay in enumerate((0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8, 1.0)):
        proc = busybox.popen("run", *variants[i % len(variants)], "busybox", "sleep", "30",
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        proc.wait()
    time.sleep(0.3)
    p = busybox("ps", "-a", "--format", "json")
    assert "warning" not in p.stderr
    rows = json.loads(p.stdout)
    for r in rows:
        if r["State"] == "running":
            assert r["Pid"] and alive(r["Pid"]), r
        else:
            assert not r["Pid"], r
    ids = [r["Id"] for r in rows]
    if ids:
        busybox("rm", "-f", *ids)
    assert busybox("ps", "-aq").stdout == ""
    wait_for(lambda: container_dirs(busybox) == [], 5, what="no container folders")
    for cid in ids:
        assert_fully_removed(busybox, cid)
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert busybox.root not in out


def test_simulated_reboot(busybox):
    busybox("run", "-d", "--name", "rb", "busybox", "sleep", "100")
    st = wait_running(busybox, "rb")
    cid = inspect(busybox, "rb")["Id"]
    path = os.path.join(busybox.root, "containers", cid, "container.json")
    with open(path) as f:
        rec = json.load(f)
    rec["state"]["boot_id"] = "00000000-0000-0000-0000-000000000000"
    tmp = path + ".tmp-test"
    with open(tmp, "w") as f:
        json.dump(rec, f)
    os.rename(tmp, path)
    try:
        assert busybox("ps", "-q").stdout == ""
        s = state(busybox, "rb")
        assert s["Running"] is False and s["Pid"] == 0 and s["MonitorPid"] == 0
        assert ps_json(busybox, "-a")[0]["State"] == "exited"
        # nothing that "is" from a previous boot gets signalled: the live process is untouched
        busybox("rm", "-f", "rb")
        assert busybox("ps", "-aq").stdout == ""
        assert cid not in container_dirs(busybox)
    finally:
        # the real processes of this boot are ours to clean: the monitor and the sleep
        for pid in (st["Pid"], st["MonitorPid"]):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not alive(st["Pid"]) and not alive(st["MonitorPid"]), 5)
        from rocker.cgroups import manager_for
        m = manager_for(cid)
        if m.exists():
            m.destroy()
        # what a reboot would have cleaned: the runtime folder and the overlay mount
        for ln in open("/proc/self/mountinfo"):
            if cid in ln:
                subprocess.run(["umount", "-l", ln.split()[4]], check=False)


def test_corrupt_record_is_reported_not_fatal(busybox):
    busybox("run", "--name", "ok1", "busybox", "true")
    busybox("run", "--name", "bad1", "busybox", "true")
    cid = inspect(busybox, "bad1")["Id"]
    with open(os.path.join(busybox.root, "containers", cid, "container.json"), "w") as f:
        f.write("{not json")
    p = busybox("ps", "-a")
    assert "ok1" in p.stdout
    assert cid[:12] in p.stderr
    busybox("rm", "-f", cid)
    assert cid not in container_dirs(busybox)


def test_concurrent_stop_and_rm(busybox):
    busybox("run", "-d", "--name", "cs", "busybox", "sleep", "100")
    st = wait_running(busybox, "cs")
    cid = inspect(busybox, "cs")["Id"]
    procs = [busybox.popen("stop", "-t", "1", "cs", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE) for _ in range(3)]
    procs.append(busybox.popen("rm", "-f", "cs", stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE))
    for p in procs:
        p.wait(timeout=30)
    assert not alive(st["Pid"]) and not alive(st["MonitorPid"])
    busybox("rm", "-f", "cs", check=False)
    assert busybox("ps", "-aq").stdout == ""
    assert_fully_removed(busybox, cid)


def test_reused_pid_is_never_signalled(busybox):
    """A record whose pid now belongs to another process (same pid, other start time) is not
    running, and stop/kill/rm never signal that process."""
    busybox("run", "-d", "--name", "ru", "busybox", "sleep", "100")
    st = wait_running(busybox, "ru")
    cid = inspect(busybox, "ru")["Id"]
    # the container and its monitor die (as in a crash); later their pids are reused
    os.kill(st["MonitorPid"], signal.SIGKILL)
    os.kill(st["Pid"], signal.SIGKILL)
    wait_for(lambda: not alive(st["Pid"]) and not alive(st["MonitorPid"]), 5)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        path = os.path.join(busybox.root, "containers", cid, "container.json")
        with open(path) as f:
            rec = json.load(f)
        # the recorded pids now name live processes that started later: reused pids
        rec["state"]["pid"] = stranger.pid
        rec["state"]["monitor_pid"] = os.getpid()
        tmp = path + ".tmp-test"
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, path)
        assert busybox("ps", "-q").stdout == ""
        s = state(busybox, "ru")
        assert s["Running"] is False and s["Pid"] == 0
        busybox("kill", "ru", check=False)
        busybox("stop", "-t", "0", "ru", check=False)
        busybox("rm", "-f", "ru")
        assert stranger.poll() is None, "a process that is not the container's was signalled"
    finally:
        stranger.kill()
        stranger.wait()
    assert busybox("ps", "-aq").stdout == ""
    wait_for(lambda: cgroup_dirs(cid) == [], 5, what="cgroup gone")
    assert_fully_removed(busybox, cid)
