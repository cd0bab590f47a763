"""The plain records of rocker.cgroups (Limits, Stats, Layout) and the weight of its import.

They replaced frozen dataclasses (whose import costs inspect/ast/dis/tokenize): same behaviour,
checked here: construction, defaults, immutability, ==, hash, repr, replace, pickle, copies.
"""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys

import pytest

from rocker.cgroups import V1, V2, DirOps, Layout, Limits, Stats
from rocker.errors import InvalidInput
from tests.conftest import REPO

MiB = 1024 * 1024


def test_limits_defaults_and_keywords():
    lim = Limits()
    assert all(getattr(lim, n) is None for n in Limits.FIELDS)
    assert Limits.FIELDS == ("memory", "memory_swap", "memory_reservation", "cpu_shares", "cpus",
                             "cpuset_cpus", "cpuset_mems", "pids_limit")
    assert Limits(100, 200).memory_swap == 200
    with pytest.raises(TypeError):
        Limits(bogus=1)
    with pytest.raises(TypeError):
        Limits(1, memory=2)
    with pytest.raises(TypeError):
        Limits(*range(9))


def test_limits_are_immutable_hashable_and_compare_by_value():
    a, b = Limits(memory=MiB * 64, cpus=1.5), Limits(cpus=1.5, memory=MiB * 64)
    assert a == b and hash(a) == hash(b) and not (a != b)
    assert a != Limits(memory=MiB * 64) and a != "x"
    assert len({a, b, Limits()}) == 2
    with pytest.raises(AttributeError):
        a.memory = 1
    with pytest.raises(AttributeError):
        a.other = 1
    with pytest.raises(AttributeError):
        del a.memory
    assert not hasattr(a, "__dict__")


def test_limits_repr_replace_pickle_copy():
    a = Limits(memory=64 * MiB, cpuset_cpus="0-1")
    assert repr(a) == ("Limits(memory=67108864, memory_swap=None, memory_reservation=None, "
                       "cpu_shares=None, cpus=None, cpuset_cpus='0-1', cpuset_mems=None, "
                       "pids_limit=None)")
    b = a.replace(pids_limit=5)
    assert b.pids_limit == 5 and a.pids_limit is None and b.memory == a.memory
    with pytest.raises(TypeError):
        a.replace(nope=1)
    assert pickle.loads(pickle.dumps(a)) == a
    assert copy.copy(a) == a and copy.deepcopy(a) == a


def test_limits_dict_roundtrip_and_merge():
    a = Limits(memory=64 * MiB, cpus=1.5, pids_limit=-1)
    assert a.to_dict() == {"memory": 64 * MiB, "cpus": 1.5, "pids_limit": -1}
    assert Limits.from_dict(a.to_dict()) == a
    assert Limits.from_dict({"cpus": 2, "future": 1, "memory": None}) == Limits(cpus=2.0)
    assert isinstance(Limits.from_dict({"cpus": 2}).cpus, float)
    assert Limits.from_dict(None) == Limits() and Limits().is_empty()
    assert a.set_fields() == ["memory", "cpus", "pids_limit"]
    m = a.merge(Limits(memory=32 * MiB, cpu_shares=512))
    assert m == Limits(memory=32 * MiB, cpus=1.5, pids_limit=-1, cpu_shares=512)
    with pytest.raises(InvalidInput, match="above the --memory-swap in force"):
        Limits(memory=64 * MiB, memory_swap=100 * MiB).merge(Limits(memory=200 * MiB))


def test_effective_fills_dockers_swap_default():
    assert Limits(memory=100 * MiB).effective() == Limits(memory=100 * MiB,
                                                          memory_swap=200 * MiB)
    explicit = Limits(memory=100 * MiB, memory_swap=-1)
    assert explicit.effective() is explicit
    assert Limits(memory=100 * MiB, memory_swap=150 * MiB).effective().memory_swap == 150 * MiB
    assert Limits(cpus=1.0).effective() == Limits(cpus=1.0)
    # the stored form keeps what was given
    assert Limits(memory=100 * MiB).effective().to_dict() != Limits(memory=100 * MiB).to_dict()


def test_stats_record():
    s = Stats(1, 2, None, 3)
    assert s.memory_inactive_file == 0 and s.pids_limit is None and s.read_at == 0.0
    assert s.to_dict() == {"cpu_usage_ns": 1, "memory_usage": 2, "memory_limit": None,
                           "pids_current": 3, "memory_inactive_file": 0, "pids_limit": None,
                           "io_read_bytes": 0, "io_write_bytes": 0, "oom_kills": 0,
                           "read_at": 0.0}
    assert s == Stats(cpu_usage_ns=1, memory_usage=2, memory_limit=None, pids_current=3)
    with pytest.raises(TypeError, match="missing"):
        Stats(1, 2)
    with pytest.raises(AttributeError):
        s.memory_usage = 5


def test_layout_record():
    a = Layout(V1, controllers={"memory": "/x"})
    b = Layout(V1, controllers={"memory": "/x"}, ops=DirOps())
    assert a == b and hash(a) == hash(b)          # ops take no part in ==
    assert a.root == "/sys/fs/cgroup" and a.unified is None and isinstance(a.ops, DirOps)
    assert Layout(V2).controllers == {} and Layout(V2).controllers is not Layout(V2).controllers
    assert "ops" not in repr(a) and "memory" in repr(a)
    assert a.version == 1 and Layout(V2).version == 2
    assert a.hierarchies() == {"/x": "memory"}
    assert a.replace(mode=V2).version == 2


def test_import_is_light():
    code = ("import sys; sys.path.insert(0, %r); import rocker.cgroups; "
            "print(' '.join(sorted(m for m in sys.modules if m in "
            "('dataclasses', 'inspect', 'ast', 're', 'typing', 'dis', 'tokenize'))))" % REPO)
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=""), check=True).stdout
    assert out.strip() == ""
