"""rocker's nftables ruleset as a pure function of its networks and published ports.

`ruleset(nets, ports)` returns one script for a single `nft -f` (one transaction) that
replaces rocker's own table, `ip rocker`, and touches nothing else:

    table ip rocker {}          creates the table if it is missing, so that...
    delete table ip rocker      ...this never fails; then the whole table anew
    table ip rocker { ... }

With no network at all (`ruleset([], [])`) the script stops after the delete: the table is
gone, and the host has no trace of rocker in its ruleset. Running nft is the caller's job.

The chains (every rule of a network carries `comment "rk-net:NAME"`, of a port
`comment "rk:CONTAINER_ID"`, so that `nft list table ip rocker` says who owns what):

    ports        a regular chain: per published port, `[ip daddr HOST_IP] PROTO dport
                 HOST_PORT dnat to CONTAINER_IP:PORT`
    prerouting   nat, priority dstnat: traffic for one of the host's addresses -> ports
    output       nat, priority -100: the same for connections the host itself opens
                 (curl 127.0.0.1:8080 on the host)
    postrouting  nat, priority srcnat: per network that is not internal, its containers'
                 traffic leaving by another interface is masqueraded; per network, traffic
                 from the host's 127.0.0.0/8 to a published port is masqueraded (the bridge
                 needs route_localnet=1, else the kernel drops it as martian), and so is the
                 hairpin: a container reaching a published port of its own network through a
                 host address gets its answers back through the host
    forward      filter, priority filter, policy accept: an internal network's bridge
                 reaches nothing and is reached by nothing outside itself; and networks are
                 isolated from each other, except through published ports

No chain has a drop policy and no rule matches traffic that is not to, from or between
rocker's bridges: other software's traffic is not ours to filter (and the host's own input is
left alone). A drop in another table (firewalld, Docker) still drops: an accept here cannot
override it.

Isolation between networks is one rule per bridge, `iifname B oifname @bridges oifname != B
ct status != dnat drop`, against a named set of rocker's bridges (written with the table, so it
is always exact). A set rather than the wildcard `oifname "rk*"`: the wildcard would also
match interfaces of other software that happen to start with "rk"; rather than n*(n-1) rules
for the pairs: the script grows linearly. `ct status dnat` lets published ports through in
both directions (the reply of a DNATed connection carries the same status).

Inputs are built by rocker, not typed by users, but nothing may be injected into the script:
every name, address and number is checked and a bad one raises ValueError. Output is
deterministic: networks sorted by bridge, ports by bridge, container, host port, protocol.
"""

from __future__ import annotations

import re
from collections import namedtuple
from ipaddress import AddressValueError, IPv4Address, IPv4Network, NetmaskValueError

TABLE = "rocker"
IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
"""An interface name as the kernel takes it (IFNAMSIZ 16 with the NUL), in the characters that
need no quoting; "." and ".." are refused besides."""
OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,119}")
"""A network name or container id as it goes into a comment (nft comments hold 128 bytes)."""
PROTOCOLS = ("tcp", "udp")


class NetRule(namedtuple("NetRule", "name bridge subnet internal")):
    """A network: its name, its bridge interface, its subnet ("10.87.0.0/24"), and whether
    it is internal (no traffic in or out of the bridge)."""

    __slots__ = ()


class PortRule(namedtuple("PortRule", "container container_ip bridge host_ip host_port "
                                      "container_port proto")):
    """A published port: the container's id, its address on `bridge`, the host address ("" =
    any), the host port (1..65535: a free one is picked before), the container port and the
    protocol ("tcp" or "udp")."""

    __slots__ = ()


def ruleset(nets: list[NetRule], ports: list[PortRule]) -> str:
    """The nft script that makes rocker's table exactly what `nets` and `ports` need (see the
    module docstring); ValueError for inputs that are inconsistent or not safe to write."""
    head = f"table ip {TABLE} {{}}\ndelete table ip {TABLE}\n"
    nets = sorted(nets, key=lambda n: n.bridge)
    by_bridge = _check_nets(nets)
    if not nets:
        if ports:
            raise ValueError("published ports without any network")
        return head
    ports = sorted(ports, key=lambda p: (p.bridge, p.container, p.host_port, p.proto,
                                         p.host_ip, p.container_ip, p.container_port))
    dnat = [_dnat(p, by_bridge) for p in ports]
    _check_overlaps(ports)
    post, fwd = [], []
    for n in nets:
        c = _comment("rk-net", n.name)
        if not n.internal:
            post.append(f'ip saddr {n.subnet} oifname != "{n.bridge}" masquerade {c}')
        post.append(f'oifname "{n.bridge}" ip saddr 127.0.0.0/8 masquerade {c}')
        post.append(f'oifname "{n.bridge}" ip saddr {n.subnet} ct status dnat masquerade {c}')
        if n.internal:
            fwd.append(f'iifname "{n.bridge}" oifname != "{n.bridge}" drop {c}')
            fwd.append(f'oifname "{n.bridge}" iifname != "{n.bridge}" drop {c}')
        fwd.append(f'iifname "{n.bridge}" oifname @bridges oifname != "{n.bridge}" '
                   f'ct status != dnat drop {c}')
    bridges = ", ".join(f'"{n.bridge}"' for n in nets)
    out = [head + f"table ip {TABLE} {{",
           "\tset bridges {", "\t\ttype ifname", f"\t\telements = {{ {bridges} }}", "\t}"]
    out += _chain("ports", None, dnat)
    out += _chain("prerouting", "type nat hook prerouting priority dstnat; policy accept;",
                  ["fib daddr type local jump ports"])
    out += _chain("output", "type nat hook output priority -100; policy accept;",
                  ["fib daddr type local jump ports"])
    out += _chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;",
                  post)
    out += _chain("forward", "type filter hook forward priority filter; policy accept;", fwd)
    out.append("}")
    return "\n".join(out) + "\n"


