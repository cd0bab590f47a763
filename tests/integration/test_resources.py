"""Issue 4 acceptance through the CLI: limits from `run`, OOM, cpusets, pids, live `update`,
`pause`/`unpause`, whole-container `kill`/`stop`, refused values, `stats` and `top`.

Every test has its own storage root (fixtures `rocker` / `busybox`). After each test every
container of that root is removed and none of them may keep a cgroup in any hierarchy. Memory is
held with a file in the container's /dev/shm (tmpfs pages are charged to the cgroup and cannot be
reclaimed: the host has no swap), so "usage" is deterministic.
"""

from __future__ import annotations

import glob
import json
import os
import time

import pytest

from tests.integration.helpers import (
    alive,
    cgroup_dirs,
    container_dirs,
    inspect,
    one_line_error,
    ps_json,
    run_d,
    state,
    wait_exited,
    wait_for,
    wait_log,
    wait_running,
)

MiB = 1024 * 1024
CG = "/sys/fs/cgroup"

if not os.path.isdir(f"{CG}/memory") or os.path.exists(f"{CG}/cgroup.controllers"):
    pytest.skip("these tests read the v1 cgroup files of a hybrid / v1 host",
                allow_module_level=True)


def cg(controller: str, cid: str, name: str) -> str:
    with open(f"{CG}/{controller}/rocker/{cid}/{name}") as f:
        return f.read().strip()


def resources(r, ref: str) -> dict:
    return inspect(r, ref)["HostConfig"]["Resources"]


def all_cgroups() -> set[str]:
    return set(glob.glob(f"{CG}/*/rocker/*/")) | set(glob.glob(f"{CG}/rocker/*/"))


def _procs(d: str) -> str:
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            return f.read().strip()
    except OSError:
        return ""


@pytest.fixture(autouse=True)
def no_cgroup_left(rocker):
    """After the test (and the removal of its containers): no cgroup of them anywhere."""
    yield
    ids = container_dirs(rocker)
    rocker.cleanup()
    for cid in ids:
        wait_for(lambda: cgroup_dirs(cid) == [], timeout=5, what=f"cgroups of {cid} removed")


# ---------------------------------------------------------------------------------------------
# memory


def test_oom_is_killed_and_reported_and_50m_survives(busybox):
    r = busybox
    p = r("run", "--name", "hog", "-m", "100m", "busybox",
          "sh", "-c", "head -c 200m /dev/zero | tail > /dev/null", check=False)
    assert p.returncode == 137, (p.returncode, p.stderr)
    st = state(r, "hog")
    assert st["OOMKilled"] is True and st["ExitCode"] == 137
    row = [c for c in ps_json(r, "-a") if c["Name"] == "hog"][0]
    assert row["OOMKilled"] is True and "OOMKilled" in row["Status"]
    assert "OOMKilled" in r("ps", "-a").stdout

    p = r("run", "--name", "small", "-m", "100m", "busybox",
          "sh", "-c", "head -c 50m /dev/zero | tail > /dev/null; echo ok")
    assert p.returncode == 0 and p.stdout.strip() == "ok"
    assert state(r, "small")["OOMKilled"] is False


def test_memory_and_reservation_files(busybox):
    r = busybox
    cid = run_d(r, "-m", "100m", "--memory-reservation", "50m", "busybox", "sleep", "1000")
    wait_running(r, cid)
    assert int(cg("memory", cid, "memory.limit_in_bytes")) == 100 * MiB
    assert int(cg("memory", cid, "memory.soft_limit_in_bytes")) == 50 * MiB
    assert resources(r, cid) == {"memory": 100 * MiB, "memory_reservation": 50 * MiB}


def test_memory_swap_defaults_to_twice_memory(busybox):
    r = busybox
    cid = run_d(r, "-m", "100m", "busybox", "sleep", "1000")
    wait_running(r, cid)
    assert int(cg("memory", cid, "memory.memsw.limit_in_bytes")) == 200 * MiB
    assert "memory_swap" not in resources(r, cid)  # the stored config keeps what was given


