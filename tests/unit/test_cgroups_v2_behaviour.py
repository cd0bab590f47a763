"""The issue-4 behaviours at the library level on the fake v2 cgroupfs (and the all-or-nothing
apply on both backends): every option from what users type to the files and back, live updates
(merge, --memory-swap alone, Docker's swap default), refused values leaving nothing, rollback,
drift, kill of a double-forked tree, freeze, destroy.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess

import pytest

from tests.drift import drift
from rocker.cgroups import Limits, manager_for, parse_limits, shares_to_weight
from rocker.errors import InvalidInput
from tests.unit import test_cgroups_v1 as v1t
from tests.unit.test_cgroups_v2 import make_root, put, rd

MiB = 1024 * 1024


@pytest.fixture
def host(tmp_path):
    (tmp_path / "cpu_online").write_text("0-1\n")
    (tmp_path / "node_online").write_text("0\n")
    return {"cpu_online": str(tmp_path / "cpu_online"),
            "node_online": str(tmp_path / "node_online")}


@pytest.fixture
def m(tmp_path):
    m = manager_for("c1", make_root(tmp_path))
    m.create()
    return m


# option as typed -> {file: content} on v2
OPTIONS = [
    ({"memory": "100m"}, {"memory.max": str(100 * MiB)}),
    ({"memory": "100m", "memory_swap": "300m"},
     {"memory.max": str(100 * MiB), "memory.swap.max": str(200 * MiB)}),
    ({"memory": "1g", "memory_swap": "-1"}, {"memory.swap.max": "max"}),
    ({"memory_reservation": "50m"}, {"memory.low": str(50 * MiB)}),
    ({"cpu_shares": "512"}, {"cpu.weight": str(shares_to_weight(512))}),
    ({"cpu_shares": 2}, {"cpu.weight": "1"}),
    ({"cpu_shares": 262144}, {"cpu.weight": "10000"}),
    ({"cpus": "1.5"}, {"cpu.max": "150000 100000"}),
    ({"cpus": 0.01}, {"cpu.max": "1000 100000"}),
    ({"cpuset_cpus": "0"}, {"cpuset.cpus": "0"}),
    ({"cpuset_cpus": "0-1"}, {"cpuset.cpus": "0-1"}),
    ({"cpuset_mems": "0"}, {"cpuset.mems": "0"}),
    ({"pids_limit": "20"}, {"pids.max": "20"}),
    ({"pids_limit": 0}, {"pids.max": "max"}),
    ({"pids_limit": -1}, {"pids.max": "max"}),
]


@pytest.mark.parametrize("given,files", OPTIONS, ids=[str(g) for g, _ in OPTIONS])
def test_every_option_to_files_and_back(m, host, given, files):
    spec = parse_limits(**given, **host)
    assert m.apply(spec.effective()) == []
    for name, content in files.items():
        assert rd(m, name) == content
    assert drift(m, spec) == {}


def test_memory_alone_gets_dockers_swap_default_and_no_drift(m, host):
    spec = parse_limits(memory="100m", **host)
    m.apply(spec.effective())
    assert rd(m, "memory.swap.max") == str(100 * MiB)     # as much swap as memory
    assert m.read_limits().memory_swap == 200 * MiB
    assert drift(m, spec) == {}                            # the derived value is no drift
    put(m, "memory.max", str(50 * MiB))
    assert drift(m, spec) == {"memory": (100 * MiB, 50 * MiB)}


def test_update_merges_and_changes_live_values(m, host):
    stored = parse_limits(memory="100m", cpus="1", pids_limit="50", **host)
    m.apply(stored.effective())
    given = parse_limits(memory="64m", cpus="0.5", pids_limit="30", partial=True, **host)
    new = stored.merge(given)
    m.apply(new.effective())
    assert rd(m, "memory.max") == str(64 * MiB)
    assert rd(m, "memory.swap.max") == str(64 * MiB)
    assert rd(m, "cpu.max") == "50000 100000"
    assert rd(m, "pids.max") == "30"
    assert drift(m, new) == {}
    assert new.to_dict() == {"memory": 64 * MiB, "cpus": 0.5, "pids_limit": 30}


def test_update_memory_swap_alone(m, host):
    m.apply(Limits(memory=64 * MiB))
    given = parse_limits(memory_swap="300m", partial=True, **host)
    assert given == Limits(memory_swap=300 * MiB)
    m.apply(given)                                        # counted from memory.max in force
    assert rd(m, "memory.swap.max") == str(236 * MiB)
    assert rd(m, "memory.max") == str(64 * MiB)
    with pytest.raises(InvalidInput, match="at least --memory"):
        m.apply(Limits(memory_swap=32 * MiB))
    assert rd(m, "memory.swap.max") == str(236 * MiB)


def test_memory_swap_alone_without_memory_is_refused(m, host):
    with pytest.raises(InvalidInput, match="needs --memory"):
        parse_limits(memory_swap="300m", **host)
    with pytest.raises(InvalidInput, match="needs --memory"):
        m.apply(Limits(memory_swap=300 * MiB))
    assert rd(m, "memory.swap.max") == "max"


def _refuse_writes_to(monkeypatch, name, err=errno.EBUSY):
    """Make the fake kernel refuse writes to one interface file, like cgroupfs would."""
    real_open, real_write = os.open, os.write
    bad: set = set()

    def fake_open(path, flags, *a, **kw):
        refused = os.path.basename(str(path)) == name and flags & os.O_WRONLY
        if refused:
            flags &= ~os.O_TRUNC  # cgroupfs does not truncate; the fake file must not either
        fd = real_open(path, flags, *a, **kw)
        if refused:
            bad.add(fd)
        else:
            bad.discard(fd)
        return fd

    def fake_write(fd, data):
        if fd in bad:
            raise OSError(err, os.strerror(err))
        return real_write(fd, data)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "write", fake_write)


def test_a_refused_write_changes_nothing_v2(m, monkeypatch):
    m.apply(Limits(memory=100 * MiB, memory_swap=200 * MiB, cpus=1.0, pids_limit=50))
    before = {n: rd(m, n) for n in ("memory.max", "memory.swap.max", "cpu.max", "pids.max")}
    _refuse_writes_to(monkeypatch, "pids.max")
    with pytest.raises(InvalidInput, match="cannot set --pids-limit 5"):
        m.apply(Limits(memory=64 * MiB, memory_swap=128 * MiB, cpus=0.5, pids_limit=5))
    monkeypatch.undo()
    assert {n: rd(m, n) for n in before} == before


def test_a_refused_write_changes_nothing_v1(tmp_path, monkeypatch):
    m = manager_for("c1", v1t.make_layout(tmp_path))
    m.create()
    m.apply(Limits(memory=100 * MiB, memory_swap=200 * MiB, cpus=1.0, cpuset_cpus="0-1"))
    files = [("memory", "memory.limit_in_bytes"), ("memory", "memory.memsw.limit_in_bytes"),
             ("cpu", "cpu.cfs_quota_us"), ("cpu", "cpu.cfs_period_us"),
             ("cpuset", "cpuset.cpus")]
    before = [v1t.rd(m, c, f) for c, f in files]
    _refuse_writes_to(monkeypatch, "cpuset.cpus", errno.EINVAL)
    with pytest.raises(InvalidInput, match="cannot set --cpuset-cpus 1"):
        m.apply(Limits(memory=300 * MiB, memory_swap=600 * MiB, cpus=0.5, cpuset_cpus="1"))
    monkeypatch.undo()
    assert [v1t.rd(m, c, f) for c, f in files] == before
    # memory limit below usage (the kernel says EBUSY): swap written first is put back
    _refuse_writes_to(monkeypatch, "memory.limit_in_bytes")
    with pytest.raises(InvalidInput, match="uses more memory than that now"):
        m.apply(Limits(memory=150 * MiB, memory_swap=300 * MiB))
    monkeypatch.undo()
    assert [v1t.rd(m, c, f) for c, f in files] == before


BAD = [
    {"memory": "10x"}, {"memory": "1k"}, {"memory": "-1"}, {"cpu_shares": -5},
    {"cpu_shares": "abc"}, {"cpuset_cpus": "99"}, {"cpuset_cpus": "1-0"}, {"cpuset_mems": "3"},
    {"cpus": 0}, {"cpus": "8"}, {"cpus": "nan"}, {"pids_limit": -5}, {"memory_swap": "300m"},
    {"memory": "100m", "memory_swap": "50m"}, {"memory": "100m", "memory_reservation": "200m"},
]


@pytest.mark.parametrize("given", BAD, ids=[str(b) for b in BAD])
def test_bad_values_are_refused_before_anything_exists(tmp_path, host, given):
    lay = make_root(tmp_path)
    with pytest.raises(InvalidInput) as e:
        parse_limits(**given, **host)
    assert "\n" not in str(e.value) and str(e.value).startswith("invalid --")
    assert not manager_for("c1", lay).exists()
    assert not os.path.exists(os.path.join(lay.root, "rocker"))


def test_kill_reaches_a_double_forked_process(m):
    # a child that forks a grandchild in a new session and exits: only the cgroup knows both
    p = subprocess.Popen(["sh", "-c", "setsid sleep 60 & sleep 60"])
    try:
        put(m, "cgroup.procs", f"{p.pid}\n")
        out = subprocess.run(["sh", "-c", f"pgrep -P {p.pid} -x sleep || true"],
                             capture_output=True, text=True).stdout.split()
        put(m, "cgroup.procs", "\n".join([str(p.pid), *out]) + "\n")
        os.unlink(os.path.join(m.path, "cgroup.kill"))   # no cgroup.kill: freeze, signal, thaw
        put(m, "cgroup.events", "populated 1\nfrozen 1\n")  # the fake freezes at once
        assert m.kill(signal.SIGKILL) == 1 + len(out)
        assert p.wait(timeout=5) == -signal.SIGKILL
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_pause_unpause_and_destroy(m):
    put(m, "cgroup.events", "populated 0\nfrozen 1\n")
    m.freeze()
    assert rd(m, "cgroup.freeze") == "1" and m.is_frozen()
    m.thaw()
    assert rd(m, "cgroup.freeze") == "0"
    m.destroy()
    assert not m.exists()
    assert not os.path.exists(os.path.dirname(m.path))  # the empty rocker parent too
