"""The DNS message codec of rocker's in-container resolver (RFC 1035, EDNS of RFC 6891):
reading a query, writing the answers for names rocker knows, and the header edits of the
forwarder. Pure: bytes in, bytes out.

`parse_query` takes only what the resolver answers itself: a standard query (QR 0, opcode
QUERY) with exactly one question, no answer or authority records, and at most one additional
record, an OPT of EDNS version 0. Anything else is None: the caller forwards it upstream as
it is, or drops it (`packet_id` still reads its id). It never raises and its work is bounded
by the packet's size: a name is read label by label, each step moving forward; compression
pointers are refused (a query's question has nothing to point back to), labels are 1..63
bytes, a name 255 bytes on the wire at most.

Names are lowercased ASCII without the trailing dot ("web.rocker"; the root is ""); a label
with bytes that text cannot carry plainly (a dot, a space, a non-printable byte) makes the
query None. Answers echo the question as it came (its bytes, not `name`), so a client that
randomises the case of its query (DNS 0x20) finds its own spelling back.
"""

from __future__ import annotations

import struct
from ipaddress import AddressValueError, IPv4Address

TYPE_A = 1
TYPE_AAAA = 28
TYPE_OPT = 41
TYPE_ANY = 255
CLASS_IN = 1
CLASS_ANY = 255

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5

QR, AA, TC, RD, RA, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0010
OPCODE_MASK = 0x7800

HEADER = struct.Struct("!HHHHHH")
UDP_SIZE = 512
"""The size of a UDP answer to a client that did not say (RFC 1035 4.2.1)."""
EDNS_SIZE = 1232
"""The payload size rocker's answers advertise, and the most it sends over UDP (the size DNS
flag day 2020 settled on: no fragmentation on common paths)."""
MAX_NAME = 255
MAX_TTL = 2 ** 31 - 1
_TEXT_BYTES = bytes(range(0x21, 0x7F)).replace(b".", b"")


class Query:
    """One question of a client, as parse_query read it (immutable):

    id        the query's id (0..65535)
    name      the name asked for: lowercase, no trailing dot
    qtype     the record type asked for (1 = A, 28 = AAAA, ...)
    qclass    the class (1 = IN)
    question  the raw question section (name, type, class), echoed in answers
    rd        whether the client asked for recursion (copied into answers)
    cd        whether the client disabled checking (copied into answers)
    opt       whether the query carried an EDNS OPT record (answers then carry one)
    udp_size  how large a UDP answer the client takes (512 without EDNS)

    A plain class, not a dataclass: the resolver's process should stay small and quick to
    start (see rocker/cgroups/record.py).
    """

    __slots__ = ("id", "name", "qtype", "qclass", "question", "rd", "cd", "opt", "udp_size")

    def __init__(self, id: int, name: str, qtype: int, qclass: int, question: bytes,
                 rd: bool = True, cd: bool = False, opt: bool = False,
                 udp_size: int = UDP_SIZE) -> None:
        for key, value in (("id", id), ("name", name), ("qtype", qtype), ("qclass", qclass),
                           ("question", question), ("rd", rd), ("cd", cd), ("opt", opt),
                           ("udp_size", udp_size)):
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Query is immutable")

    def _key(self) -> tuple:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Query) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "Query(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


def parse_query(packet: bytes) -> Query | None:
    """The query `packet` asks, or None when it is not one the resolver answers itself (see
    the module docstring). Never raises for any bytes."""
    if not isinstance(packet, (bytes, bytearray)) or len(packet) < HEADER.size:
        return None
    qid, flags, qd, an, ns, ar = HEADER.unpack_from(packet)
    if flags & QR or flags & OPCODE_MASK or qd != 1 or an or ns or ar > 1:
        return None
    labels = []
    pos = HEADER.size
    while True:
        if pos >= len(packet):
            return None
        length = packet[pos]
        if length == 0:
            pos += 1
            break
        if length > 63:                      # a pointer (0xC0) or a reserved label type
            return None
        label = bytes(packet[pos + 1:pos + 1 + length])
        if len(label) != length or label.translate(None, _TEXT_BYTES):
            return None
        labels.append(label)
        pos += 1 + length
        if pos - HEADER.size >= MAX_NAME:     # the final zero byte still has to fit
            return None
    if pos + 4 > len(packet):
        return None
    qtype, qclass = struct.unpack_from("!HH", packet, pos)
    pos += 4
    question = bytes(packet[HEADER.size:pos])
    opt, udp_size = False, UDP_SIZE
    if ar:
        # the OPT pseudo-record: root name, type 41, class = payload size, ttl, rdata
        if pos + 11 > len(packet) or packet[pos] != 0:
            return None
        rtype, rclass, ttl, rdlen = struct.unpack_from("!HHIH", packet, pos + 1)
        if rtype != TYPE_OPT or (ttl >> 16) & 0xFF:     # EDNS version 0 only: upstream
            return None                                 # answers others with BADVERS
        pos += 11 + rdlen
        opt, udp_size = True, min(max(rclass, UDP_SIZE), EDNS_SIZE)
    if pos != len(packet):
        return None
    name = b".".join(labels).lower().decode("ascii")
    return Query(qid, name, qtype, qclass, question, rd=bool(flags & RD), cd=bool(flags & CD),
                 opt=opt, udp_size=udp_size)


