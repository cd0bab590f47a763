"""rocker.network.firewall: the nftables script as a pure function of networks and ports.

Each case of CASES is compared with tests/unit/golden/nft_<case>.txt. After a deliberate
change of the ruleset, regenerate them and review the diff:

    ROCKER_REGOLD=1 PYTHONPATH=. .venv/bin/python -m pytest -q tests/unit/test_network_firewall.py

Where `nft` is installed and the tests run as root, `nft -c -f` (check mode: the kernel
validates the whole transaction and nothing is changed) must accept every golden script;
elsewhere that test is skipped.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocker.network.firewall import NetRule, PortRule, ruleset

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")

DEFAULT = NetRule("default", "rk0", "10.87.0.0/24", False)
BACK = NetRule("backend", "rk-1a2b3c4d5e6f", "10.87.1.0/24", True)
FRONT = NetRule("front", "rk-0f0e0d0c0b0a", "10.87.2.0/24", False)
CID1 = "4f1c" + "a" * 60
CID2 = "9b2e" + "b" * 60

CASES = {
    "empty": ([], []),
    "default": ([DEFAULT], []),
    "ports": ([DEFAULT], [
        PortRule(CID1, "10.87.0.2", "rk0", "", 8080, 80, "tcp"),
        PortRule(CID1, "10.87.0.2", "rk0", "127.0.0.1", 5353, 53, "udp"),
        PortRule(CID2, "10.87.0.3", "rk0", "192.168.1.10", 8443, 443, "tcp"),
        PortRule(CID2, "10.87.0.3", "rk0", "", 8443, 443, "udp"),
    ]),
    "multi": ([FRONT, DEFAULT, BACK], [
        PortRule(CID2, "10.87.2.2", "rk-0f0e0d0c0b0a", "", 80, 8080, "tcp"),
        PortRule(CID1, "10.87.0.2", "rk0", "", 5432, 5432, "tcp"),
        PortRule(CID1, "10.87.1.2", "rk-1a2b3c4d5e6f", "127.0.0.1", 6379, 6379, "tcp"),
    ]),
}


def golden_path(case: str) -> str:
    return os.path.join(GOLDEN, f"nft_{case}.txt")


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case):
    got = ruleset(*CASES[case])
    path = golden_path(case)
    if os.environ.get("ROCKER_REGOLD"):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w") as f:
            f.write(got)
    with open(path) as f:
        assert got == f.read()


@functools.cache
def _nft_can_check() -> str | None:
    """Why `nft -c` cannot be used here, or None when it can."""
    if shutil.which("nft") is None:
        return "nft is not installed"
    if os.geteuid() != 0:
        return "nft -c needs root"
    p = subprocess.run(["nft", "-c", "-f", "-"], input="table ip rocker_probe {}\n",
                       capture_output=True, text=True)
    if p.returncode != 0:
        return f"nft -c does not work here: {p.stderr.strip()[:200]}"
    return None


@pytest.mark.parametrize("case", sorted(CASES))
def test_nft_accepts_golden_scripts(case):
    why = _nft_can_check()
    if why:
        pytest.skip(why)
    p = subprocess.run(["nft", "-c", "-f", golden_path(case)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_no_network_deletes_the_table():
    assert ruleset([], []) == "table ip rocker {}\ndelete table ip rocker\n"


def test_script_replaces_only_rockers_table():
    script = ruleset(*CASES["multi"])
    lines = script.splitlines()
    assert lines[:3] == ["table ip rocker {}", "delete table ip rocker", "table ip rocker {"]
    assert [ln for ln in lines if ln.startswith("table") or ln.startswith("delete")] == lines[:3]
    assert "flush ruleset" not in script and "policy drop" not in script
    assert "hook input" not in script


def test_order_does_not_matter():
    nets, ports = CASES["multi"]
    rng = random.Random(7)
    for _ in range(10):
        n, p = list(nets), list(ports)
        rng.shuffle(n)
        rng.shuffle(p)
        assert ruleset(n, p) == ruleset(nets, ports)


def test_every_rule_says_its_owner():
    script = ruleset(*CASES["multi"])
    body = script.split("chain ports {", 1)[1]
    for line in body.splitlines():
        line = line.strip()
        if line.startswith(("ip ", "tcp ", "udp ")) and "dnat to" in line:
            assert line.endswith('"') and 'comment "rk:' in line
        if "masquerade" in line or line.endswith("drop") or " drop " in line:
            assert 'comment "rk-net:' in line


def test_internal_network_is_not_masqueraded_and_is_fenced():
    script = ruleset([BACK], [])
    assert "oifname != \"rk-1a2b3c4d5e6f\" masquerade" not in script
    assert 'iifname "rk-1a2b3c4d5e6f" oifname != "rk-1a2b3c4d5e6f" drop' in script
    assert 'oifname "rk-1a2b3c4d5e6f" iifname != "rk-1a2b3c4d5e6f" drop' in script
    # the host's 127.0.0.1 and the hairpin still work on it
    assert 'oifname "rk-1a2b3c4d5e6f" ip saddr 127.0.0.0/8 masquerade' in script


def test_any_host_address_spelled_0000():
    a = ruleset([DEFAULT], [PortRule(CID1, "10.87.0.2", "rk0", "0.0.0.0", 80, 80, "tcp")])
    b = ruleset([DEFAULT], [PortRule(CID1, "10.87.0.2", "rk0", "", 80, 80, "tcp")])
    assert a == b and "ip daddr" not in a


GOOD_PORT = PortRule(CID1, "10.87.0.2", "rk0", "", 8080, 80, "tcp")


@pytest.mark.parametrize("nets,ports", [
    ([], [GOOD_PORT]),
    ([NetRule("default", "rk0;x", "10.87.0.0/24", False)], []),
    ([NetRule("default", 'rk0"', "10.87.0.0/24", False)], []),
    ([NetRule("default", "rk-1234567890abc", "10.87.0.0/24", False)], []),   # 16 characters
    ([NetRule("default", "", "10.87.0.0/24", False)], []),
    ([NetRule("default", "..", "10.87.0.0/24", False)], []),
    ([NetRule("default", "rk 0", "10.87.0.0/24", False)], []),
    ([NetRule('bad"name', "rk0", "10.87.0.0/24", False)], []),
    ([NetRule("bad name", "rk0", "10.87.0.0/24", False)], []),
    ([NetRule("x" * 121, "rk0", "10.87.0.0/24", False)], []),
    ([NetRule("default", "rk0", "10.87.0.1/24", False)], []),
    ([NetRule("default", "rk0", "10.87.0.0/24; flush ruleset", False)], []),
    ([NetRule("default", "rk0", "fd00::/64", False)], []),
    ([NetRule("default", "rk0", "10.87.0.0/255.255.255.0", False)], []),
    ([NetRule("default", "rk0", "10.87.0.0/24", "no")], []),
    ([DEFAULT, NetRule("default", "rk1", "10.87.5.0/24", False)], []),
    ([DEFAULT, NetRule("other", "rk0", "10.87.5.0/24", False)], []),
    ([DEFAULT, NetRule("other", "rk1", "10.87.0.128/25", False)], []),
    ([DEFAULT, NetRule("other", "rk1", "10.0.0.0/8", False)], []),
    ([DEFAULT], [GOOD_PORT._replace(bridge="rk9")]),
    ([DEFAULT], [GOOD_PORT._replace(container='x" drop')]),
    ([DEFAULT], [GOOD_PORT._replace(container="")]),
    ([DEFAULT], [GOOD_PORT._replace(container_ip="10.87.1.2")]),
    ([DEFAULT], [GOOD_PORT._replace(container_ip="10.87.0.0")]),
    ([DEFAULT], [GOOD_PORT._replace(container_ip="10.87.0.255")]),
    ([DEFAULT], [GOOD_PORT._replace(container_ip="10.87.0.2 ")]),
    ([DEFAULT], [GOOD_PORT._replace(host_ip="127.0.0.1 accept")]),
    ([DEFAULT], [GOOD_PORT._replace(host_ip="::1")]),
    ([DEFAULT], [GOOD_PORT._replace(host_port=0)]),
    ([DEFAULT], [GOOD_PORT._replace(host_port=65536)]),
    ([DEFAULT], [GOOD_PORT._replace(host_port="80")]),
    ([DEFAULT], [GOOD_PORT._replace(host_port=True)]),
    ([DEFAULT], [GOOD_PORT._replace(container_port=0)]),
    ([DEFAULT], [GOOD_PORT._replace(proto="sctp")]),
    ([DEFAULT], [GOOD_PORT._replace(proto="tcp dport 1")]),
    ([DEFAULT], [GOOD_PORT, GOOD_PORT._replace(container_ip="10.87.0.3")]),
    ([DEFAULT], [GOOD_PORT, GOOD_PORT._replace(host_ip="127.0.0.1", container_ip="10.87.0.3")]),
    ([DEFAULT], [GOOD_PORT._replace(host_ip="127.0.0.1"), GOOD_PORT._replace(host_ip="0.0.0.0")]),
])
def test_refuses_what_is_not_safe_or_consistent(nets, ports):
    with pytest.raises(ValueError):
        ruleset(nets, ports)


def test_same_port_on_two_addresses_or_protocols_is_fine():
    ports = [GOOD_PORT._replace(host_ip="127.0.0.1"), GOOD_PORT._replace(host_ip="127.0.0.2"),
             GOOD_PORT._replace(proto="udp")]
    script = ruleset([DEFAULT], ports)
    assert script.count("dport 8080") == 3


IFNAMES = st.from_regex(r"rk-[0-9a-f]{12}", fullmatch=True)


@st.composite
def states(draw):
    n = draw(st.integers(0, 4))
    bridges = draw(st.lists(IFNAMES, min_size=n, max_size=n, unique=True))
    nets = [NetRule(f"net{i}", b, f"10.87.{i + 1}.0/24", draw(st.booleans()))
            for i, b in enumerate(bridges)]
    ports = []
    used = set()
    for _ in range(draw(st.integers(0, 6)) if nets else 0):
        net = draw(st.sampled_from(nets))
        i = nets.index(net) + 1
        hp, proto = draw(st.integers(1, 65535)), draw(st.sampled_from(["tcp", "udp"]))
        if (hp, proto) in used:
            continue
        used.add((hp, proto))
        ports.append(PortRule(draw(st.sampled_from([CID1, CID2])), f"10.87.{i}.{draw(st.integers(2, 254))}",
                              net.bridge, draw(st.sampled_from(["", "127.0.0.1"])), hp,
                              draw(st.integers(1, 65535)), proto))
    return nets, ports


@settings(deadline=None)
@given(states(), st.randoms())
def test_ruleset_is_deterministic_and_complete(state, rnd):
    nets, ports = state
    script = ruleset(nets, ports)
    shuffled_nets, shuffled_ports = list(nets), list(ports)
    rnd.shuffle(shuffled_nets)
    rnd.shuffle(shuffled_ports)
    assert ruleset(shuffled_nets, shuffled_ports) == script
    if not nets:
        assert script == "table ip rocker {}\ndelete table ip rocker\n"
        return
    assert script.count("dnat to") == len(ports)
    for p in ports:
        assert f"{p.proto} dport {p.host_port} dnat to {p.container_ip}:{p.container_port}" in script
    for n in nets:
        assert (f'ip saddr {n.subnet} oifname != "{n.bridge}" masquerade' in script) != n.internal
        assert f'iifname "{n.bridge}" oifname @bridges oifname != "{n.bridge}" ct status != dnat drop' in script
    assert script.count("{") == script.count("}")


@settings(deadline=None)
@given(states())
def test_nft_accepts_any_ruleset(state):
    why = _nft_can_check()
    if why:
        pytest.skip(why)
    p = subprocess.run(["nft", "-c", "-f", "-"], input=ruleset(*state), capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr


def test_a_starting_container_keeps_its_bridge_and_ports():
    """A container between connect and start has no pid in its record, so `alive` says no;
    the lease's own pid and start time (written by connect) keep its network in use and its
    published port in the rules while another container's exit settles the state."""
    from rocker.network.setup import in_use, ruleset_of
    from rocker.util.procs import start_time
    me = os.getpid()
    port = {"HostIp": "", "HostPort": "8080", "ContainerPort": "80", "Protocol": "tcp"}
    st = {"networks": {"n": {"name": "n", "bridge": "rk-000000000001",
                             "subnet": "10.87.9.0/24", "internal": False}},
          "leases": {"n": {"10.87.9.2": {"container": CID1, "up": True, "ports": [port],
                                         "pid": me, "pid_start": start_time(me)}}}}
    nobody = lambda cid: False  # noqa: E731
    assert in_use(st, nobody) == {"n"}
    assert "8080" in ruleset_of(st, nobody)
    # a pid that was reused (another start time) is not the starting container
    st["leases"]["n"]["10.87.9.2"]["pid_start"] = start_time(me) + 1
    assert in_use(st, nobody) == set()
    st["leases"]["n"]["10.87.9.2"].pop("pid")
    assert in_use(st, lambda cid: cid == CID1) == {"n"}
