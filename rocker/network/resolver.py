"""The small DNS resolver a container's monitor runs for it at 127.0.0.11:53 (UDP), inside the
container's own network namespace, as Docker's embedded DNS does.

Why a resolver and not rewritten hosts files: names on a network change while containers run
(a peer starts, stops, is replaced with a new address); answering from the lease store at the
moment of the query is always current, touches no other container's files, and needs no lock
shared with running containers. And lookups of other names must reach the host's resolvers,
which are often on the host's loopback (127.0.0.53): unreachable from a container's namespace,
but not from its monitor, which lives in the host's. So:

- a question for a name of a container that is up on one of this container's user-defined
  networks (its name, its aliases, in stacks its service and replica names) is answered from
  the lease store (rocker.network.store; the file is read again only when it changed), one A
  record per container that has the name (a service's replicas); AAAA and other types of such
  a name get an empty answer (NODATA), so clients fall back to A at once;
- any other question goes to the upstreams (--dns, else the host's /etc/resolv.conf,
  loopback ones included) from a socket in the host's namespace, with a fresh query id; the
  answer goes back to the asker with its own id; unanswered questions are dropped after
  TIMEOUT seconds (the client retries). Without upstreams: SERVFAIL.

The default network `bridge` gets no names, as in Docker. UDP only (answers are small; a
truncated upstream answer is passed on as it is and the client may retry over TCP, which is
not served: documented).
"""

from __future__ import annotations

import os
import socket
import time

from rocker.network import dns
from rocker.network.store import DEFAULT

TIMEOUT = 5.0
MAX_PENDING = 512


class Resolver:
    def __init__(self, state_file: str, cid: str, listen: socket.socket,
                 upstreams: list[str]) -> None:
        self.state_file, self.cid, self.listen = state_file, cid, listen
        self.upstreams = [u for u in upstreams if u]
        self.listen.setblocking(False)
        self.out: socket.socket | None = None
        self.pending: dict[int, tuple[tuple, int, float]] = {}
        self._stamp: tuple | None = None
        self._names: dict[str, list[str]] = {}

    # ---- the names ------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            st = os.stat(self.state_file)
        except OSError:
            self._names, self._stamp = {}, None
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        import json
        try:
            with open(self.state_file, "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError):
            return
        names: dict[str, list[str]] = {}
        leases = data.get("leases") or {}
        mine = [n for n, ls in leases.items()
                if n != DEFAULT and any(e.get("container") == self.cid for e in ls.values())]
        for net in mine:
            for ip, e in leases[net].items():
                if not e.get("up"):
                    continue
                for name in e.get("names") or []:
                    ips = names.setdefault(name.lower(), [])
                    if ip not in ips:
                        ips.append(ip)
        self._names, self._stamp = names, stamp

    def lookup(self, name: str) -> list[str] | None:
        self._load()
        return self._names.get(name.lower().rstrip("."))

    # ---- the sockets ------------------------------------------------------------------------
    def sockets(self) -> list[socket.socket]:
        return [self.listen] + ([self.out] if self.out is not None else [])

    def _upstream_socket(self) -> socket.socket:
        if self.out is None:
            self.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self.out.setblocking(False)
            self.out.bind(("0.0.0.0", 0))
        return self.out

    def handle_query(self) -> socket.socket | None:
        """Read one question; returns the upstream socket if it was made just now (the caller
        watches it)."""
        try:
            packet, addr = self.listen.recvfrom(4096)
        except OSError:
            return None
        q = dns.parse_query(packet)
        if q is None:
            return None
        ips = self.lookup(q.name)
        if ips is not None:
            self._send(dns.answer_a(q, ips if q.qtype in (1, 255) else []), addr)
            return None
        if not self.upstreams:
            self._send(dns.servfail(q), addr)
            return None
        new = self.out is None
        out = self._upstream_socket()
        self._expire()
        if len(self.pending) >= MAX_PENDING:
            self._send(dns.servfail(q), addr)
            return None
        qid = int.from_bytes(os.urandom(2), 'big')
        while qid in self.pending:
            qid = int.from_bytes(os.urandom(2), 'big')
        self.pending[qid] = (addr, q.id, time.monotonic() + TIMEOUT)
        try:
            out.sendto(dns.with_id(packet, qid), (self.upstreams[0], 53))
        except OSError:
            self.pending.pop(qid, None)
            self._send(dns.servfail(q), addr)
        return out if new else None

    def handle_answer(self) -> None:
        if self.out is None:
            return
        try:
            packet, _ = self.out.recvfrom(65535)
        except OSError:
            return
        qid = dns.packet_id(packet)
        hit = self.pending.pop(qid, None) if qid is not None else None
        if hit is None:
            return
        addr, orig, _deadline = hit
        self._send(dns.with_id(packet, orig), addr)

    def _expire(self) -> None:
        now = time.monotonic()
        for qid in [k for k, v in self.pending.items() if v[2] < now]:
            del self.pending[qid]

    def _send(self, packet: bytes, addr) -> None:
        try:
            self.listen.sendto(packet, addr)
        except OSError:
            pass

    def close(self) -> None:
        for s in self.sockets():
            try:
                s.close()
            except OSError:
                pass
        self.out = None
