"""Unit tests of the cgroup v2 backend against a temporary folder laid out like cgroupfs.

`FakeV2Ops` plays the kernel's part of mkdir/rmdir: a new directory gets the interface files of
the controllers its parent enables in cgroup.subtree_control; rmdir refuses a cgroup with pids.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess

import pytest

from tests.drift import drift
from rocker.cgroups import (
    V2,
    DirOps,
    Layout,
    Limits,
    manager_for,
    parse_limits,
    weight_to_shares,
)
from rocker.cgroups import fs as cgfs
from rocker.cgroups.v2 import V2Manager
from rocker.errors import HostError, InvalidInput, NotFound

MiB = 1024 * 1024

CORE = {
    "cgroup.controllers": "",
    "cgroup.subtree_control": "",
    "cgroup.procs": "",
    "cgroup.freeze": "0",
    "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.kill": "",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
}
PER_CONTROLLER = {
    "memory": {"memory.max": "max", "memory.swap.max": "max", "memory.low": "0",
               "memory.current": "0", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
               "memory.stat": "anon 0\nfile 0\ninactive_file 0\n"},
    "cpu": {"cpu.max": "max 100000", "cpu.weight": "100"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": "", "cpuset.cpus.effective": "0-3"},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "io": {"io.stat": ""},
}
ROOT_CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma misc"


def _enabled(parent: str) -> list[str]:
    with open(os.path.join(parent, "cgroup.subtree_control")) as f:
        return f.read().replace("+", " ").split()


def populate(path: str, controllers: list[str], skip: tuple = ()) -> None:
    files = dict(CORE)
    files["cgroup.controllers"] = " ".join(controllers)
    for c in controllers:
        files.update(PER_CONTROLLER.get(c, {}))
    for name, content in files.items():
        if name not in skip:
            with open(os.path.join(path, name), "w") as f:
                f.write(content)


class FakeV2Ops(DirOps):
    def __init__(self, skip: tuple = ()) -> None:
        self.skip = skip

    def mkdir(self, path: str) -> None:
        os.mkdir(path)
        populate(path, _enabled(os.path.dirname(path)), self.skip)

    def rmdir(self, path: str) -> None:
        if os.path.exists(os.path.join(path, "cgroup.procs")):
            with open(os.path.join(path, "cgroup.procs")) as f:
                if f.read().strip():
                    raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        if any(os.path.isdir(os.path.join(path, n)) for n in os.listdir(path)):
            raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), path)
        for n in os.listdir(path):
            os.unlink(os.path.join(path, n))
        os.rmdir(path)


def make_root(tmp_path, controllers: str = ROOT_CONTROLLERS, skip: tuple = ()):
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text(controllers + "\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("1\n")
    return Layout(V2, str(root), str(root), {}, FakeV2Ops(skip))


@pytest.fixture
def layout(tmp_path):
    return make_root(tmp_path)


@pytest.fixture
def m(layout):
    m = manager_for("c1", layout)
    m.create()
    return m


def rd(m, name):
    return open(os.path.join(m.path, name)).read()


def put(m, name, content):
    with open(os.path.join(m.path, name), "w") as f:
        f.write(content)


def test_manager_type_and_paths(layout):
    m = manager_for("c1", layout)
    assert isinstance(m, V2Manager) and m.version == 2
    assert m.paths() == [os.path.join(layout.root, "rocker", "c1")]
    assert not m.exists()


@pytest.mark.parametrize("bad", ["", "a/b", "..", "."])
def test_bad_ids(layout, bad):
    with pytest.raises(InvalidInput):
        manager_for(bad, layout)


def test_create_enables_controllers_on_the_way_down(layout, m):
    root = layout.root
    assert m.exists()
    rootctl = open(os.path.join(root, "cgroup.subtree_control")).read()
    assert rootctl == "+cpu +cpuset +memory +pids +io"
    parentctl = open(os.path.join(root, "rocker", "cgroup.subtree_control")).read()
    assert "+memory" in parentctl and "+cpu" in parentctl and "+pids" in parentctl
    assert "hugetlb" not in rootctl + parentctl
    assert os.path.exists(os.path.join(m.path, "memory.max"))
    # nothing enabled inside the container's own cgroup (it holds the processes)
    assert rd(m, "cgroup.subtree_control") == ""


def test_create_is_idempotent(layout, m):
    before = open(os.path.join(layout.root, "cgroup.subtree_control")).read()
    assert m.create() == []
    assert open(os.path.join(layout.root, "cgroup.subtree_control")).read() == before


def test_only_available_controllers_are_enabled(tmp_path):
    lay = make_root(tmp_path, controllers="memory pids")
    m = manager_for("c1", lay)
    m.create()
    assert open(os.path.join(lay.root, "cgroup.subtree_control")).read() == "+memory +pids"
    with pytest.raises(HostError, match="cpu controller is not enabled"):
        m.apply(Limits(cpus=1.0))
    m.apply(Limits(memory=64 * MiB))
    assert rd(m, "memory.max") == str(64 * MiB)


def test_apply_every_option(m):
    lim = Limits(memory=100 * MiB, memory_swap=300 * MiB, memory_reservation=50 * MiB,
                 cpu_shares=512, cpus=1.5, cpuset_cpus="0-1", cpuset_mems="0", pids_limit=64)
    assert m.apply(lim) == []
    assert rd(m, "memory.max") == "104857600"
    assert rd(m, "memory.swap.max") == str(200 * MiB)  # memory_swap - memory
    assert rd(m, "memory.low") == "52428800"
    assert rd(m, "cpu.weight") == str(1 + ((512 - 2) * 9999) // 262142)
    assert rd(m, "cpu.max") == "150000 100000"
    assert rd(m, "cpuset.cpus") == "0-1"
    assert rd(m, "cpuset.mems") == "0"
    assert rd(m, "pids.max") == "64"


def test_apply_unlimited_values(m):
    m.apply(Limits(memory=100 * MiB, memory_swap=-1, pids_limit=-1))
    assert rd(m, "memory.swap.max") == "max"
    assert rd(m, "pids.max") == "max"


def test_apply_from_parsed_limits(m):
    m.apply(parse_limits(memory="64m", memory_swap="64m", cpu_shares=1024))
    assert rd(m, "memory.max") == str(64 * MiB)
    assert rd(m, "memory.swap.max") == "0"
    assert rd(m, "cpu.weight") == "39"


def test_update_changes_only_given_fields(m):
    m.apply(Limits(memory=100 * MiB, cpus=1.5, pids_limit=64))
    m.apply(Limits(memory=64 * MiB))
    assert rd(m, "memory.max") == str(64 * MiB)
    assert rd(m, "cpu.max") == "150000 100000"
    assert rd(m, "pids.max") == "64"
    assert rd(m, "cpu.weight") == "100"


def test_reset_unset_and_replace(m):
    m.apply(Limits(memory=100 * MiB, memory_swap=200 * MiB, memory_reservation=10 * MiB,
                   cpu_shares=4096, cpus=1.5, cpuset_cpus="1", cpuset_mems="0", pids_limit=64))
    m.replace(Limits(pids_limit=10))
    assert rd(m, "memory.max") == "max"
    assert rd(m, "memory.swap.max") == "max"
    assert rd(m, "memory.low") == "0"
    assert rd(m, "cpu.weight") == "100"
    assert rd(m, "cpu.max") == "max 100000"
    assert rd(m, "cpuset.cpus").strip() == ""
    assert rd(m, "pids.max") == "10"
    assert m.read_limits() == Limits(cpu_shares=weight_to_shares(100), pids_limit=10)


def test_read_limits_roundtrip(m):
    lim = Limits(memory=100 * MiB, memory_swap=300 * MiB, memory_reservation=50 * MiB,
                 cpu_shares=2, cpus=1.5, cpuset_cpus="0-1", cpuset_mems="0", pids_limit=64)
    m.apply(lim)
    assert m.read_limits() == lim
    assert drift(m, lim) == {}


def test_read_limits_defaults_are_none(m):
    lim = m.read_limits()
    assert lim.memory is None and lim.memory_swap is None and lim.memory_reservation is None
    assert lim.cpus is None and lim.pids_limit is None and lim.cpuset_cpus is None
    assert lim.cpu_shares == weight_to_shares(100) == 2598  # weight 100, the v2 default


def test_drift_detects_hand_written_values(m):
    want = Limits(memory=100 * MiB, cpu_shares=512, pids_limit=64)
    m.apply(want)
    assert drift(m, want) == {}  # 512 shares reads back as 501 but is the same weight
    put(m, "memory.max", str(200 * MiB))
    put(m, "pids.max", "max")
    assert drift(m, want) == {"memory": (100 * MiB, 200 * MiB), "pids_limit": (64, None)}


def test_swap_missing_is_a_warning(tmp_path):
    lay = make_root(tmp_path, skip=("memory.swap.max",))
    m = manager_for("c1", lay)
    m.create()
    warnings = m.apply(Limits(memory=64 * MiB, memory_swap=128 * MiB))
    assert len(warnings) == 1 and "swap limit" in warnings[0]
    assert rd(m, "memory.max") == str(64 * MiB)


def test_write_errors(m, monkeypatch):
    real_write = os.write

    def busy(fd, data):
        raise OSError(errno.EBUSY, "Device or resource busy")

    monkeypatch.setattr(os, "write", busy)
    with pytest.raises(InvalidInput, match=r"cannot set --memory 6291456: .*Device or resource"):
        m.apply(Limits(memory=6 * MiB))
    monkeypatch.setattr(os, "write", real_write)
    os.unlink(os.path.join(m.path, "pids.max"))
    with pytest.raises(HostError, match="pids controller is not enabled"):
        m.apply(Limits(pids_limit=5))
    with pytest.raises(HostError, match=r"cannot write 5 to .*/nope: No such file or directory"):
        cgfs.write(os.path.join(m.path, "nope"), 5)


def test_add_pid_and_procs(m):
    m.add_pid(1234)
    assert rd(m, "cgroup.procs") == "1234"
    os.mkdir(os.path.join(m.path, "nested"))
    with open(os.path.join(m.path, "nested", "cgroup.procs"), "w") as f:
        f.write("99\n77\n")
    assert m.procs() == [77, 99, 1234]


def test_freeze_and_thaw(m):
    put(m, "cgroup.events", "populated 1\nfrozen 1\n")  # what the kernel would say
    m.freeze()
    assert rd(m, "cgroup.freeze") == "1"
    assert m.is_frozen()
    m.thaw()
    assert rd(m, "cgroup.freeze") == "0"


def test_freeze_timeout_thaws_again(m):
    with pytest.raises(HostError, match="not frozen"):
        m.freeze(timeout=0.05)
    assert rd(m, "cgroup.freeze") == "0"


def test_kill_with_sigkill_uses_cgroup_kill(m):
    put(m, "cgroup.procs", "11\n12\n")
    assert m.kill(signal.SIGKILL) == 2
    assert rd(m, "cgroup.kill") == "1"


def test_kill_empty(m):
    assert m.kill(signal.SIGTERM) == 0


class FreezeFollowsFile(V2Manager):
    """The fake kernel does not update cgroup.events: read the state from cgroup.freeze."""

    def is_frozen(self) -> bool:
        return open(os.path.join(self.path, "cgroup.freeze")).read().strip() == "1"


def test_kill_other_signal_freezes_signals_thaws(layout):
    m = FreezeFollowsFile("c1", layout)
    m.create()
    child = subprocess.Popen(["sleep", "60"])
    try:
        put(m, "cgroup.procs", f"{child.pid}\n")
        assert m.kill(signal.SIGTERM) == 1
        assert child.wait(timeout=5) == -signal.SIGTERM
        assert rd(m, "cgroup.freeze") == "0"
    finally:
        child.kill()
        child.wait()


def test_kill_keeps_a_paused_container_paused(layout):
    m = FreezeFollowsFile("c1", layout)
    m.create()
    child = subprocess.Popen(["sleep", "60"])
    try:
        put(m, "cgroup.procs", f"{child.pid}\n")
        m.freeze()
        m.kill(signal.SIGTERM)
        assert rd(m, "cgroup.freeze") == "1"
    finally:
        child.kill()
        child.wait()


def test_oom_and_stats(m):
    put(m, "memory.events", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n")
    put(m, "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    put(m, "memory.current", "4096000")
    put(m, "memory.stat", "anon 1\ninactive_file 4096\n")
    put(m, "pids.current", "3")
    put(m, "io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n")
    m.apply(Limits(memory=64 * MiB, pids_limit=10))
    assert m.oom_kill_count() == 2
    s = m.stats()
    assert (s.cpu_usage_ns, s.memory_usage, s.memory_limit, s.pids_current) == (
        1500000, 4096000, 64 * MiB, 3)
    assert (s.memory_inactive_file, s.pids_limit, s.io_read_bytes, s.io_write_bytes) == (
        4096, 10, 101, 202)
    assert s.oom_kills == 2 and s.read_at > 0
    assert s.to_dict()["memory_usage"] == 4096000


def test_stats_without_cgroup(layout):
    with pytest.raises(NotFound):
        manager_for("gone", layout).stats()


def test_setup_devices_is_a_noop(m):
    before = sorted(os.listdir(m.path))
    m.setup_devices()
    assert sorted(os.listdir(m.path)) == before


def test_destroy_removes_dirs_and_empty_parent(layout, m):
    m.destroy()
    assert not m.exists()
    assert not os.path.exists(os.path.join(layout.root, "rocker"))
    m.destroy()  # idempotent


def test_destroy_keeps_parent_used_by_others(layout, m):
    other = manager_for("c2", layout)
    other.create()
    m.destroy()
    assert not m.exists() and other.exists()
    other.destroy()
    assert not os.path.exists(os.path.join(layout.root, "rocker"))


def test_destroy_removes_nested_cgroups(layout, m):
    nested = os.path.join(m.path, "init")
    layout.ops.mkdir(nested)
    m.destroy()
    assert not os.path.exists(m.path)


def test_destroy_times_out_when_processes_stay(m):
    put(m, "cgroup.procs", "999999999\n")  # a pid that cannot exist: never goes away
    with pytest.raises(HostError, match="999999999 did not die"):
        m.destroy(timeout=0.2)
    assert m.exists()


def test_create_after_parent_removed(layout, m):
    m.destroy()
    m.create()
    assert m.exists()
    assert "+memory" in open(os.path.join(layout.root, "rocker", "cgroup.subtree_control")).read()
