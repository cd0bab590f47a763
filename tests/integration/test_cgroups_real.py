"""Integration tests of rocker.cgroups on the REAL cgroups of this host (root needed).

Every cgroup is named `rktest-<hex>` and destroyed by the `cgroups` fixture, even when a test
fails; every process is started here and killed by the `spawn` fixture. At the end of the module
no `rktest` cgroup may be left, nor a `rocker` parent that was not there before.
The checks of interface files follow the host: v1 files on v1/hybrid hosts, v2 files otherwise.
"""

from __future__ import annotations

import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.drift import drift
from rocker.cgroups import Limits, detect, manager_for, parse_limits
from rocker.cgroups.limits import parse_cpuset
from rocker.errors import InvalidInput

LAYOUT = detect()
V1 = LAYOUT.version == 1
MiB = 1024 * 1024
PY = sys.executable
CPUS = parse_cpuset(open("/sys/devices/system/cpu/online").read())
NCPUS = sum(b - a + 1 for a, b in CPUS)   # parse_cpuset returns ranges, never members
TOUCH = "import time\nb = bytearray({mib} * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\n"


def _bases() -> list[str]:
    return list(LAYOUT.hierarchies()) if V1 else [LAYOUT.root]


def _rktest_dirs() -> list[str]:
    found = []
    for base in _bases():
        parent = os.path.join(base, "rocker")
        if os.path.isdir(parent):
            found += [os.path.join(parent, n) for n in os.listdir(parent) if "rktest" in n]
    return found


@pytest.fixture(scope="module", autouse=True)
def leaves_nothing():
    parents_before = {b for b in _bases() if os.path.isdir(os.path.join(b, "rocker"))}
    yield
    assert _rktest_dirs() == []
    out = subprocess.run(["find", "/sys/fs/cgroup", "-name", "*rktest*"], capture_output=True,
                         text=True).stdout
    assert out == ""
    for b in _bases():
        parent = os.path.join(b, "rocker")
        if b not in parents_before and os.path.isdir(parent):
            # another rocker on this machine may have containers there: only then may it stay
            assert os.listdir(parent) and any(
                os.path.isdir(os.path.join(parent, n)) for n in os.listdir(parent)), parent


@pytest.fixture
def cgroups():
    made = []

    def new(limits: Limits | None = None):
        m = manager_for(f"rktest-{secrets.token_hex(4)}", LAYOUT)
        made.append(m)
        m.create()
        if limits is not None:
            m.apply(limits)
        return m

    yield new
    errors = []
    for m in made:
        try:
            m.destroy()
        except Exception as e:  # keep destroying the others
            errors.append(e)
    assert not errors
    assert not [p for m in made for p in m.paths() if os.path.exists(p)]


@pytest.fixture
def spawn():
    procs: list[subprocess.Popen] = []

    def start(m, argv: list[str], **kw) -> subprocess.Popen:
        """Start argv, put it in m's cgroup BEFORE it runs (it waits on a line of stdin)."""
        p = subprocess.Popen(["sh", "-c", 'read _ ; exec "$@"', "sh", *argv],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, **kw)
        procs.append(p)
        m.add_pid(p.pid)
        p.stdin.write(b"go\n")
        p.stdin.flush()
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
        for f in (p.stdin, p.stdout):
            if f:
                f.close()


