"""IP addresses as text: the canonical form of an address without loading `ipaddress`.

`ipaddress` takes 1.5-4 ms to import, and a container's start reads addresses (the host's
nameservers for resolv.conf, --dns, --add-host) as `rocker ps` reads published ports. A
dotted-quad IPv4 address, by far the common case, is checked here; anything else (IPv6, a
scope, a malformed text) is left to `ipaddress`, so both give the same answers. Pure: no I/O.
"""

from __future__ import annotations


def ipv4(text: str) -> str | None:
    """`text` if it is a dotted-quad IPv4 address in canonical form (no leading zeros, as
    ipaddress requires), else None."""
    if not isinstance(text, str):
        return None
    parts = text.split(".")
    if len(parts) != 4:
        return None
    for p in parts:
        if not (p.isascii() and p.isdigit() and len(p) <= 3) or (len(p) > 1 and p[0] == "0"):
            return None
        if int(p) > 255:
            return None
    return text


def canonical(text: str) -> str:
    """The address in `text` as ipaddress.ip_address() writes it; ValueError when `text` is
    not an IPv4 or IPv6 address."""
    if ipv4(text) is not None:
        return text
    import ipaddress
    return str(ipaddress.ip_address(text))


def is_loopback_or_ipv6(text: str) -> bool:
    """Whether the address (already canonical) is a loopback one or IPv6, i.e. not one a
    container on a bridge can reach."""
    if ipv4(text) is not None:
        return text.startswith("127.")
    import ipaddress
    addr = ipaddress.ip_address(text)
    return addr.is_loopback or isinstance(addr, ipaddress.IPv6Address)
