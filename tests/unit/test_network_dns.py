"""rocker.network.dns: the DNS codec of the in-container resolver, on hand-built packets."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocker.network.dns import (
    NOERROR,
    NXDOMAIN,
    REFUSED,
    SERVFAIL,
    Query,
    answer_a,
    nxdomain,
    packet_id,
    parse_query,
    rcode,
    refused,
    servfail,
    with_id,
)


def wire_name(name: str) -> bytes:
    if not name:
        return b"\x00"
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\x00"


def query(name: str = "web.rocker", qtype: int = 1, qclass: int = 1, qid: int = 0x1234,
          flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0,
          tail: bytes = b"", raw_name: bytes | None = None) -> bytes:
    head = struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)
    qname = wire_name(name) if raw_name is None else raw_name
    return head + qname + struct.pack("!HH", qtype, qclass) + tail


def opt(size: int = 4096, rdata: bytes = b"", version: int = 0) -> bytes:
    return b"\x00" + struct.pack("!HHBBHH", 41, size, 0, version, 0x8000, len(rdata)) + rdata


def test_parse_a_query():
    q = parse_query(query())
    assert q == Query(0x1234, "web.rocker", 1, 1, wire_name("web.rocker") + b"\x00\x01\x00\x01",
                      rd=True, cd=False, opt=False, udp_size=512)
    assert q.name == "web.rocker" and q.qtype == 1 and q.rd


def test_parse_lowercases_but_keeps_the_raw_question():
    q = parse_query(query("WeB.RoCKer"))
    assert q.name == "web.rocker"
    assert q.question.startswith(b"\x03WeB\x06RoCKer\x00")


def test_parse_flags():
    assert parse_query(query(flags=0)).rd is False
    assert parse_query(query(flags=0x0110)).cd is True
    assert parse_query(query(flags=0x0300)) is not None      # TC set by a client: harmless


def test_parse_root_and_underscores():
    assert parse_query(query("")).name == ""
    assert parse_query(query("_http._tcp.web")).name == "_http._tcp.web"


def test_parse_edns():
    q = parse_query(query(ar=1, tail=opt(4096)))
    assert q.opt and q.udp_size == 1232
    assert parse_query(query(ar=1, tail=opt(100))).udp_size == 512
    assert parse_query(query(ar=1, tail=opt(1000))).udp_size == 1000
    cookie = struct.pack("!HH", 10, 8) + b"\x01" * 8
    assert parse_query(query(ar=1, tail=opt(1232, cookie))).opt


@pytest.mark.parametrize("packet", [
    b"",
    b"\x00" * 11,
    query(flags=0x8100),                      # a response
    query(flags=0x2100),                      # opcode NOTIFY (4 << 11)
    query(flags=0x2800),                      # opcode UPDATE (5 << 11)
    query(qd=0),
    query(qd=2),
    query(an=1),
    query(ns=1),
    query(ar=2, tail=opt() + opt()),
    query(ar=1),                              # counted, missing
    query(ar=1, tail=opt()[:-1]),
    query(ar=1, tail=opt(rdata=b"abc")[:-1]),
    query(ar=1, tail=b"\x00" + struct.pack("!HHIH", 1, 1, 0, 4) + b"\x01\x02\x03\x04"),  # not OPT
    query(ar=1, tail=b"\x01a" + opt()[1:]),   # OPT with a non-root name
    query(ar=1, tail=opt(version=1)),         # EDNS version 1
    query(tail=b"junk"),                      # trailing bytes
    query()[:-1],                             # class cut short
    query()[:14],                             # name cut short
    query(raw_name=b"\xc0\x0c"),              # compression pointer
    query(raw_name=b"\x03web\xc0\x0c"),
    query(raw_name=b"\x40" + b"a" * 64 + b"\x00"),   # label length 64
    query(raw_name=b"\x80abc\x00"),           # reserved label type
    query(raw_name=b"\x03a.b\x00"),           # a dot inside a label
    query(raw_name=b"\x03a b\x00"),           # a space
    query(raw_name=b"\x03a\x00b\x00"),        # a NUL
    query(raw_name=b"\x02\xc3\xa9\x00"),      # non-ASCII
    query(raw_name=(b"\x3f" + b"a" * 63) * 4 + b"\x00"),   # 257 bytes on the wire
])
def test_parse_refuses(packet):
    assert parse_query(packet) is None


def test_name_length_limit():
    # 255 bytes on the wire: 3 labels of 63, one of 61, the root
    name = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(wire_name(name)) == 255
    assert parse_query(query(name)).name == name
    longer = ".".join(["a" * 63] * 3 + ["b" * 62])
    assert parse_query(query(longer)) is None


def header(packet: bytes) -> tuple:
    return struct.unpack("!HHHHHH", packet[:12])


def test_answer_a():
    q = parse_query(query())
    r = answer_a(q, ["10.87.0.2", "10.87.1.2"], ttl=30)
    qid, flags, qd, an, ns, ar = header(r)
    assert (qid, qd, an, ns, ar) == (0x1234, 1, 2, 0, 0)
    assert flags & 0x8000 and flags & 0x0400 and flags & 0x0100 and flags & 0x0080
    assert not flags & 0x0200 and rcode(r) == NOERROR
    assert r[12:12 + len(q.question)] == q.question
    rest = r[12 + len(q.question):]
    assert rest == (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + bytes([10, 87, 0, 2]) +
                    b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + bytes([10, 87, 1, 2]))


def test_answer_copies_rd_and_cd():
    r = answer_a(parse_query(query(flags=0x0010)), ["10.87.0.2"])
    flags = header(r)[1]
    assert not flags & 0x0100 and flags & 0x0010 and flags & 0x0080


def test_answer_default_ttl():
    r = answer_a(parse_query(query()), ["10.87.0.2"])
    assert struct.unpack("!I", r[-10:-6])[0] == 600


@pytest.mark.parametrize("qtype,qclass,answers", [
    (1, 1, 1), (255, 1, 1), (1, 255, 1), (28, 1, 0), (15, 1, 0), (16, 1, 0), (1, 3, 0),
])
def test_other_types_get_nodata(qtype, qclass, answers):
    r = answer_a(parse_query(query(qtype=qtype, qclass=qclass)), ["10.87.0.2"])
    assert rcode(r) == NOERROR and header(r)[3] == answers


def test_answer_with_edns_carries_opt():
    q = parse_query(query(ar=1, tail=opt(4096)))
    r = answer_a(q, ["10.87.0.2"])
    assert header(r)[5] == 1
    assert r.endswith(b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0))


def test_answer_truncates_to_the_udp_size():
    q = parse_query(query())
    many = [f"10.87.0.{i}" for i in range(2, 102)]
    r = answer_a(q, many)
    assert len(r) <= 512 and header(r)[1] & 0x0200
    assert header(r)[3] == (512 - 12 - len(q.question)) // 16
    q = parse_query(query(ar=1, tail=opt(1232)))
    r = answer_a(q, many)
    assert len(r) <= 1232 and header(r)[1] & 0x0200 and header(r)[5] == 1
    r = answer_a(q, many[:10])
    assert not header(r)[1] & 0x0200 and header(r)[3] == 10


def test_answer_refuses_bad_input():
    q = parse_query(query())
    for bad in (["fd00::1"], ["10.87.0"], ["x"], [None]):
        with pytest.raises(ValueError):
            answer_a(q, bad)
    with pytest.raises(ValueError):
        answer_a(parse_query(query(qtype=28)), ["fd00::1"])    # checked whatever the type
    for ttl in (-1, 2 ** 31, 1.5):
        with pytest.raises(ValueError):
            answer_a(q, ["10.87.0.2"], ttl=ttl)


@pytest.mark.parametrize("make,code,aa", [(nxdomain, NXDOMAIN, True), (servfail, SERVFAIL, False),
                                          (refused, REFUSED, False)])
def test_error_answers(make, code, aa):
    q = parse_query(query())
    r = make(q)
    qid, flags, qd, an, ns, ar = header(r)
    assert rcode(r) == code and (qid, qd, an, ns, ar) == (0x1234, 1, 0, 0, 0)
    assert bool(flags & 0x0400) == aa and flags & 0x8000
    assert r[12:] == q.question
    assert header(make(parse_query(query(ar=1, tail=opt()))))[5] == 1


def test_answers_parse_back_as_responses_not_queries():
    q = parse_query(query())
    assert parse_query(answer_a(q, ["10.87.0.2"])) is None
    assert parse_query(nxdomain(q)) is None


def test_ids():
    p = query(qid=0xBEEF)
    assert packet_id(p) == 0xBEEF
    p2 = with_id(p, 7)
    assert packet_id(p2) == 7 and p2[2:] == p[2:]
    assert packet_id(b"\x01\x02") is None
    for bad in (-1, 65536, "1"):
        with pytest.raises(ValueError):
            with_id(p, bad)
    with pytest.raises(ValueError):
        with_id(b"\x00", 1)
    with pytest.raises(ValueError):
        rcode(b"")


def test_query_is_immutable():
    q = parse_query(query())
    with pytest.raises(AttributeError):
        q.name = "other"
    assert hash(q) == hash(parse_query(query()))
    assert "web.rocker" in repr(q)


@settings(deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(packet):
    q = parse_query(packet)
    assert q is None or isinstance(q, Query)


LABELS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
                 min_size=1, max_size=63)
NAMES = st.lists(LABELS, max_size=5).map(".".join).filter(lambda n: len(wire_name(n)) <= 255)


@settings(deadline=None)
@given(NAMES, st.integers(0, 65535), st.integers(0, 65535), st.integers(0, 65535),
       st.booleans(), st.booleans())
def test_valid_queries_parse_back(name, qid, qtype, qclass, rd, edns):
    packet = query(name, qtype, qclass, qid, 0x0100 if rd else 0, ar=int(edns),
                   tail=opt() if edns else b"")
    q = parse_query(packet)
    assert q is not None
    assert (q.id, q.name, q.qtype, q.qclass, q.rd, q.opt) == (qid, name.lower(), qtype, qclass, rd, edns)
    r = answer_a(q, ["10.87.0.2"])
    assert packet_id(r) == qid and rcode(r) == NOERROR
    assert len(r) <= q.udp_size


@settings(deadline=None)
@given(NAMES, st.data())
def test_mutated_queries_never_raise(name, data):
    packet = bytearray(query(name, ar=1, tail=opt()))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(packet) - 1))
        packet[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(packet)))
    for p in (bytes(packet), bytes(packet[:cut])):
        q = parse_query(p)
        assert q is None or isinstance(q, Query)
        if q is not None:
            answer_a(q, ["10.87.0.2"])
            nxdomain(q)