def files(m, controller: str, name: str) -> str:
    d = m.dir(controller) if V1 else m.path
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def wait_for(cond, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -------------------------------------------------------------------------------------------


def test_create_makes_every_hierarchy(cgroups):
    m = cgroups()
    assert m.exists()
    for p in m.paths():
        assert os.path.isdir(p), p
        assert os.path.basename(os.path.dirname(p)) == "rocker"
    if V1:
        assert len(m.paths()) == len(LAYOUT.hierarchies())
        # cpuset copied from the parent, or no task could join
        assert parse_cpuset(files(m, "cpuset", "cpuset.cpus")) == CPUS
        assert files(m, "cpuset", "cpuset.mems") != ""
    else:
        assert "memory" in open(os.path.join(LAYOUT.root, "rocker", "cgroup.controllers")).read()
    m.create()  # idempotent
    assert m.exists()


def test_limits_reach_the_real_files(cgroups):
    cpu = str(CPUS[-1][1])
    lim = parse_limits(memory="100m", memory_swap="200m", memory_reservation="50m",
                       cpu_shares=512, cpus="1.5" if NCPUS > 1 else "0.5",
                       cpuset_cpus=cpu, cpuset_mems="0", pids_limit=50)
    m = cgroups()
    warnings = m.apply(lim)
    quota = "150000" if NCPUS > 1 else "50000"
    if V1:
        assert files(m, "memory", "memory.limit_in_bytes") == str(100 * MiB)
        if os.path.exists(os.path.join(m.dir("memory"), "memory.memsw.limit_in_bytes")):
            assert warnings == []
            assert files(m, "memory", "memory.memsw.limit_in_bytes") == str(200 * MiB)
        else:
            assert warnings
        assert files(m, "memory", "memory.soft_limit_in_bytes") == str(50 * MiB)
        assert files(m, "cpu", "cpu.shares") == "512"
        assert files(m, "cpu", "cpu.cfs_quota_us") == quota
        assert files(m, "cpu", "cpu.cfs_period_us") == "100000"
        assert files(m, "cpuset", "cpuset.cpus") == cpu
        assert files(m, "pids", "pids.max") == "50"
    else:
        assert files(m, "memory", "memory.max") == str(100 * MiB)
        assert files(m, "memory", "memory.low") == str(50 * MiB)
        assert files(m, "cpu", "cpu.weight") == "20"
        assert files(m, "cpu", "cpu.max") == f"{quota} 100000"
        assert files(m, "cpuset", "cpuset.cpus") == cpu
        assert files(m, "pids", "pids.max") == "50"
    back = m.read_limits()
    assert back.memory == lim.memory and back.pids_limit == 50 and back.cpuset_cpus == cpu
    assert drift(m, lim) == {}


def test_update_orders_memory_and_swap(cgroups):
    m = cgroups(Limits(memory=100 * MiB, memory_swap=200 * MiB))
    current = Limits(memory=100 * MiB, memory_swap=200 * MiB, pids_limit=20)
    m.apply(current)
    # raise both: memsw must be written first
    current = current.merge(Limits(memory=300 * MiB, memory_swap=400 * MiB))
    m.apply(current)
    assert m.read_limits().memory == 300 * MiB
    # lower both: memory must be written first
    current = current.merge(Limits(memory=50 * MiB, memory_swap=80 * MiB))
    m.apply(current)
    back = m.read_limits()
    assert back.memory == 50 * MiB and back.pids_limit == 20
    if V1 and back.memory_swap is not None:
        assert back.memory_swap == 80 * MiB
        # memory alone above the memsw in force: the kernel refuses, InvalidInput says why
        with pytest.raises(InvalidInput, match=r"--memory 524288000"):
            m.apply(Limits(memory=500 * MiB))
    # unlimited again
    m.replace(Limits())
    back = m.read_limits()
    assert back.memory is None and back.memory_swap is None and back.pids_limit is None


def test_drift_after_a_hand_write(cgroups):
    want = Limits(memory=64 * MiB, pids_limit=10)
    m = cgroups(want)
    assert drift(m, want) == {}
    with open(os.path.join(m.dir("memory") if V1 else m.path,
                           "memory.limit_in_bytes" if V1 else "memory.max"), "w") as f:
        f.write(str(128 * MiB))
    assert drift(m, want) == {"memory": (64 * MiB, 128 * MiB)}


def test_kernel_refusal_is_invalid_input(cgroups):
    m = cgroups()
    with pytest.raises(InvalidInput, match=r"--cpuset-cpus 63"):
        m.apply(Limits(cpuset_cpus="63"))


@pytest.mark.skipif(not V1, reason="v2 OOM-kills instead of refusing a lower memory.max")
def test_lowering_memory_below_usage_is_refused(cgroups, spawn):
    m = cgroups(Limits(memory=200 * MiB, memory_swap=200 * MiB))
    p = spawn(m, [PY, "-c", TOUCH.format(mib=60) + "print('ready', flush=True)\ntime.sleep(60)"])
    assert p.stdout.readline() == b"ready\n"
    with pytest.raises(InvalidInput, match=r"cannot set --memory 20971520: the container uses "
                                           r"more memory"):
        m.apply(Limits(memory=20 * MiB))
    assert p.poll() is None


def test_add_pid_and_procs(cgroups, spawn):
    m = cgroups()
    p = spawn(m, ["sleep", "60"])
    assert m.procs() == [p.pid]
    cg = open(f"/proc/{p.pid}/cgroup").read()
    assert f"/rocker/{m.id}" in cg
    if V1:
        assert f":memory:/rocker/{m.id}\n" in cg and f":pids:/rocker/{m.id}\n" in cg
    assert m.stats().pids_current == 1


def test_freeze_and_thaw(cgroups, spawn):
    m = cgroups()
    p = spawn(m, ["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i; sleep 0.01; done"])
    assert p.stdout.readline()
    m.freeze()
    assert m.is_frozen()
    if V1:
        assert files(m, "freezer", "freezer.state") == "FROZEN"
        state = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[0]
        assert state == "D"  # frozen tasks sleep uninterruptibly (TASK_FROZEN)
    os.set_blocking(p.stdout.fileno(), False)
    try:
        while os.read(p.stdout.fileno(), 65536):  # drain what was written before
            pass
    except BlockingIOError:
        pass
    ready, _, _ = select.select([p.stdout], [], [], 0.3)
    assert not ready, "a frozen process wrote output"
    m.thaw()
    assert not m.is_frozen()
    ready, _, _ = select.select([p.stdout], [], [], 2)
    assert ready, "the thawed process did not go on"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_kill_reaches_a_double_forked_grandchild(cgroups, spawn, sig):
    m = cgroups()
    p = spawn(m, ["sh", "-c", "(setsid sleep 60 </dev/null >/dev/null 2>&1 &); echo forked; "
                              "exec sleep 60"])
    assert p.stdout.readline() == b"forked\n"
    wait_for(lambda: len(m.procs()) == 2, what="two processes")
    grandchild = [x for x in m.procs() if x != p.pid][0]
    assert os.getppid() != grandchild
    assert m.kill(sig) == 2
    assert p.wait(timeout=5) == -sig
    wait_for(lambda: not pid_alive(grandchild), what="the grandchild to die")
    wait_for(lambda: m.procs() == [], what="an empty cgroup")


def test_kill_catches_a_forking_loop(cgroups, spawn):
    m = cgroups(Limits(pids_limit=30))
    # forks for ever, and goes on when pids.max refuses a fork
    p = spawn(m, [PY, "-c", "import os, time\nwhile True:\n    try:\n        if os.fork() == 0:\n"
                            "            time.sleep(60); os._exit(0)\n"
                            "    except OSError:\n        time.sleep(0.001)\n"])
    wait_for(lambda: len(m.procs()) >= 10, what="forks")
    assert len(m.procs()) <= 30  # pids.max holds
    assert m.kill(signal.SIGKILL) >= 10
    wait_for(lambda: m.procs() == [], what="an empty cgroup")
    assert p.wait(timeout=5) == -signal.SIGKILL


def test_destroy_with_a_live_process(cgroups, spawn):
    m = cgroups()
    p = spawn(m, ["sh", "-c", "trap '' TERM; (setsid sleep 60 &); exec sleep 60"])
    wait_for(lambda: len(m.procs()) == 2, what="two processes")
    m.destroy()
    assert not m.exists()
    assert p.wait(timeout=5) == -signal.SIGKILL
    m.destroy()  # idempotent


def test_oom_kill_is_counted(cgroups, spawn):
    m = cgroups(Limits(memory=20 * MiB, memory_swap=20 * MiB))
    before = m.oom_kill_count()
    p = spawn(m, [PY, "-c", "b = bytearray()\nfor _ in range(100): b += b'x' * 1048576\n"
                            "print('survived', flush=True)"])
    out = p.stdout.read()
    assert p.wait(timeout=30) == -signal.SIGKILL, out
    assert b"survived" not in out
    assert m.oom_kill_count() == before + 1
    assert m.stats().oom_kills == before + 1


def test_stats(cgroups, spawn):
    m = cgroups(Limits(memory=64 * MiB, pids_limit=10))
    p = spawn(m, [PY, "-c", TOUCH.format(mib=8) + "t=time.time()\nwhile time.time()-t<0.3: pass\n"
                            "print('done',flush=True)\ntime.sleep(60)"])
    assert p.stdout.readline() == b"done\n"
    s = m.stats()
    assert s.cpu_usage_ns > 100_000_000
    assert s.memory_usage > 8 * MiB and s.memory_limit == 64 * MiB
    assert s.pids_current == 1 and s.pids_limit == 10


@pytest.mark.skipif(not V1, reason="the v2 device controller is eBPF")
def test_setup_devices_denies_other_devices(cgroups, spawn):
    m = cgroups()
    m.setup_devices()
    rules = files(m, "devices", "devices.list").splitlines()
    assert "c 1:3 rwm" in rules and "c 136:* rwm" in rules and "a *:* rwm" not in rules
    p = spawn(m, ["sh", "-c", "echo x >/dev/null && echo null-ok; "
                              "(exec 3</dev/mem) 2>/dev/null && echo mem-open || echo mem-denied"])
    assert p.stdout.read().split() == [b"null-ok", b"mem-denied"]


def test_concurrent_create_and_destroy(cgroups):
    """Containers created while others are destroyed (the `rocker` parent comes and goes)."""
    errors = []

    def worker():
        try:
            for _ in range(15):
                m = manager_for(f"rktest-{secrets.token_hex(4)}", LAYOUT)
                try:
                    m.create()
                    assert m.exists()
                finally:
                    m.destroy()
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _rktest_dirs() == []
