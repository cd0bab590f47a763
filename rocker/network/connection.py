"""rocker.network.connection: what a running bridged container holds on the host side (its
port reservations, the embedded resolver's socket and upstreams), apart from rocker.network.setup
so that the slim monitor restores it without loading the set-up code."""

from __future__ import annotations


class Connection:
    """What a running container holds: port reservations, the resolver's socket (in its
    namespace) and where the resolver forwards."""

    __slots__ = ("cid", "reservations", "dns", "upstreams", "ports")

    def __init__(self, cid: str, reservations: list, dns, upstreams: list[str],
                 ports: list[dict]) -> None:
        self.cid, self.reservations, self.dns = cid, reservations, dns
        self.upstreams, self.ports = upstreams, ports

    def fds(self) -> list[int]:
        return [s.fileno() for s in self.reservations] + ([self.dns.fileno()] if self.dns else [])

    def close(self) -> None:
        for s in self.reservations + ([self.dns] if self.dns else []):
            try:
                s.close()
            except OSError:
                pass
        self.reservations, self.dns = [], None
