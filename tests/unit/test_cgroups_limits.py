"""Unit tests of rocker.cgroups.limits: sizes, limits parsing/validation, conversions, model."""

from __future__ import annotations

import pytest

from rocker.cgroups import (
    Limits,
    cpus_to_quota,
    parse_bytes,
    parse_cpuset,
    parse_limits,
    shares_to_weight,
    weight_to_shares,
)
from rocker.errors import InvalidInput

MiB = 1024 * 1024


@pytest.fixture
def host(tmp_path):
    """A pretend host with CPUs 0-3 and NUMA node 0, passed to parse_limits."""
    cpu = tmp_path / "cpu_online"
    cpu.write_text("0-3\n")
    node = tmp_path / "node_online"
    node.write_text("0\n")
    return {"cpu_online": str(cpu), "node_online": str(node)}


@pytest.mark.parametrize("text,expected", [
    ("0", 0),
    ("512", 512),
    (512, 512),
    ("100b", 100),
    ("1k", 1024),
    ("1K", 1024),
    ("2kb", 2048),
    ("2KB", 2048),
    ("100m", 100 * MiB),
    ("100M", 100 * MiB),
    ("100mb", 100 * MiB),
    ("100MiB", 100 * MiB),
    ("1g", 1024 ** 3),
    ("1GB", 1024 ** 3),
    ("1.5g", 3 * 1024 ** 3 // 2),
    (" 64m ", 64 * MiB),
    ("1t", 1024 ** 4),
])
def test_parse_bytes(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("bad", ["10x", "", "m", "abc", "1.2.3m", "-1", "-5m", "1 0m", "10mm",
                                 True, None, [1], -3, "0x10"])
def test_parse_bytes_bad(bad):
    with pytest.raises(InvalidInput):
        parse_bytes(bad)


def test_parse_bytes_names_option():
    with pytest.raises(InvalidInput, match=r"--memory '10x'"):
        parse_bytes("10x", "--memory")


def test_parse_limits_all(host):
    lim = parse_limits(memory="100m", memory_swap="200m", memory_reservation="50m",
                       cpu_shares="512", cpus="1.5", cpuset_cpus="0-1,3", cpuset_mems="0",
                       pids_limit="100", **host)
    assert lim == Limits(memory=100 * MiB, memory_swap=200 * MiB, memory_reservation=50 * MiB,
                         cpu_shares=512, cpus=1.5, cpuset_cpus="0-1,3", cpuset_mems="0",
                         pids_limit=100)


def test_parse_limits_numbers_from_spec_file(host):
    lim = parse_limits(memory=64 * MiB, cpu_shares=2, cpus=4, pids_limit=1, cpuset_cpus=2,
                       **host)
    assert lim == Limits(memory=64 * MiB, cpu_shares=2, cpus=4.0, pids_limit=1, cpuset_cpus="2")


def test_parse_limits_nothing():
    assert parse_limits() == Limits()
    assert Limits().is_empty()


@pytest.mark.parametrize("kw,expected", [
    ({"memory_swap": "-1", "memory": "10m"}, Limits(memory=10 * MiB, memory_swap=-1)),
    ({"memory_swap": -1, "memory": "10m"}, Limits(memory=10 * MiB, memory_swap=-1)),
    ({"memory_swap": "10m", "memory": "10m"}, Limits(memory=10 * MiB, memory_swap=10 * MiB)),
    ({"pids_limit": 0}, Limits(pids_limit=-1)),
    ({"pids_limit": "-1"}, Limits(pids_limit=-1)),
    ({"memory": "6m"}, Limits(memory=6 * MiB)),
    ({"cpu_shares": 262144}, Limits(cpu_shares=262144)),
    ({"cpus": "0.5"}, Limits(cpus=0.5)),
    ({"memory_reservation": "10m", "memory": "10m"},
     Limits(memory=10 * MiB, memory_reservation=10 * MiB)),
])
def test_parse_limits_edges(host, kw, expected):
    assert parse_limits(**kw, **host) == expected


@pytest.mark.parametrize("kw,message", [
    ({"memory": "10x"}, r"--memory '10x'"),
    ({"memory": "-5m"}, r"--memory '-5m': a size cannot be negative"),
    ({"memory": -1}, r"--memory -1"),
    ({"memory": "5m"}, r"--memory '5m': the minimum memory limit is 6m"),
    ({"memory": "0"}, r"--memory '0'"),
    ({"memory_swap": "abc", "memory": "10m"}, r"--memory-swap 'abc'"),
    ({"memory_swap": "-2", "memory": "10m"}, r"--memory-swap '-2'.*-1 for unlimited"),
    ({"memory_swap": "50m", "memory": "100m"}, r"--memory-swap .*at least --memory"),
    ({"memory_swap": "50m"}, r"--memory-swap .*needs --memory"),
    ({"memory_reservation": "1k"}, r"--memory-reservation '1k'"),
    ({"memory_reservation": "200m", "memory": "100m"},
     r"--memory-reservation .*not be more than --memory"),
    ({"cpu_shares": 0}, r"--cpu-shares 0: must be between 2 and 262144"),
    ({"cpu_shares": "-5"}, r"--cpu-shares '-5'"),
    ({"cpu_shares": 1}, r"--cpu-shares 1"),
    ({"cpu_shares": 262145}, r"--cpu-shares 262145"),
    ({"cpu_shares": "lots"}, r"--cpu-shares 'lots': expected a whole number"),
    ({"cpu_shares": 1.5}, r"--cpu-shares 1.5"),
    ({"cpus": 0}, r"--cpus 0: must be more than 0"),
    ({"cpus": "-1"}, r"--cpus '-1': must be more than 0"),
    ({"cpus": "5"}, r"--cpus '5': this host has only 4 CPUs"),
    ({"cpus": "two"}, r"--cpus 'two'"),
    ({"cpus": "nan"}, r"--cpus 'nan'"),
    ({"cpus": 0.001}, r"--cpus 0.001: the minimum is 0.01"),
    ({"cpuset_cpus": "4"}, r"--cpuset-cpus '4': CPU 4 is not available on this host"),
    ({"cpuset_cpus": "0-9"}, r"--cpuset-cpus '0-9': CPU 4 is not available"),
    ({"cpuset_cpus": "1-0"}, r"--cpuset-cpus '1-0': bad range"),
    ({"cpuset_cpus": "0-"}, r"--cpuset-cpus '0-'"),
    ({"cpuset_cpus": "a"}, r"--cpuset-cpus 'a'"),
    ({"cpuset_cpus": ""}, r"--cpuset-cpus ''"),
    ({"cpuset_cpus": "0,,1"}, r"--cpuset-cpus '0,,1'"),
    ({"cpuset_cpus": "-1"}, r"--cpuset-cpus '-1'"),
    ({"cpuset_mems": "1"}, r"--cpuset-mems '1': memory node 1 is not available"),
    ({"cpuset_mems": "x"}, r"--cpuset-mems 'x'"),
    ({"pids_limit": -2}, r"--pids-limit -2: must be between 1 and 4194304"),
    ({"pids_limit": 4194305}, r"--pids-limit 4194305: must be between 1 and 4194304"),
    ({"pids_limit": "many"}, r"--pids-limit 'many'"),
    ({"pids_limit": True}, r"--pids-limit True"),
])
def test_parse_limits_bad(host, kw, message):
    with pytest.raises(InvalidInput, match=message) as e:
        parse_limits(**kw, **host)
    assert "\n" not in str(e.value)


def test_parse_limits_partial_allows_swap_alone(host):
    assert parse_limits(memory_swap="300m", partial=True, **host) == Limits(
        memory_swap=300 * MiB)


def test_missing_node_online_means_node_0(tmp_path, host):
    lim = parse_limits(cpuset_mems="0", cpu_online=host["cpu_online"],
                       node_online=str(tmp_path / "absent"))
    assert lim.cpuset_mems == "0"
    with pytest.raises(InvalidInput):
        parse_limits(cpuset_mems="1", node_online=str(tmp_path / "absent"))


def test_parse_limits_real_host():
    # the host this runs on has at least CPU 0 and node 0
    assert parse_limits(cpuset_cpus="0", cpuset_mems="0", cpus=1).cpus == 1.0


def test_parse_cpuset():
    assert parse_cpuset("0-2,4") == ((0, 2), (4, 4))
    assert parse_cpuset("3") == ((3, 3),)
    assert parse_cpuset("1,1,0") == ((0, 1),)
    assert parse_cpuset("5-6, 0-2,3") == ((0, 3), (5, 6))
    for bad in ("", "a", "1-", "-", "2-1", "1,,2", "\u00b2", "1-\u0663"):
        with pytest.raises(ValueError):
            parse_cpuset(bad)


@pytest.mark.parametrize("shares,weight", [
    (2, 1), (262144, 10000), (1024, 39), (512, 20), (2048, 79), (0, 100),
])
def test_shares_to_weight(shares, weight):
    assert shares_to_weight(shares) == weight
    if shares:
        assert shares_to_weight(shares) == 1 + ((shares - 2) * 9999) // 262142


def test_weight_to_shares_is_smallest_inverse():
    for w in (1, 2, 20, 39, 100, 5000, 10000):
        s = weight_to_shares(w)
        assert shares_to_weight(s) == w
        assert s == 2 or shares_to_weight(s - 1) == w - 1


def test_cpus_to_quota():
    assert cpus_to_quota(1.5) == 150000
    assert cpus_to_quota(0.01) == 1000
    assert cpus_to_quota(2) == 200000


def test_dict_roundtrip():
    lim = Limits(memory=100 * MiB, cpus=1.5, cpuset_cpus="0", pids_limit=-1)
    d = lim.to_dict()
    assert d == {"memory": 100 * MiB, "cpus": 1.5, "cpuset_cpus": "0", "pids_limit": -1}
    assert Limits.from_dict(d) == lim
    assert Limits.from_dict({}) == Limits()
    assert Limits.from_dict(None) == Limits()
    assert Limits.from_dict({"memory": 10 * MiB, "future_field": 1}) == Limits(memory=10 * MiB)
    assert Limits.from_dict({"cpus": 2}).cpus == 2.0


def test_limits_frozen():
    with pytest.raises(Exception):
        Limits().memory = 1  # type: ignore[misc]


def test_merge_changes_only_given_fields():
    base = Limits(memory=100 * MiB, cpu_shares=512, pids_limit=50)
    new = base.merge(Limits(memory=64 * MiB))
    assert new == Limits(memory=64 * MiB, cpu_shares=512, pids_limit=50)
    assert base.merge(Limits()) == base
    assert base.merge(Limits(cpus=1.0)).cpus == 1.0


def test_merge_checks_the_combination():
    base = Limits(memory=100 * MiB, memory_swap=200 * MiB)
    with pytest.raises(InvalidInput, match=r"--memory .*above the --memory-swap in force"):
        base.merge(Limits(memory=300 * MiB))
    assert base.merge(Limits(memory=300 * MiB, memory_swap=400 * MiB)).memory_swap == 400 * MiB
    with pytest.raises(InvalidInput, match="needs --memory"):
        Limits().merge(Limits(memory_swap=300 * MiB))
    with pytest.raises(InvalidInput, match="--memory-reservation"):
        Limits(memory_reservation=50 * MiB).merge(Limits(memory=10 * MiB))
