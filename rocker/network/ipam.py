"""IPv4 address management of bridge networks: parsing a subnet, its gateway, allocating a
container's address, and picking the subnet of a new network. Pure: the caller passes what is
taken (from the records) and what the host routes (from the kernel).

A subnet is an IPv4 network in CIDR form with no host bits set, from /8 to /30 (a /31 or /32
has no room for a gateway and a container; a shorter prefix than /8 would swallow the host's
own routes), and not in a range that cannot be a bridge's: 0.0.0.0/8, loopback 127.0.0.0/8,
multicast 224.0.0.0/4 or the reserved 240.0.0.0/4. Its gateway (the bridge's address) is the
first host address unless the user names another; containers get the other host addresses,
lowest free first (network and broadcast addresses are never given out).

Allocation works on integers: it costs O(len(taken)), never O(size of the subnet), so a /16
with thousands of containers is as quick as a /24.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import AddressValueError, IPv4Address, IPv4Network, NetmaskValueError

from rocker.errors import Conflict, InvalidInput
from rocker.network.text import quoted

DEFAULT_SUBNET = "10.87.0.0/24"
"""The default network's subnet; new networks get 10.87.N.0/24 (pick_subnet)."""

POOL_BASE = int(IPv4Address("10.87.0.0"))
MIN_PREFIX = 8
MAX_PREFIX = 30
UNUSABLE = tuple(IPv4Network(n) for n in
                 ("0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4"))


def parse_subnet(cidr: str) -> IPv4Network:
    """The subnet `cidr` ("10.88.0.0/16") names; InvalidInput (one line) when it is not a
    usable IPv4 subnet."""
    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"invalid subnet {quoted(cidr)}: {why}")
    if not isinstance(cidr, str) or "/" not in cidr:
        raise bad("expected an IPv4 network in CIDR form, such as 10.88.0.0/24")
    addr, _, prefix = cidr.partition("/")
    if ":" in addr:
        raise bad("IPv6 subnets are not supported yet")
    if not (prefix.isascii() and prefix.isdigit() and len(prefix) <= 2):
        raise bad(f"the prefix length must be a number from {MIN_PREFIX} to {MAX_PREFIX}")
    if not MIN_PREFIX <= int(prefix) <= MAX_PREFIX:
        raise bad(f"the prefix length must be from /{MIN_PREFIX} to /{MAX_PREFIX}")
    try:
        net = IPv4Network(cidr, strict=False)
    except (AddressValueError, NetmaskValueError, ValueError):
        raise bad("expected an IPv4 network in CIDR form, such as 10.88.0.0/24") from None
    if int(net.network_address) != int(IPv4Address(addr)):
        raise bad(f"host bits are set (the network is {net})")
    for bad_range in UNUSABLE:
        if net.overlaps(bad_range):
            raise bad(f"it overlaps {bad_range}, which cannot be a bridge's subnet")
    return net


def gateway_for(subnet: IPv4Network, gateway: str | None) -> IPv4Address:
    """The bridge's address on `subnet`: `gateway` when given (it must be a host address of
    the subnet: InvalidInput otherwise), else the first host address."""
    if gateway is None:
        return subnet.network_address + 1
    gw = _address(gateway, "gateway")
    _check_host(gw, subnet, f"invalid gateway {quoted(gateway)}")
    return gw


def allocate(subnet: IPv4Network, gateway: IPv4Address | str, taken: Iterable[str],
             want: str | None = None) -> IPv4Address:
    """A container's address on `subnet`. `taken` holds the addresses other containers have
    (entries that are not IPv4 addresses inside the subnet are ignored: they cannot clash).

    With `want` (`--ip`): that address, if it is a host address of the subnet other than the
    gateway (InvalidInput otherwise) and free (Conflict otherwise). Without: the lowest host
    address that is neither the gateway nor taken; Conflict when none is left."""
    gw = int(IPv4Address(gateway))
    first = int(subnet.network_address) + 1
    last = int(subnet.broadcast_address) - 1
    used = {gw}
    for text in taken:
        n = _int_or_none(text)
        if n is not None and first <= n <= last:
            used.add(n)
    if want is not None:
        addr = _address(want, "address")
        _check_host(addr, subnet, f"invalid address {quoted(want)}")
        if int(addr) == gw:
            raise InvalidInput(f"invalid address {quoted(want)}: it is the network's gateway")
        if int(addr) in used:
            raise Conflict(f"address {addr} is already in use on this network")
        return addr
    # at most len(used) + 1 steps: every step but the last hits an element of `used`
    n = first
    while n <= last and n in used:
        n += 1
    if n > last:
        raise Conflict(f"no free address left in {subnet}")
    return IPv4Address(n)


def pick_subnet(used: Iterable[str]) -> IPv4Network:
    """The subnet of a new network created without `--subnet`: the first 10.87.N.0/24 (N from
    1 to 255; 10.87.0.0/24 is the default network's) that overlaps none of `used`, which holds
    the other networks' subnets and the host's routes, any prefix length ("10.0.0.0/8",
    "192.168.1.7/32", a bare address). Entries that are not IPv4 networks are ignored, and so
    are /0 ones: a default route overlaps everything but takes no address. Conflict when no
    candidate is free."""
    blocked = bytearray(256)          # blocked[N]: 10.87.N.0/24 overlaps something used
    for text in used:
        try:
            net = IPv4Network(text, strict=False)
        except (AddressValueError, NetmaskValueError, ValueError, TypeError):
            continue
        if net.prefixlen == 0:
            continue
        lo = int(net.network_address) - POOL_BASE
        hi = int(net.broadcast_address) - POOL_BASE
        if hi < 0 or lo > 0xFFFF:
            continue
        for n in range(max(lo, 0) >> 8, (min(hi, 0xFFFF) >> 8) + 1):
            blocked[n] = 1
    for n in range(1, 256):
        if not blocked[n]:
            return IPv4Network(f"10.87.{n}.0/24")
    raise Conflict("no free subnet left in 10.87.0.0/16 for a new network: name one with "
                   "--subnet")


def _address(text: str, what: str) -> IPv4Address:
    try:
        return IPv4Address(text)
    except (AddressValueError, ValueError):
        if isinstance(text, str) and ":" in text:
            raise InvalidInput(f"invalid {what} {quoted(text)}: IPv6 addresses are not "
                               "supported yet") from None
        raise InvalidInput(f"invalid {what} {quoted(str(text))}: not an IPv4 address") from None


def _check_host(addr: IPv4Address, subnet: IPv4Network, prefix: str) -> None:
    if addr not in subnet:
        raise InvalidInput(f"{prefix}: not in subnet {subnet}")
    if addr == subnet.network_address:
        raise InvalidInput(f"{prefix}: it is the network address of {subnet}")
    if addr == subnet.broadcast_address:
        raise InvalidInput(f"{prefix}: it is the broadcast address of {subnet}")


def _int_or_none(text: str) -> int | None:
    try:
        return int(IPv4Address(text))
    except (AddressValueError, ValueError, TypeError):
        return None