# ---------------------------------------------------------------------------------------------
# CPU, cpuset, pids


def test_cpuset_cpus_0_shows_in_proc_status(busybox):
    p = busybox("run", "--cpuset-cpus", "0", "busybox",
                "grep", "Cpus_allowed_list", "/proc/self/status")
    assert p.stdout.split() == ["Cpus_allowed_list:", "0"]


def test_cpu_and_cpuset_files(busybox):
    r = busybox
    cid = run_d(r, "--cpu-shares", "512", "--cpus", "1.5", "--cpuset-cpus", "0",
                "--cpuset-mems", "0", "busybox", "sleep", "1000")
    wait_running(r, cid)
    assert cg("cpu", cid, "cpu.shares") == "512"
    assert cg("cpu", cid, "cpu.cfs_quota_us") == "150000"
    assert cg("cpu", cid, "cpu.cfs_period_us") == "100000"
    assert cg("cpuset", cid, "cpuset.cpus") == "0"
    assert cg("cpuset", cid, "cpuset.mems") == "0"
    assert resources(r, cid) == {"cpu_shares": 512, "cpus": 1.5, "cpuset_cpus": "0",
                                 "cpuset_mems": "0"}
    # the old spelling of the options
    p = r("run", "--cpushare", "256", "--cpuset", "1", "busybox",
          "grep", "Cpus_allowed_list", "/proc/self/status")
    assert p.stdout.split()[-1] == "1"


def test_pids_limit_stops_a_fork_loop(busybox):
    r = busybox
    # busybox sh gives up at the first failed fork: the loop runs in a subshell so that the
    # container lives on to show it
    cid = run_d(r, "--pids-limit", "20", "busybox", "sh", "-c",
                "sleep 0.5; (for i in $(seq 50); do sleep 1 & done); sleep 1.5; "
                "echo survived; sleep 1000")
    assert cg("pids", cid, "pids.max") == "20"
    seen = []
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline and "survived" not in r("logs", cid).stdout:
        seen.append(int(cg("pids", cid, "pids.current")))
        time.sleep(0.03)
    wait_log(r, cid, "survived")
    assert max(seen) == 20, seen   # the loop reached the limit and never went past it
    assert "fork" in r("logs", cid).stderr.lower()   # "sh: can't fork: Resource temporarily..."
    events = f"{CG}/pids/rocker/{cid}/pids.events"
    if os.path.exists(events):
        assert int(cg("pids", cid, "pids.events").split()[1]) > 0


def test_pids_limit_0_is_unlimited(busybox):
    r = busybox
    cid = run_d(r, "--pids-limit", "0", "busybox", "sleep", "1000")
    wait_running(r, cid)
    assert cg("pids", cid, "pids.max") == "max"
    assert resources(r, cid) == {"pids_limit": -1}


# ---------------------------------------------------------------------------------------------
# update


def test_update_changes_live_files_and_config(busybox):
    r = busybox
    cid = run_d(r, "-m", "100m", "--cpus", "1", "--pids-limit", "50", "--name", "u",
                "busybox", "sleep", "1000")
    wait_running(r, cid)
    pid = state(r, cid)["Pid"]
    assert r("update", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "30",
             "u").stdout.strip() == "u"
    assert int(cg("memory", cid, "memory.limit_in_bytes")) == 64 * MiB
    assert cg("cpu", cid, "cpu.cfs_quota_us") == "50000"
    assert cg("pids", cid, "pids.max") == "30"
    assert resources(r, cid) == {"memory": 64 * MiB, "cpus": 0.5, "pids_limit": 30}
    # --memory-swap alone, with --memory already set
    r("update", "--memory-swap", "300m", "u")
    assert int(cg("memory", cid, "memory.memsw.limit_in_bytes")) == 300 * MiB
    assert int(cg("memory", cid, "memory.limit_in_bytes")) == 64 * MiB
    assert resources(r, cid)["memory_swap"] == 300 * MiB
    # shares and cpuset too; the process kept running all along
    r("update", "--cpu-shares", "256", "--cpuset-cpus", "1", "u")
    assert cg("cpu", cid, "cpu.shares") == "256"
    assert cg("cpuset", cid, "cpuset.cpus") == "1"
    assert state(r, cid)["Pid"] == pid and alive(pid)


