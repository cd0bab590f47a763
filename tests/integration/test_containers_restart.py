"""Restart policies and --rm."""

from __future__ import annotations

import os
import time


from tests.integration.helpers import (alive, assert_fully_removed, container_dirs, inspect,
                                       one_line_error, run_d, state, wait_exited, wait_for,
                                       wait_running)


def test_on_failure_with_count(busybox):
    cid = run_d(busybox, "--restart", "on-failure:2", "busybox", "sh", "-c",
                "echo try; exit 1")
    info = wait_for(lambda: (lambda i: i if i["State"]["Status"] == "exited"
                             and not i["State"]["MonitorPid"] else None)(
        inspect(busybox, cid)), 15, what="restarts done")
    assert info["RestartCount"] == 2
    assert info["State"]["ExitCode"] == 1
    assert busybox("logs", cid).stdout == "try\ntry\ntry\n"
    assert busybox("wait", cid).stdout.strip() == "1"


def test_on_failure_does_not_restart_on_success(busybox):
    cid = run_d(busybox, "--restart", "on-failure", "busybox", "true")
    wait_exited(busybox, cid)
    assert inspect(busybox, cid)["RestartCount"] == 0


def test_always_restarts_after_host_kill_then_stop_keeps_it_stopped(busybox):
    busybox("run", "-d", "--name", "al", "--restart", "always", "busybox", "sleep", "100")
    st1 = wait_running(busybox, "al")
    os.kill(st1["Pid"], 9)
    info = wait_for(lambda: (lambda i: i if i["State"]["Status"] == "running" and
                             i["State"]["Pid"] and i["State"]["Pid"] != st1["Pid"] else None)(
        inspect(busybox, "al")), 10, what="restart with a new pid")
    assert info["RestartCount"] >= 1
    assert info["State"]["MonitorPid"] == st1["MonitorPid"]
    n = info["RestartCount"]
    os.kill(info["State"]["Pid"], 9)
    info2 = wait_for(lambda: (lambda i: i if i["State"]["Status"] == "running" and
                              i["RestartCount"] > n else None)(inspect(busybox, "al")),
                     10, what="a second restart")
    pid2 = info2["State"]["Pid"]
    busybox("stop", "-t", "1", "al")
    st = state(busybox, "al")
    assert st["Status"] == "exited" and st["MonitorPid"] == 0
    assert not alive(pid2)
    time.sleep(1.0)
    st = state(busybox, "al")
    assert st["Status"] == "exited", st
    assert busybox("ps", "-q").stdout == ""
    # it can be started again and keeps its policy
    busybox("start", "al")
    st3 = wait_running(busybox, "al")
    os.kill(st3["Pid"], 9)
    wait_for(lambda: (lambda s: s["Status"] == "running" and s["Pid"] != st3["Pid"])(
        state(busybox, "al")), 10, what="restart after start")


def test_always_restart_on_clean_exit(busybox):
    cid = run_d(busybox, "--restart", "always", "busybox", "sh", "-c", "echo up; sleep 0.2")
    wait_for(lambda: inspect(busybox, cid)["RestartCount"] >= 2, 15, what="2 restarts")
    busybox("stop", "-t", "1", cid)
    assert state(busybox, cid)["Status"] == "exited"
    count = inspect(busybox, cid)["RestartCount"]
    time.sleep(0.8)
    assert inspect(busybox, cid)["RestartCount"] == count


def test_kill_of_always_container_stays_stopped(busybox):
    # `rocker kill` (SIGKILL) is an explicit stop: Docker does not restart it
    busybox("run", "-d", "--name", "ka", "--restart", "always", "busybox", "sleep", "100")
    wait_running(busybox, "ka")
    busybox("kill", "ka")
    wait_exited(busybox, "ka", 10)
    time.sleep(0.5)
    assert state(busybox, "ka")["Status"] == "exited"


def test_rm_f_of_restarting_container(busybox):
    cid = run_d(busybox, "--restart", "always", "busybox", "sh", "-c", "exit 1")
    wait_for(lambda: inspect(busybox, cid)["RestartCount"] >= 3, 20, what="restarts")
    busybox("rm", "-f", cid)
    assert_fully_removed(busybox, cid)


def test_invalid_restart_policy(busybox):
    for bad in ("sometimes", "always:3", "on-failure:x"):
        p = busybox("run", "--restart", bad, "busybox", "true", check=False)
        assert p.returncode != 0
        one_line_error(p)
    p = busybox("run", "--rm", "--restart", "always", "busybox", "true", check=False)
    assert p.returncode != 0
    one_line_error(p)
    assert busybox("ps", "-aq").stdout == ""


def test_rm_foreground(busybox):
    p = busybox("run", "--rm", "--name", "tmp", "busybox", "sh", "-c", "echo bye; exit 3",
                check=False)
    assert p.returncode == 3 and p.stdout == "bye\n"
    assert busybox("ps", "-aq").stdout == ""
    assert container_dirs(busybox) == []
    # the name is free again
    busybox("run", "--rm", "--name", "tmp", "busybox", "true")


def test_rm_detached(busybox):
    cid = run_d(busybox, "--rm", "busybox", "sh", "-c", "sleep 0.5")
    wait_for(lambda: busybox("ps", "-aq").stdout == "", 10, what="--rm container gone")
    wait_for(lambda: container_dirs(busybox) == [], 5, what="no container folder")
    assert_fully_removed(busybox, cid)


def test_rm_detached_stopped(busybox):
    cid = run_d(busybox, "--rm", "--name", "rmd", "busybox", "sleep", "100")
    wait_running(busybox, "rmd")
    busybox("stop", "-t", "0", "rmd")
    wait_for(lambda: busybox("ps", "-aq").stdout == "", 10, what="--rm container gone")
    assert_fully_removed(busybox, cid)


def test_rm_f_of_running_rm_container(busybox):
    cid = run_d(busybox, "--rm", "--name", "rmf", "busybox", "sleep", "100")
    wait_running(busybox, "rmf")
    p = busybox("rm", "-f", "rmf", check=False)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert_fully_removed(busybox, cid)


def test_wait_on_rm_container_prints_its_exit_code(busybox):
    cid = run_d(busybox, "--rm", "busybox", "sh", "-c", "sleep 0.5; exit 3")
    p = busybox("wait", cid, check=False)
    assert p.stdout.strip() == "3"
