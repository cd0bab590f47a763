"""Published ports: Docker's `-p` syntax, image ExposedPorts keys, `docker port` lines and the
record form of a PortMapping.

`-p` takes `[IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`:

    80                     container port 80, a free host port picked at start, all addresses
    8080:80                host port 8080 to container port 80
    127.0.0.1:8080:80      only on 127.0.0.1
    127.0.0.1::80          only on 127.0.0.1, a free host port
    8000-8002:80-82        three ports, pairwise; `80-82` alone: three free host ports
    53:53/udp              udp (tcp by default; the protocol is case-insensitive, as Docker's)

Differences from Docker: a host range with a single container port (`8000-8002:80`, which
Docker accepts) is refused, and so are IPv6 host addresses (`[::1]:80:80`) for now, and sctp
(the firewall publishes tcp and udp). A host address of 0.0.0.0 is the same as none. Work is
linear in the number of ports a spec names (up to 65535).
"""

from __future__ import annotations

from collections import namedtuple

from rocker.errors import CorruptRecord, InvalidInput
from rocker.network.iptext import ipv4
from rocker.network.text import quoted

PROTOCOLS = ("tcp", "udp")
EXPOSE_PROTOCOLS = ("tcp", "udp", "sctp")
"""What image ExposedPorts keys may name (rocker's own EXPOSE change writes sctp too)."""

USAGE = "expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]"


class PortMapping(namedtuple("PortMapping", "host_ip host_port container_port proto")):
    """One published port (immutable).

    host_ip         str: an IPv4 address, or "" for all the host's addresses
    host_port       int: 1..65535, or 0 for "pick a free one at start"
    container_port  int: 1..65535
    proto           str: "tcp" or "udp"
    """

    __slots__ = ()


def parse_publish(spec: str) -> list[PortMapping]:
    """The mappings one `-p` value asks for, in container port order; InvalidInput (one line:
    `invalid publish spec "X": why`) when it makes no sense."""
    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"invalid publish spec {quoted(spec)}: {why}")
    if not isinstance(spec, str) or not spec:
        raise bad(USAGE)
    body, _, proto = spec.rpartition("/") if "/" in spec else (spec, "", "tcp")
    proto = proto.lower()
    if proto not in PROTOCOLS:
        raise bad(f"protocol {quoted(proto)} is not supported (tcp or udp)")
    if body.startswith("["):
        raise bad("IPv6 host addresses are not supported yet")
    parts = body.split(":")
    if len(parts) > 3:
        if _looks_ipv6(":".join(parts[:-2])):
            raise bad("IPv6 host addresses are not supported yet")
        raise bad(USAGE)
    ip, host, cont = [""] * (3 - len(parts)) + parts
    host_ip = _host_ip(ip, bad)
    c_lo, c_hi = _range(cont, "container port", bad)
    if host == "":
        return [PortMapping(host_ip, 0, p, proto) for p in range(c_lo, c_hi + 1)]
    h_lo, h_hi = _range(host, "host port", bad)
    if h_hi - h_lo != c_hi - c_lo:
        if c_lo == c_hi:
            raise bad("a host port range needs a container port range of the same length")
        raise bad(f"the host range has {h_hi - h_lo + 1} ports, the container range "
                  f"{c_hi - c_lo + 1}")
    return [PortMapping(host_ip, h_lo + i, c_lo + i, proto) for i in range(c_hi - c_lo + 1)]


def parse_expose(spec: str) -> tuple[int, str]:
    """(port, protocol) of an image's ExposedPorts key: "80/tcp", "53/udp", "8080" (tcp);
    InvalidInput otherwise. Keys name single ports (EXPOSE ranges are expanded on import)."""
    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"invalid exposed port {quoted(str(spec))}: {why}")
    if not isinstance(spec, str):
        raise bad("expected PORT[/PROTOCOL]")
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in EXPOSE_PROTOCOLS:
        raise bad(f"protocol {quoted(proto)} is not supported (tcp, udp or sctp)")
    n = _port(port)
    if n is None:
        raise bad("expected a port from 1 to 65535")
    return n, proto


def format_binding(m: PortMapping) -> str:
    """The line `docker port` shows: "80/tcp -> 0.0.0.0:8080"."""
    return f"{m.container_port}/{m.proto} -> {m.host_ip or '0.0.0.0'}:{m.host_port}"


def to_json(m: PortMapping) -> dict:
    """The record form of a mapping."""
    return {"HostIp": m.host_ip, "HostPort": m.host_port, "ContainerPort": m.container_port,
            "Protocol": m.proto}


def from_json(d: object) -> PortMapping:
    """A mapping from its record form; CorruptRecord when `d` is not one (a record is read
    back, not typed: it is checked as strictly as user input)."""
    def bad(why: str) -> CorruptRecord:
        return CorruptRecord(f"corrupt port mapping in record: {why}")
    if not isinstance(d, dict):
        raise bad(f"a JSON {type(d).__name__}, not an object")
    host_ip, host_port = d.get("HostIp"), d.get("HostPort")
    cont, proto = d.get("ContainerPort"), d.get("Protocol")
    if not isinstance(host_ip, str) or (host_ip and ipv4(host_ip) is None):
        raise bad('"HostIp" is not an IPv4 address nor ""')
    if type(host_port) is not int or not 0 <= host_port <= 65535:
        raise bad('"HostPort" is not a port number')
    if type(cont) is not int or not 1 <= cont <= 65535:
        raise bad('"ContainerPort" is not a port number')
    if proto not in PROTOCOLS:
        raise bad('"Protocol" is not tcp or udp')
    return PortMapping("" if host_ip == "0.0.0.0" else host_ip, host_port, cont, proto)


def _range(text: str, what: str, bad) -> tuple[int, int]:
    lo, dash, hi = text.partition("-")
    a, b = _port(lo), _port(hi if dash else lo)
    if a is None or b is None:
        if text.strip("0") == "" and text and not dash and what == "host port":
            raise bad("host port 0 is not allowed (leave the host port out to pick a free one)")
        raise bad(f"the {what} must be a port from 1 to 65535 or a range such as 8000-8010")
    if a > b:
        raise bad(f"the {what} range {text} is reversed")
    return a, b


def _port(text: str) -> int | None:
    """1..65535 written in ASCII digits (int() also takes '+80', '8_0' and other scripts'
    digits), else None."""
    if not (text.isascii() and text.isdigit() and len(text) <= 5):
        return None
    n = int(text)
    return n if 1 <= n <= 65535 else None


def _host_ip(text: str, bad) -> str:
    if text in ("", "0.0.0.0"):
        return ""
    ip = ipv4(text)
    if ip is None:
        if _looks_ipv6(text):
            raise bad("IPv6 host addresses are not supported yet")
        raise bad(f"the host address {quoted(text)} is not an IPv4 address")
    return ip


def _looks_ipv6(text: str) -> bool:
    text = text.strip("[]")
    return text.count(":") >= 2 and all(c in "0123456789abcdefABCDEF:." for c in text)