def test_update_below_usage_is_refused_and_changes_nothing(busybox):
    r = busybox
    cid = run_d(r, "-m", "100m", "--memory-swap", "200m", "--cpus", "1", "busybox", "sh", "-c",
                "head -c 40m /dev/zero > /dev/shm/x; echo ready; sleep 1000")
    wait_log(r, cid, "ready")
    before = resources(r, cid)
    files = [("memory", "memory.limit_in_bytes"), ("memory", "memory.memsw.limit_in_bytes"),
             ("cpu", "cpu.cfs_quota_us"), ("pids", "pids.max")]
    live = [cg(c, cid, f) for c, f in files]
    for args in (["--memory", "10m", "--memory-swap", "20m", "--cpus", "0.5"],
                 ["--memory", "10m", "--cpus", "0.5", "--pids-limit", "5"],
                 ["--memory-swap", "50m"],           # below --memory
                 ["--memory", "300m"]):              # above --memory-swap in force
        p = r("update", *args, cid, check=False)
        assert p.returncode != 0, args
        err = one_line_error(p)
        assert "memory" in err, err
        assert [cg(c, cid, f) for c, f in files] == live, args
        assert resources(r, cid) == before, args
    assert state(r, cid)["Status"] == "running"


def test_update_bad_values_and_nothing_to_update(busybox):
    r = busybox
    cid = run_d(r, "-m", "100m", "busybox", "sleep", "1000")
    wait_running(r, cid)
    for args in (["--memory", "10x"], ["--cpu-shares", "-5"], ["--cpuset-cpus", "99"],
                 ["--cpus", "0"], []):
        p = r("update", *args, cid, check=False)
        assert p.returncode != 0 and one_line_error(p), args
    assert int(cg("memory", cid, "memory.limit_in_bytes")) == 100 * MiB
    assert resources(r, cid) == {"memory": 100 * MiB}


# ---------------------------------------------------------------------------------------------
# pause, kill, stop


def test_pause_freezes_and_unpause_thaws(busybox):
    r = busybox
    cid = run_d(r, "--name", "tick", "busybox", "sh", "-c",
                "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done")
    wait_log(r, cid, "3\n")
    assert r("pause", "tick").stdout.strip() == "tick"
    assert cg("freezer", cid, "freezer.state") == "FROZEN"
    assert state(r, cid)["Status"] == "paused" and state(r, cid)["Paused"] is True
    assert "Paused" in [c for c in ps_json(r) if c["Name"] == "tick"][0]["Status"]
    n1 = len(r("logs", cid).stdout.split())
    time.sleep(0.4)
    assert len(r("logs", cid).stdout.split()) == n1  # output stopped
    p = r("pause", "tick", check=False)
    assert p.returncode != 0 and one_line_error(p)
    r("unpause", "tick")
    assert cg("freezer", cid, "freezer.state") == "THAWED"
    assert state(r, cid)["Status"] == "running"
    wait_for(lambda: len(r("logs", cid).stdout.split()) > n1 + 2, what="output again")
    p = r("unpause", "tick", check=False)
    assert p.returncode != 0 and one_line_error(p)


def _double_forked(r) -> tuple[str, list[int]]:
    # busybox sh execs its last command: init becomes `sleep 1000`; one sleep is its child in
    # a new session, another an orphan of a subshell that exited (double fork), now reparented
    cid = run_d(r, "busybox", "sh", "-c",
                '(setsid sh -c "sleep 1000" &); setsid sh -c "sleep 1000" & sleep 1000')
    wait_running(r, cid)
    pids = wait_for(lambda: (lambda p: p if len(p) >= 3 else None)(
        [int(x) for x in _procs(f"{CG}/pids/rocker/{cid}").split()]), what="3 processes")
    return cid, pids


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_kill_and_stop_reach_a_double_forked_process(busybox, how):
    r = busybox
    cid, pids = _double_forked(r)
    if how == "kill":
        r("kill", cid)
    else:
        r("stop", "-t", "1", cid)
    wait_exited(r, cid)
    wait_for(lambda: not any(alive(p) for p in pids), timeout=5, what="every process dead")
    wait_for(lambda: cgroup_dirs(cid) == [], timeout=5, what="cgroups removed")