def _chain(name: str, hook: str | None, rules: list[str]) -> list[str]:
    lines = [f"\tchain {name} {{"]
    if hook:
        lines.append(f"\t\t{hook}")
    lines += [f"\t\t{r}" for r in rules]
    lines.append("\t}")
    return lines


def _check_nets(nets: list[NetRule]) -> dict[str, IPv4Network]:
    """bridge -> subnet; ValueError for a bad or duplicate name, bridge or subnet."""
    by_bridge: dict[str, IPv4Network] = {}
    names: set[str] = set()
    for n in nets:
        if not isinstance(n.name, str) or not OWNER.fullmatch(n.name):
            raise ValueError(f"bad network name {n.name!r}")
        _ifname(n.bridge)
        if type(n.internal) is not bool:
            raise ValueError(f"internal must be a bool, not {n.internal!r}")
        try:
            net = IPv4Network(n.subnet, strict=True)
        except (AddressValueError, NetmaskValueError, ValueError, TypeError):
            raise ValueError(f"bad subnet {n.subnet!r}") from None
        if str(net) != n.subnet:
            raise ValueError(f"subnet {n.subnet!r} is not in canonical form ({net})")
        if n.bridge in by_bridge or n.name in names:
            raise ValueError(f"network {n.name!r} / bridge {n.bridge!r} is there twice")
        by_bridge[n.bridge] = net
        names.add(n.name)
    spans = sorted((int(net.network_address), int(net.broadcast_address), str(net))
                   for net in by_bridge.values())
    for (_, hi, a), (lo, _, b) in zip(spans, spans[1:]):
        if lo <= hi:
            raise ValueError(f"subnets {a} and {b} overlap")
    return by_bridge


def _dnat(p: PortRule, by_bridge: dict[str, IPv4Network]) -> str:
    subnet = by_bridge.get(p.bridge)
    if subnet is None:
        raise ValueError(f"port rule on unknown bridge {p.bridge!r}")
    if not isinstance(p.container, str) or not OWNER.fullmatch(p.container):
        raise ValueError(f"bad container id {p.container!r}")
    cip = _ipv4(p.container_ip)
    if cip not in subnet or cip in (subnet.network_address, subnet.broadcast_address):
        raise ValueError(f"container address {cip} is not a host address of {subnet}")
    for what, port in (("host", p.host_port), ("container", p.container_port)):
        if type(port) is not int or not 1 <= port <= 65535:
            raise ValueError(f"bad {what} port {port!r}")
    if p.proto not in PROTOCOLS:
        raise ValueError(f"bad protocol {p.proto!r}")
    match = "" if _any(p.host_ip) else f"ip daddr {_ipv4(p.host_ip)} "
    return (f"{match}{p.proto} dport {p.host_port} dnat to {cip}:{p.container_port} "
            f"{_comment('rk', p.container)}")


def _check_overlaps(ports: list[PortRule]) -> None:
    """ValueError when two rules would catch the same packets (same protocol and host port,
    and the same host address or either one any): only the first would ever work."""
    seen: dict[tuple[int, str], set[str]] = {}
    for p in ports:
        ips = seen.setdefault((p.host_port, p.proto), set())
        ip = "" if _any(p.host_ip) else p.host_ip
        if ip in ips or "" in ips or (ip == "" and ips):
            raise ValueError(f"host port {p.host_port}/{p.proto} is published twice")
        ips.add(ip)


def _any(host_ip: str) -> bool:
    return host_ip in ("", "0.0.0.0")


def _ipv4(text: str) -> IPv4Address:
    try:
        return IPv4Address(text)
    except (AddressValueError, ValueError, TypeError):
        raise ValueError(f"bad IPv4 address {text!r}") from None


def _ifname(name: str) -> None:
    if not isinstance(name, str) or not IFNAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"bad interface name {name!r}")


def _comment(kind: str, owner: str) -> str:
    return f'comment "{kind}:{owner}"'