def answer_a(q: Query, addresses: list[str], ttl: int = 600) -> bytes:
    """The authoritative answer for a name rocker knows: one A record per address (IPv4, in
    the order given) when `q` asks for A (or ANY) in class IN (or ANY); NOERROR with no
    answers (NODATA) for any other type, such as AAAA. Records that do not fit the client's
    UDP size are left out and the answer marked truncated (TC), so the client may ask again
    over TCP. ValueError for an address that is not IPv4 or a ttl out of range."""
    if type(ttl) is not int or not 0 <= ttl <= MAX_TTL:
        raise ValueError(f"bad ttl {ttl!r}")
    records = [_a_record(a, ttl) for a in addresses]
    if q.qtype not in (TYPE_A, TYPE_ANY) or q.qclass not in (CLASS_IN, CLASS_ANY):
        records = []
    room = q.udp_size - HEADER.size - len(q.question) - (len(_OPT_RECORD) if q.opt else 0)
    fit = max(0, min(len(records), room // _A_SIZE))
    flags = TC if fit < len(records) else 0
    return _message(q, NOERROR, AA | flags, records[:fit])


def nxdomain(q: Query) -> bytes:
    """The authoritative answer that `q.name` does not exist."""
    return _message(q, NXDOMAIN, AA, [])


def servfail(q: Query) -> bytes:
    """The answer that the resolver could not get an answer (upstreams failed)."""
    return _message(q, SERVFAIL, 0, [])


def refused(q: Query) -> bytes:
    """The answer that the resolver will not answer `q` (a class or name it does not serve)."""
    return _message(q, REFUSED, 0, [])


def rcode(packet: bytes) -> int:
    """The response code in a message's header; ValueError when it has no header."""
    if len(packet) < HEADER.size:
        raise ValueError("not a DNS message: shorter than its header")
    return packet[3] & 0x0F


def packet_id(packet: bytes) -> int | None:
    """The id of a message, or None when `packet` is too short to be one."""
    if len(packet) < HEADER.size:
        return None
    return (packet[0] << 8) | packet[1]


def with_id(packet: bytes, new_id: int) -> bytes:
    """`packet` with its id replaced by `new_id` (the forwarder's own ids upstream, the
    client's back); ValueError when it has no header or the id is not 0..65535."""
    if len(packet) < HEADER.size:
        raise ValueError("not a DNS message: shorter than its header")
    if type(new_id) is not int or not 0 <= new_id <= 0xFFFF:
        raise ValueError(f"bad DNS id {new_id!r}")
    return struct.pack("!H", new_id) + bytes(packet[2:])


# an A record: name (pointer to the question's, at offset 12), type, class, ttl, length, address
_A = struct.Struct("!HHHIH4s")
_A_SIZE = _A.size
# OPT: root name, type 41, our payload size, ext-rcode 0 / version 0 / no DO bit, no options
_OPT_RECORD = b"\x00" + struct.pack("!HHIH", TYPE_OPT, EDNS_SIZE, 0, 0)


def _a_record(address: str, ttl: int) -> bytes:
    try:
        packed = IPv4Address(address).packed
    except (AddressValueError, ValueError, TypeError):
        raise ValueError(f"not an IPv4 address: {address!r}") from None
    return _A.pack(0xC00C, TYPE_A, CLASS_IN, ttl, 4, packed)


def _message(q: Query, code: int, flags: int, answers: list[bytes]) -> bytes:
    flags |= QR | RA | code | (RD if q.rd else 0) | (CD if q.cd else 0)
    head = HEADER.pack(q.id, flags, 1, len(answers), 0, 1 if q.opt else 0)
    return head + q.question + b"".join(answers) + (_OPT_RECORD if q.opt else b"")