def test_stop_of_a_paused_container(busybox):
    r = busybox
    cid, pids = _double_forked(r)
    r("pause", cid)
    r("stop", "-t", "1", cid)
    wait_exited(r, cid)
    assert not any(alive(p) for p in pids)
    assert cgroup_dirs(cid) == []


# ---------------------------------------------------------------------------------------------
# refused values


BAD = [
    ["-m", "10x"],
    ["-m", "1k"],
    ["--memory", "-100m"],
    ["--cpu-shares", "-5"],
    ["--cpu-shares", "1"],
    ["--cpuset-cpus", "99"],
    ["--cpuset-cpus", "0-"],
    ["--cpuset-mems", "7"],
    ["--cpus", "0"],
    ["--cpus", "64"],
    ["--pids-limit", "-5"],
    ["--memory-swap", "300m"],                     # without --memory
    ["-m", "100m", "--memory-swap", "50m"],        # below --memory
    ["-m", "100m", "--memory-reservation", "200m"],
]


def test_bad_values_are_refused_leaving_nothing(busybox):
    r = busybox
    before = all_cgroups()
    for args in BAD:
        p = r("run", *args, "busybox", "true", check=False)
        assert p.returncode != 0, args
        err = one_line_error(p)
        assert err.startswith("rocker: "), err
        opt = args[-2].lstrip("-")
        assert opt in err or (opt == "m" and "memory" in err), (args, err)
        p = r("create", *args, "busybox", "true", check=False)
        assert p.returncode != 0 and one_line_error(p), args
    assert r("ps", "-aq").stdout.strip() == ""
    assert container_dirs(r) == []
    # cgroups made meanwhile by other rocker users hold their processes; a leak of ours would
    # be an empty cgroup
    new = [d for d in all_cgroups() - before if os.path.isdir(d) and not _procs(d)]
    assert new == [] or wait_for(
        lambda: not [d for d in new if os.path.isdir(d) and not _procs(d)], timeout=3,
        what="no empty new cgroup")


# ---------------------------------------------------------------------------------------------
# stats and top


def test_stats_and_top(busybox):
    r = busybox
    cid = run_d(r, "-m", "100m", "--pids-limit", "10", "--name", "watched", "busybox", "sh",
                "-c", "sleep 1000 & sleep 1000 & wait")
    wait_running(r, cid)
    wait_for(lambda: len(_procs(f"{CG}/pids/rocker/{cid}").split()) >= 3, what="3 processes")
    out = r("stats", "--no-stream").stdout
    line = [ln for ln in out.splitlines() if "watched" in ln]
    assert line and cid[:12] in line[0] and "100MiB" in line[0], out
    rows = json.loads(r("stats", "--no-stream", "--format", "json", "watched").stdout)
    assert len(rows) == 1
    row = rows[0]
    assert row["ID"] == cid[:12] and row["Name"] == "watched" and row["Running"] is True
    assert row["MemLimit"] == 100 * MiB and 0 < row["MemUsage"] < 100 * MiB
    assert row["PIDs"] == 3 and row["CPUPerc"] >= 0
    top = r("top", "watched").stdout.splitlines()
    assert top[0].split() == ["UID", "PID", "PPID", "STIME", "TIME", "CMD"]
    cmds = [ln.split(None, 5)[-1] for ln in top[1:]]
    assert cmds.count("sleep 1000") == 2 and any(c.startswith("sh -c") for c in cmds), top
    # a stopped container: stats lists only running ones, top refuses
    r("stop", "-t", "0", "watched")
    wait_exited(r, cid)
    assert json.loads(r("stats", "--no-stream", "--format", "json").stdout) == []
    p = r("top", "watched", check=False)
    assert p.returncode != 0 and one_line_error(p)
