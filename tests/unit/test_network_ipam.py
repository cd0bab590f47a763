"""rocker.network.ipam: subnet parsing, gateways, address allocation, subnet picking."""

from __future__ import annotations

import time
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocker.errors import Conflict, InvalidInput
from rocker.network.ipam import DEFAULT_SUBNET, allocate, gateway_for, parse_subnet, pick_subnet
from tests.unit.network_helpers import one_line_error


@pytest.mark.parametrize("cidr", ["10.87.0.0/24", "10.88.0.0/16", "192.168.5.0/30",
                                  "172.20.0.0/14", "10.0.0.0/8"])
def test_parse_subnet_accepts(cidr):
    assert parse_subnet(cidr) == IPv4Network(cidr)


@pytest.mark.parametrize("cidr,why", [
    ("", "CIDR form"),
    ("garbage", "CIDR form"),
    ("10.87.0.0", "CIDR form"),
    ("10.87.0.0/", "prefix length"),
    ("10.87.0.0/x", "prefix length"),
    ("10.87.0.0/+24", "prefix length"),
    ("10.87.0.0/255.255.255.0", "prefix length"),
    ("10.87.0.0/33", "from /8 to /30"),
    ("10.87.0.0/024", "prefix length must be a number"),
    ("10.87.0/24", "CIDR form"),
    ("10.87.0.1/24", "host bits are set (the network is 10.87.0.0/24)"),
    ("10.87.0.0/31", "from /8 to /30"),
    ("10.87.0.0/32", "from /8 to /30"),
    ("0.0.0.0/0", "from /8 to /30"),
    ("10.0.0.0/7", "from /8 to /30"),
    ("127.0.0.0/24", "overlaps 127.0.0.0/8"),
    ("224.1.0.0/16", "overlaps 224.0.0.0/4"),
    ("0.0.0.0/24", "overlaps 0.0.0.0/8"),
    ("fd00::/64", "IPv6 subnets are not supported yet"),
    ("::/0", "IPv6 subnets are not supported yet"),
    ("010.87.0.0/24", "CIDR form"),
    ("10.87.0.0/24\n", "prefix length"),
    (" 10.87.0.0/24", "CIDR form"),
])
def test_parse_subnet_refuses_with_one_line(cidr, why):
    msg = one_line_error(parse_subnet, cidr)
    assert msg.startswith("invalid subnet ") and why in msg


def test_default_subnet_parses():
    assert parse_subnet(DEFAULT_SUBNET) == IPv4Network("10.87.0.0/24")


def test_gateway_defaults_to_first_host():
    assert gateway_for(IPv4Network("10.87.0.0/24"), None) == IPv4Address("10.87.0.1")
    assert gateway_for(IPv4Network("10.88.0.0/16"), "10.88.255.254") == IPv4Address("10.88.255.254")


@pytest.mark.parametrize("gw,why", [
    ("10.87.1.1", "not in subnet 10.87.0.0/24"),
    ("10.87.0.0", "network address"),
    ("10.87.0.255", "broadcast address"),
    ("nope", "not an IPv4 address"),
    ("fd00::1", "IPv6 addresses are not supported yet"),
    ("", "not an IPv4 address"),
])
def test_gateway_must_be_a_host_of_the_subnet(gw, why):
    msg = one_line_error(gateway_for, IPv4Network("10.87.0.0/24"), gw)
    assert msg.startswith("invalid gateway ") and why in msg


NET = IPv4Network("10.87.0.0/24")
GW = IPv4Address("10.87.0.1")


def test_allocate_lowest_free():
    assert allocate(NET, GW, []) == IPv4Address("10.87.0.2")
    assert allocate(NET, GW, ["10.87.0.2", "10.87.0.4"]) == IPv4Address("10.87.0.3")
    # a gateway elsewhere than .1: .1 goes to a container
    assert allocate(NET, IPv4Address("10.87.0.254"), []) == IPv4Address("10.87.0.1")
    # the gateway may be given as text
    assert allocate(NET, "10.87.0.1", []) == IPv4Address("10.87.0.2")


def test_allocate_ignores_what_cannot_clash():
    taken = ["", "garbage", "10.88.0.2", "fd00::2", "10.87.0.0", "10.87.0.255", "10.87.0.2"]
    assert allocate(NET, GW, taken) == IPv4Address("10.87.0.3")


def test_allocate_exhaustion():
    taken = [str(IPv4Address(int(NET.network_address) + i)) for i in range(2, 255)]
    with pytest.raises(Conflict, match=r"^no free address left in 10\.87\.0\.0/24$"):
        allocate(NET, GW, taken)


def test_smallest_subnet_has_one_address():
    net = IPv4Network("10.87.0.0/30")
    gw = gateway_for(net, None)
    assert allocate(net, gw, []) == IPv4Address("10.87.0.2")
    with pytest.raises(Conflict):
        allocate(net, gw, ["10.87.0.2"])


def test_allocate_wanted():
    assert allocate(NET, GW, ["10.87.0.2"], want="10.87.0.9") == IPv4Address("10.87.0.9")
    with pytest.raises(Conflict, match=r"^address 10\.87\.0\.2 is already in use on this network$"):
        allocate(NET, GW, ["10.87.0.2"], want="10.87.0.2")


