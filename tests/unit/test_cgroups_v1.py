"""Unit tests of the cgroup v1 backend against temporary folders laid out like v1 hierarchies.

`FakeV1Ops` plays the kernel's part of mkdir/rmdir: a new directory gets the interface files of
its hierarchy's controllers (an empty cpuset, like the kernel); rmdir refuses a cgroup with pids.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess

import pytest

from tests.drift import drift
from rocker.cgroups import HYBRID, V1, DirOps, Layout, Limits, manager_for
from rocker.cgroups.v1 import DEVICE_RULES, SWAP_WARNING, V1Manager
from rocker.errors import HostError, InvalidInput

MiB = 1024 * 1024
UNLIMITED = "9223372036854771712"

FILES = {
    "memory": {"memory.limit_in_bytes": UNLIMITED, "memory.memsw.limit_in_bytes": UNLIMITED,
               "memory.soft_limit_in_bytes": UNLIMITED, "memory.usage_in_bytes": "0",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
               "memory.stat": "cache 0\ntotal_inactive_file 0\n"},
    "cpu": {"cpu.shares": "1024", "cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000"},
    "cpuacct": {"cpuacct.usage": "0"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "freezer": {"freezer.state": "THAWED"},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm\n"},
    "blkio": {"blkio.throttle.io_service_bytes_recursive": "Total 0\n"},
}


def populate(path: str, controllers: list[str], skip: tuple = ()) -> None:
    files = {"cgroup.procs": "", "tasks": "", "notify_on_release": "0"}
    for c in controllers:
        files.update(FILES.get(c, {}))
    for name, content in files.items():
        if name not in skip:
            with open(os.path.join(path, name), "w") as f:
                f.write(content)


class FakeV1Ops(DirOps):
    def __init__(self, hierarchies: dict[str, list[str]], skip: tuple = ()) -> None:
        self.hierarchies = hierarchies  # mount point -> controllers
        self.skip = skip

    def mkdir(self, path: str) -> None:
        os.mkdir(path)
        for mnt, ctls in self.hierarchies.items():
            if path.startswith(mnt + "/"):
                populate(path, ctls, self.skip)

    def rmdir(self, path: str) -> None:
        procs = os.path.join(path, "cgroup.procs")
        if os.path.exists(procs) and open(procs).read().strip():
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        if any(os.path.isdir(os.path.join(path, n)) for n in os.listdir(path)):
            raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), path)
        for n in os.listdir(path):
            os.unlink(os.path.join(path, n))
        os.rmdir(path)


def make_layout(tmp_path, groups=None, skip: tuple = ()) -> Layout:
    """groups: mount dir name -> controllers (default: every controller separate, like this
    machine)."""
    if groups is None:
        groups = {c: [c] for c in FILES}
    root = tmp_path / "cgroup"
    root.mkdir()
    hier, controllers = {}, {}
    for name, ctls in groups.items():
        mnt = root / name
        mnt.mkdir()
        populate(str(mnt), ctls, skip)
        if "cpuset" in ctls:
            (mnt / "cpuset.cpus").write_text("0-3\n")
            (mnt / "cpuset.mems").write_text("0\n")
        hier[str(mnt)] = ctls
        for c in ctls:
            controllers[c] = str(mnt)
    return Layout(HYBRID, str(root), str(root / "unified"), controllers, FakeV1Ops(hier, skip))


@pytest.fixture
def layout(tmp_path):
    return make_layout(tmp_path)


@pytest.fixture
def m(layout):
    m = manager_for("c1", layout)
    m.create()
    return m


def rd(m, controller, name):
    return open(os.path.join(m.dir(controller), name)).read().strip()


def put(m, controller, name, content):
    with open(os.path.join(m.dir(controller), name), "w") as f:
        f.write(content)


def test_paths_one_per_hierarchy(layout, m):
    assert isinstance(m, V1Manager) and m.version == 1
    assert len(m.paths()) == 8
    for p in m.paths():
        assert os.path.isdir(p) and p.endswith("/rocker/c1")
    assert m.exists()


def test_comounted_cpu_cpuacct(tmp_path):
    lay = make_layout(tmp_path, {"cpu,cpuacct": ["cpu", "cpuacct"], "memory": ["memory"],
                                 "cpuset": ["cpuset"], "pids": ["pids"], "freezer": ["freezer"]})
    m = manager_for("c1", lay)
    m.create()
    assert len(m.paths()) == 5
    assert m.dir("cpu") == m.dir("cpuacct")
    m.apply(Limits(cpu_shares=512, cpus=0.5))
    assert rd(m, "cpu", "cpu.shares") == "512"
    assert rd(m, "cpu", "cpu.cfs_quota_us") == "50000"
    put(m, "cpuacct", "cpuacct.usage", "12345")
    assert m.stats().cpu_usage_ns == 12345
    m.setup_devices()  # no devices hierarchy: nothing to do
    m.destroy()
    assert not m.exists()


def test_cpuset_copied_from_parent(layout, m):
    parent = os.path.dirname(m.dir("cpuset"))
    assert open(os.path.join(parent, "cpuset.cpus")).read().strip() == "0-3"
    assert rd(m, "cpuset", "cpuset.cpus") == "0-3"
    assert rd(m, "cpuset", "cpuset.mems") == "0"


def test_apply_every_option(m):
    lim = Limits(memory=100 * MiB, memory_swap=200 * MiB, memory_reservation=50 * MiB,
                 cpu_shares=512, cpus=1.5, cpuset_cpus="1", cpuset_mems="0", pids_limit=64)
    assert m.apply(lim) == []
    assert rd(m, "memory", "memory.limit_in_bytes") == str(100 * MiB)
    assert rd(m, "memory", "memory.memsw.limit_in_bytes") == str(200 * MiB)
    assert rd(m, "memory", "memory.soft_limit_in_bytes") == str(50 * MiB)
    assert rd(m, "cpu", "cpu.shares") == "512"
    assert rd(m, "cpu", "cpu.cfs_quota_us") == "150000"
    assert rd(m, "cpu", "cpu.cfs_period_us") == "100000"
    assert rd(m, "cpuset", "cpuset.cpus") == "1"
    assert rd(m, "cpuset", "cpuset.mems") == "0"
    assert rd(m, "pids", "pids.max") == "64"
    assert m.read_limits() == lim
    assert drift(m, lim) == {}


def test_unlimited_values(m):
    m.apply(Limits(memory=100 * MiB, memory_swap=-1, pids_limit=-1))
    assert rd(m, "memory", "memory.memsw.limit_in_bytes") == "-1"
    assert rd(m, "pids", "pids.max") == "max"


def test_read_limits_defaults(m):
    lim = m.read_limits()
    assert lim == Limits(cpu_shares=1024, cpuset_cpus="0-3", cpuset_mems="0")


def test_update_changes_only_given_fields(m):
    m.apply(Limits(memory=100 * MiB, cpu_shares=512, pids_limit=64))
    m.apply(Limits(memory=64 * MiB))
    assert m.read_limits().memory == 64 * MiB
    assert rd(m, "cpu", "cpu.shares") == "512"
    assert rd(m, "pids", "pids.max") == "64"


def test_reset_unset(m):
    m.apply(Limits(memory=100 * MiB, memory_swap=200 * MiB, memory_reservation=10 * MiB,
                   cpu_shares=4096, cpus=1.5, cpuset_cpus="1", pids_limit=64))
    m.replace(Limits(cpus=0.5))
    assert rd(m, "memory", "memory.limit_in_bytes") == "-1"
    assert rd(m, "memory", "memory.memsw.limit_in_bytes") == "-1"
    assert rd(m, "memory", "memory.soft_limit_in_bytes") == "-1"
    assert rd(m, "cpu", "cpu.shares") == "1024"
    assert rd(m, "cpu", "cpu.cfs_quota_us") == "50000"
    assert rd(m, "cpuset", "cpuset.cpus") == "0-3"
    assert rd(m, "pids", "pids.max") == "max"


def test_swap_without_memsw_is_a_warning(tmp_path):
    lay = make_layout(tmp_path, skip=("memory.memsw.limit_in_bytes",))
    m = manager_for("c1", lay)
    m.create()
    assert m.apply(Limits(memory=64 * MiB, memory_swap=128 * MiB)) == [SWAP_WARNING]
    assert rd(m, "memory", "memory.limit_in_bytes") == str(64 * MiB)
    assert m.read_limits().memory_swap is None


def test_missing_hierarchy_is_a_host_error(tmp_path):
    lay = make_layout(tmp_path, {"memory": ["memory"]})
    m = manager_for("c1", lay)
    m.create()
    with pytest.raises(HostError, match="cannot set --pids-limit: the pids cgroup controller"):
        m.apply(Limits(pids_limit=3))


def test_kernel_refusal_is_invalid_input(m, monkeypatch):
    def refuse(fd, data):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "write", refuse)
    with pytest.raises(InvalidInput, match=r"cannot set --cpuset-cpus 3: CPUs not available"):
        m.apply(Limits(cpuset_cpus="3"))
    with pytest.raises(HostError, match=r"cannot write 42 to .*cgroup.procs: Invalid argument"):
        m.add_pid(42)


def test_add_pid_writes_every_hierarchy(m):
    m.add_pid(4242)
    for p in m.paths():
        assert open(os.path.join(p, "cgroup.procs")).read() == "4242"
    assert m.procs() == [4242]


def test_freeze_thaw(m):
    m.freeze()
    assert rd(m, "freezer", "freezer.state") == "FROZEN"
    assert m.is_frozen()
    m.thaw()
    assert rd(m, "freezer", "freezer.state") == "THAWED"
    assert not m.is_frozen()


def test_kill_freezes_signals_thaws(m):
    child = subprocess.Popen(["sleep", "60"])
    try:
        put(m, "freezer", "cgroup.procs", f"{child.pid}\n")
        assert m.kill(signal.SIGTERM) == 1
        assert child.wait(timeout=5) == -signal.SIGTERM
        assert rd(m, "freezer", "freezer.state") == "THAWED"
    finally:
        child.kill()
        child.wait()


def test_kill_without_freezer(tmp_path):
    lay = make_layout(tmp_path, {"memory": ["memory"], "pids": ["pids"]})
    m = manager_for("c1", lay)
    m.create()
    child = subprocess.Popen(["sleep", "60"])
    try:
        put(m, "pids", "cgroup.procs", f"{child.pid}\n")
        assert m.kill(signal.SIGKILL) == 1
        assert child.wait(timeout=5) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()


def test_setup_devices(m):
    written = []
    import rocker.cgroups.fs as cgfs
    real = cgfs.write

    def record(path, value, **kw):
        written.append((os.path.basename(path), str(value)))
        real(path, value, **kw)

    cgfs.write, saved = record, cgfs.write
    try:
        m.setup_devices()
    finally:
        cgfs.write = saved
    assert written[0] == ("devices.deny", "a")
    assert [v for f, v in written[1:] if f == "devices.allow"] == list(DEVICE_RULES)
    assert "c 1:3 rwm" in DEVICE_RULES and "c 136:* rwm" in DEVICE_RULES


def test_oom_and_stats(m):
    put(m, "memory", "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    put(m, "memory", "memory.usage_in_bytes", "8192")
    put(m, "memory", "memory.stat", "cache 10\ntotal_inactive_file 4096\n")
    put(m, "cpuacct", "cpuacct.usage", "777")
    put(m, "pids", "pids.current", "2")
    put(m, "blkio", "blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 100\n8:0 Write 200\n8:0 Sync 300\n8:0 Total 300\nTotal 300\n")
    s = m.stats()
    assert m.oom_kill_count() == 3
    assert (s.cpu_usage_ns, s.memory_usage, s.memory_limit, s.pids_current) == (777, 8192, None, 2)
    assert (s.memory_inactive_file, s.pids_limit, s.io_read_bytes, s.io_write_bytes) == (
        4096, None, 100, 200)
    assert s.oom_kills == 3


def test_destroy(layout, m):
    m.destroy()
    assert not m.exists()
    for mnt in layout.hierarchies():
        assert not os.path.exists(os.path.join(mnt, "rocker"))
    m.destroy()


def test_destroy_keeps_shared_parent(layout, m):
    other = manager_for("c2", layout)
    other.create()
    m.destroy()
    assert other.exists()
    for mnt in layout.hierarchies():
        assert os.path.isdir(os.path.join(mnt, "rocker"))
    other.destroy()


def test_pure_v1_layout_mode(tmp_path):
    lay = make_layout(tmp_path)
    lay = Layout(V1, lay.root, None, lay.controllers, lay.ops)
    assert isinstance(manager_for("x", lay), V1Manager)
