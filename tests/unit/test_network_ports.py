"""rocker.network.ports: `-p` specs, ExposedPorts keys, `docker port` lines, record form."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocker.errors import CorruptRecord, InvalidInput
from rocker.network.ports import (
    PortMapping,
    format_binding,
    from_json,
    parse_expose,
    parse_publish,
    to_json,
)
from tests.unit.network_helpers import one_line_error

M = PortMapping


@pytest.mark.parametrize("spec,want", [
    ("80", [M("", 0, 80, "tcp")]),
    ("8080:80", [M("", 8080, 80, "tcp")]),
    (":80", [M("", 0, 80, "tcp")]),
    ("127.0.0.1:8080:80", [M("127.0.0.1", 8080, 80, "tcp")]),
    ("127.0.0.1::80", [M("127.0.0.1", 0, 80, "tcp")]),
    ("0.0.0.0:8080:80", [M("", 8080, 80, "tcp")]),
    ("::80", [M("", 0, 80, "tcp")]),
    ("53:53/udp", [M("", 53, 53, "udp")]),
    ("53/UDP", [M("", 0, 53, "udp")]),
    ("80/Tcp", [M("", 0, 80, "tcp")]),
    ("8000-8002:80-82", [M("", 8000, 80, "tcp"), M("", 8001, 81, "tcp"), M("", 8002, 82, "tcp")]),
    ("80-82", [M("", 0, 80, "tcp"), M("", 0, 81, "tcp"), M("", 0, 82, "tcp")]),
    ("127.0.0.1:8000-8001:80-81/udp", [M("127.0.0.1", 8000, 80, "udp"),
                                       M("127.0.0.1", 8001, 81, "udp")]),
    ("80-80", [M("", 0, 80, "tcp")]),
    ("65535:1", [M("", 65535, 1, "tcp")]),
    ("00080", [M("", 0, 80, "tcp")]),
])
def test_parse_publish(spec, want):
    assert parse_publish(spec) == want


@pytest.mark.parametrize("spec,why", [
    ("", "expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]"),
    ("0", "container port must be a port from 1 to 65535"),
    ("65536", "container port must be a port"),
    ("-1", "container port must be"),
    ("+80", "container port must be"),
    ("8_0", "container port must be"),
    ("٨٠", "container port must be"),
    ("80 ", "container port must be"),
    ("http", "container port must be"),
    ("0:80", "host port 0 is not allowed"),
    ("000:80", "host port 0 is not allowed"),
    ("65536:80", "host port must be"),
    ("82-80", "container port range 82-80 is reversed"),
    ("8002-8000:80-82", "host port range 8002-8000 is reversed"),
    ("8000-8002:80", "a host port range needs a container port range of the same length"),
    ("8000:80-82", "the host range has 1 ports, the container range 3"),
    ("8000-8001:80-82", "the host range has 2 ports, the container range 3"),
    ("80/sctp", 'protocol "sctp" is not supported'),
    ("80/", 'protocol "" is not supported'),
    ("80/tcp/udp", "container port must be"),
    ("1.2.3.4:80:80:80", "expected [IP:]"),
    ("[::1]:80:80", "IPv6 host addresses are not supported yet"),
    ("::1:80:80", "IPv6 host addresses are not supported yet"),
    ("fe80::1:8080:80", "IPv6 host addresses are not supported yet"),
    ("localhost:8080:80", 'the host address "localhost" is not an IPv4 address'),
    ("127.0.0.01:8080:80", "is not an IPv4 address"),
    ("256.0.0.1:8080:80", "is not an IPv4 address"),
    ("a\nb:80", "host port must be"),
])
def test_parse_publish_refuses(spec, why):
    msg = one_line_error(parse_publish, spec)
    assert msg.startswith('invalid publish spec "') and why in msg


def test_publish_error_quotes_control_characters_and_stays_short():
    assert 'invalid publish spec "a\\nb": ' in one_line_error(parse_publish, "a\nb")
    assert len(one_line_error(parse_publish, "9" * 100_000)) < 250


def test_whole_range_is_linear():
    start = time.perf_counter()
    got = parse_publish("1-65535:1-65535/udp")
    assert time.perf_counter() - start < 2
    assert len(got) == 65535 and got[0] == M("", 1, 1, "udp") and got[-1] == M("", 65535, 65535, "udp")
    assert len(parse_publish("1-65535")) == 65535


@settings(deadline=None)
@given(st.integers(1, 65535), st.integers(1, 65535), st.integers(0, 50),
       st.sampled_from(["", "127.0.0.1", "10.1.2.3"]), st.sampled_from(["tcp", "udp"]))
def test_publish_ranges_pair_up(h, c, n, ip, proto):
    n = min(n, 65535 - h, 65535 - c)
    spec = f"{h}-{h + n}:{c}-{c + n}/{proto}"
    if ip:
        spec = f"{ip}:{spec}"
    got = parse_publish(spec)
    assert got == [M(ip, h + i, c + i, proto) for i in range(n + 1)]


@settings(deadline=None)
@given(st.text(max_size=40))
def test_publish_never_fails_otherwise(spec):
    try:
        got = parse_publish(spec)
    except InvalidInput as e:
        assert "\n" not in str(e)
        return
    assert got and all(1 <= m.container_port <= 65535 and 0 <= m.host_port <= 65535
                       and m.proto in ("tcp", "udp") for m in got)


@pytest.mark.parametrize("key,want", [
    ("80/tcp", (80, "tcp")), ("53/udp", (53, "udp")), ("8080", (8080, "tcp")),
    ("53/UDP", (53, "udp")), ("9/sctp", (9, "sctp")), ("65535/tcp", (65535, "tcp")),
])
def test_parse_expose(key, want):
    assert parse_expose(key) == want


@pytest.mark.parametrize("key", ["", "0/tcp", "80/icmp", "80-81/tcp", "http", "80/tcp/x",
                                 "65536", " 80"])
def test_parse_expose_refuses(key):
    assert one_line_error(parse_expose, key).startswith("invalid exposed port ")


def test_format_binding():
    assert format_binding(M("", 8080, 80, "tcp")) == "80/tcp -> 0.0.0.0:8080"
    assert format_binding(M("127.0.0.1", 5353, 53, "udp")) == "53/udp -> 127.0.0.1:5353"


def test_json_round_trip():
    m = M("127.0.0.1", 8080, 80, "tcp")
    assert to_json(m) == {"HostIp": "127.0.0.1", "HostPort": 8080, "ContainerPort": 80,
                          "Protocol": "tcp"}
    assert from_json(to_json(m)) == m
    assert from_json(to_json(M("", 0, 53, "udp"))) == M("", 0, 53, "udp")
    assert from_json({"HostIp": "0.0.0.0", "HostPort": 1, "ContainerPort": 2,
                      "Protocol": "tcp"}) == M("", 1, 2, "tcp")


@settings(deadline=None)
@given(st.sampled_from(["", "127.0.0.1", "192.168.1.20"]), st.integers(0, 65535),
       st.integers(1, 65535), st.sampled_from(["tcp", "udp"]))
def test_json_round_trip_property(ip, hp, cp, proto):
    m = M(ip, hp, cp, proto)
    assert from_json(to_json(m)) == m


@pytest.mark.parametrize("d", [
    None, [], "80/tcp",
    {"HostIp": "x", "HostPort": 1, "ContainerPort": 2, "Protocol": "tcp"},
    {"HostIp": None, "HostPort": 1, "ContainerPort": 2, "Protocol": "tcp"},
    {"HostIp": "", "HostPort": "1", "ContainerPort": 2, "Protocol": "tcp"},
    {"HostIp": "", "HostPort": True, "ContainerPort": 2, "Protocol": "tcp"},
    {"HostIp": "", "HostPort": 65536, "ContainerPort": 2, "Protocol": "tcp"},
    {"HostIp": "", "HostPort": 1, "ContainerPort": 0, "Protocol": "tcp"},
    {"HostIp": "", "HostPort": 1, "ContainerPort": 2, "Protocol": "TCP"},
    {"HostIp": "", "HostPort": 1, "ContainerPort": 2},
])
def test_from_json_refuses_a_bad_record(d):
    with pytest.raises(CorruptRecord, match="^corrupt port mapping in record: "):
        from_json(d)


def test_mapping_is_immutable_and_hashable():
    m = M("", 1, 2, "tcp")
    with pytest.raises(AttributeError):
        m.host_port = 5
    assert {m, M("", 1, 2, "tcp")} == {m}
    assert m.host_ip == "" and m.host_port == 1 and m.container_port == 2 and m.proto == "tcp"