@pytest.mark.parametrize("want,why", [
    ("10.87.0.1", "gateway"),
    ("10.87.0.0", "network address"),
    ("10.87.0.255", "broadcast address"),
    ("10.87.1.5", "not in subnet"),
    ("10.87.0.300", "not an IPv4 address"),
    ("fd00::5", "IPv6 addresses are not supported yet"),
    ("x\ny", "not an IPv4 address"),
])
def test_allocate_wanted_refused(want, why):
    msg = one_line_error(allocate, NET, GW, [], want=want)
    assert msg.startswith("invalid address ") and why in msg


def test_allocate_is_fast_on_a_big_subnet():
    net = IPv4Network("10.88.0.0/16")
    gw = gateway_for(net, None)
    taken = [str(IPv4Address(int(net.network_address) + i)) for i in range(2, 5002)]
    start = time.perf_counter()
    for _ in range(20):
        got = allocate(net, gw, taken)
    assert got == IPv4Address("10.88.19.138")           # 10.88.0.0 + 5002
    assert time.perf_counter() - start < 2.0             # about 5 ms a call


@st.composite
def subnets(draw):
    prefix = draw(st.integers(24, 30))
    base = draw(st.integers(0, 255)) << 24 | draw(st.integers(0, 2 ** 24 - 1))
    net = IPv4Network((base, prefix), strict=False)
    return net


@settings(deadline=None)
@given(subnets(), st.data())
def test_allocations_fill_the_subnet_exactly(net, data):
    hosts = list(net.hosts())
    gw = data.draw(st.sampled_from(hosts))
    taken: list[str] = []
    for _ in range(len(hosts) - 1):
        addr = allocate(net, gw, taken)
        assert addr in net and addr != gw
        assert addr not in (net.network_address, net.broadcast_address)
        assert str(addr) not in taken
        taken.append(str(addr))
    with pytest.raises(Conflict):
        allocate(net, gw, taken)
    assert sorted(map(IPv4Address, taken)) == [h for h in hosts if h != gw]


@settings(deadline=None)
@given(subnets(), st.data())
def test_allocation_respects_any_taken_set(net, data):
    hosts = list(net.hosts())
    gw = data.draw(st.sampled_from(hosts))
    taken = data.draw(st.sets(st.sampled_from(hosts)))
    free = sorted(h for h in hosts if h != gw and h not in taken)
    strs = [str(t) for t in taken]
    if free:
        assert allocate(net, gw, strs) == free[0]
    else:
        with pytest.raises(Conflict):
            allocate(net, gw, strs)
    want = data.draw(st.sampled_from(hosts))
    if want == gw:
        with pytest.raises(InvalidInput):
            allocate(net, gw, strs, want=str(want))
    elif want in taken:
        with pytest.raises(Conflict):
            allocate(net, gw, strs, want=str(want))
    else:
        assert allocate(net, gw, strs, want=str(want)) == want


def test_pick_subnet_first_free():
    assert pick_subnet([]) == IPv4Network("10.87.1.0/24")
    assert pick_subnet([DEFAULT_SUBNET, "10.87.1.0/24"]) == IPv4Network("10.87.2.0/24")
    assert pick_subnet(["10.87.1.0/25"]) == IPv4Network("10.87.2.0/24")
    assert pick_subnet(["10.87.1.7/32", "10.87.2.7"]) == IPv4Network("10.87.3.0/24")
    assert pick_subnet(["10.87.0.0/23"]) == IPv4Network("10.87.2.0/24")
    assert pick_subnet(["10.87.0.0/20"]) == IPv4Network("10.87.16.0/24")
    # routes elsewhere, a default route, IPv6 and garbage take nothing of the pool
    assert pick_subnet(["192.168.1.0/24", "0.0.0.0/0", "fd00::/8", "junk", "10.88.0.0/16",
                        "10.86.255.0/24"]) == IPv4Network("10.87.1.0/24")


def test_pick_subnet_exhausted():
    with pytest.raises(Conflict, match="--subnet"):
        pick_subnet(["10.0.0.0/8"])
    with pytest.raises(Conflict):
        pick_subnet([f"10.87.{n}.0/24" for n in range(1, 256)])
    assert pick_subnet([f"10.87.{n}.0/24" for n in range(1, 255)]) == IPv4Network("10.87.255.0/24")


POOL = int(IPv4Address("10.87.0.0"))
ADDRESSES = st.one_of(st.integers(0, 2 ** 32 - 1), st.integers(POOL - 512, POOL + 2 ** 16 + 512))


@settings(deadline=None)
@given(st.lists(st.tuples(ADDRESSES, st.integers(0, 32)), max_size=20))
def test_picked_subnet_overlaps_nothing_used(routes):
    everything = [str(IPv4Network((a, p), strict=False)) for a, p in routes]
    used = [u for u in everything if not u.endswith("/0")]     # a default route takes nothing
    try:
        got = pick_subnet(everything)
    except Conflict:
        free = [n for n in range(1, 256)
                if not any(IPv4Network(f"10.87.{n}.0/24").overlaps(IPv4Network(u)) for u in used)]
        assert free == []
        return
    assert got.prefixlen == 24 and got.subnet_of(IPv4Network("10.87.0.0/16"))
    assert got != IPv4Network(DEFAULT_SUBNET)
    assert not any(got.overlaps(IPv4Network(u)) for u in used)
    # and it is the first such
    n = int(str(got).split(".")[2])
    for m in range(1, n):
        assert any(IPv4Network(f"10.87.{m}.0/24").overlaps(IPv4Network(u)) for u in used)
