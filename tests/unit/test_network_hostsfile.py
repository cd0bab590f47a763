"""rocker.network.hostsfile: /etc/hosts, resolv.conf, --add-host, --dns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocker.errors import InvalidInput
from rocker.network.hostsfile import (
    Resolv,
    container_resolv,
    is_hostname,
    parse_add_host,
    parse_dns,
    parse_resolv,
    render_hosts,
    render_resolv,
    upstreams,
)
from tests.unit.network_helpers import one_line_error

LOCALHOST = ("::1\tlocalhost ip6-localhost ip6-loopback\n"
             "fe00::0\tip6-localnet\n"
             "ff00::0\tip6-mcastprefix\n"
             "ff02::1\tip6-allnodes\n"
             "ff02::2\tip6-allrouters\n")


def test_hosts_as_docker_writes_them():
    got = render_hosts("f3e1a0b5c3d2", [("10.87.0.2", ["f3e1a0b5c3d2", "web"])],
                       [("db.local", "10.0.0.5"), ("v6", "fd00::1")])
    assert got == ("127.0.0.1\tlocalhost\n" + LOCALHOST +
                   "10.0.0.5\tdb.local\n"
                   "fd00::1\tv6\n"
                   "10.87.0.2\tf3e1a0b5c3d2 web\n")


def test_hosts_several_own_addresses():
    got = render_hosts("h", [("10.87.0.2", ["h"]), ("10.87.1.2", ["h", "api"])], [])
    assert got.endswith("10.87.0.2\th\n10.87.1.2\th api\n")
    assert got.startswith("127.0.0.1\tlocalhost\n")


def test_hosts_without_own_address_put_the_hostname_on_localhost():
    assert render_hosts("box", [], []) == "127.0.0.1\tlocalhost box\n" + LOCALHOST
    assert render_hosts("", [], []) == "127.0.0.1\tlocalhost\n" + LOCALHOST
    assert render_hosts("box", [], [("a", "1.2.3.4")]).endswith(LOCALHOST + "1.2.3.4\ta\n")


@pytest.mark.parametrize("hostname,own,extra", [
    ("a b", [], []),
    ("a\nb", [], []),
    ("h", [("10.87.0.2", ["x y"])], []),
    ("h", [("10.87.0.2\n1.2.3.4", ["x"])], []),
    ("h", [("10.87.0.2", [])], []),
    ("h", [("10.87.0.2", [""])], []),
    ("h", [], [("a#b", "1.2.3.4")]),
    ("h", [], [("a", "1.2.3.4\tb")]),
])
def test_hosts_refuse_what_would_break_a_line(hostname, own, extra):
    with pytest.raises(ValueError):
        render_hosts(hostname, own, extra)


@pytest.mark.parametrize("spec,want", [
    ("db:10.0.0.5", ("db", "10.0.0.5")),
    ("db=10.0.0.5", ("db", "10.0.0.5")),
    ("db.example.com:10.0.0.5", ("db.example.com", "10.0.0.5")),
    ("v6:fd00::1", ("v6", "fd00::1")),
    ("v6:::1", ("v6", "::1")),
    ("v6=[fd00::1]", ("v6", "fd00::1")),
    ("v6:[fd00:0::1]", ("v6", "fd00::1")),
    ("My-Host1:1.2.3.4", ("My-Host1", "1.2.3.4")),
    ("1host:1.2.3.4", ("1host", "1.2.3.4")),
])
def test_parse_add_host(spec, want):
    assert parse_add_host(spec) == want


@pytest.mark.parametrize("spec,why", [
    ("db", "expected NAME:IP"),
    ("", "expected NAME:IP"),
    ("db:", '"" is not an IP address'),
    ("db:host-gateway", "host-gateway is not supported yet"),
    ("db=host-gateway", "host-gateway is not supported yet"),
    ("db:10.0.0.256", "is not an IP address"),
    ("db:example.com", "is not an IP address"),
    (":10.0.0.5", '"" is not a valid hostname'),
    ("-db:10.0.0.5", "is not a valid hostname"),
    ("db-:10.0.0.5", "is not a valid hostname"),
    ("d_b:10.0.0.5", "is not a valid hostname"),
    ("db.:10.0.0.5", "is not a valid hostname"),
    ("a..b:10.0.0.5", "is not a valid hostname"),
    ("dé:10.0.0.5", "is not a valid hostname"),
    ("a b:10.0.0.5", "is not a valid hostname"),
    ("a\nb:10.0.0.5", "is not a valid hostname"),
    ("x" * 64 + ":10.0.0.5", "is not a valid hostname"),
])
def test_parse_add_host_refuses(spec, why):
    msg = one_line_error(parse_add_host, spec)
    assert msg.startswith('invalid add-host "') and why in msg


def test_hostname_lengths():
    assert is_hostname("a" * 63)
    assert not is_hostname("a" * 64)
    long = ".".join(["a" * 63] * 3) + "." + "a" * 61       # 253 characters
    assert len(long) == 253 and is_hostname(long)
    assert not is_hostname(long + "a")


@settings(deadline=None)
@given(st.text(max_size=30))
def test_add_host_is_valid_or_invalid_input(spec):
    try:
        name, ip = parse_add_host(spec)
    except InvalidInput as e:
        assert "\n" not in str(e)
        return
    # what it accepts renders as one line of /etc/hosts
    assert render_hosts("h", [], [(name, ip)]).endswith(f"{ip}\t{name}\n")


def test_parse_dns():
    assert parse_dns("1.1.1.1") == "1.1.1.1"
    assert parse_dns("2001:4860:0:0::8888") == "2001:4860::8888"
    for bad in ("", "dns.google", "1.1.1", "1.1.1.1 "):
        assert one_line_error(parse_dns, bad).startswith("invalid dns ")


HOST_RESOLV = """\
# This is /etc/resolv.conf, managed by someone
; another comment
nameserver 127.0.0.53
nameserver 192.168.1.1   # the router
nameserver not-an-ip
nameserver fd00::53
nameserver fe80::1%eth0
nameserver ::1
domain old.example
search corp.example example.com
options edns0 trust-ad
options ndots:2
sortlist 130.155.160.0/255.255.240.0
"""


def test_parse_resolv():
    r = parse_resolv(HOST_RESOLV)
    assert r == Resolv(["127.0.0.53", "192.168.1.1", "fd00::53", "fe80::1%eth0", "::1"],
                       ["corp.example", "example.com"], ["edns0", "trust-ad", "ndots:2"])
    assert r.nameservers == ["127.0.0.53", "192.168.1.1", "fd00::53", "fe80::1%eth0", "::1"]


def test_parse_resolv_last_search_or_domain_wins():
    assert parse_resolv("search a b\ndomain c\n").search == ["c"]
    assert parse_resolv("domain c\nsearch a b\n").search == ["a", "b"]
    assert parse_resolv("search a\nsearch\n").search == []


def test_parse_resolv_empty_and_odd():
    assert parse_resolv("") == Resolv([], [], [])
    assert parse_resolv("nameserver\n\n   \n#\nfoo bar\n") == Resolv()
    assert parse_resolv("nameserver 1.1.1.1\r\nsearch x\r\n") == Resolv(["1.1.1.1"], ["x"], [])


def test_parse_resolv_is_bounded():
    text = "nameserver 1.1.1.1\n" * 10_000 + "options " + "a " * 10_000 + "\n" + \
        "search " + "d " * 10_000
    r = parse_resolv(text)
    assert len(r.nameservers) == 64 and len(r.options) == 64 and len(r.search) == 64


WORDS = st.one_of(st.sampled_from(["1.1.1.1", "::1", "fe80::1%eth0", "a.example", "#c", ";c",
                                    "ndots:2", "x#y"]), st.text(max_size=8))
LINES = st.tuples(st.sampled_from(["nameserver", "search", "domain", "options", "#", "junk", ""]),
                  st.lists(WORDS, max_size=4), st.sampled_from([" ", "\t", "  "]))
TEXTS = st.one_of(st.text(max_size=300), st.lists(LINES, max_size=8).map(
    lambda lines: "\n".join(k + sep + sep.join(ws) for k, ws, sep in lines)))


@settings(deadline=None)
@given(TEXTS)
def test_parse_resolv_takes_anything(text):
    r = parse_resolv(text)
    # what it read renders, and reads back the same
    assert parse_resolv(render_resolv(r)) == r


def test_render_resolv():
    assert render_resolv(Resolv(["10.0.0.2", "10.0.0.3"], ["a.example"], ["ndots:2", "edns0"])) == (
        "nameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch a.example\noptions ndots:2 edns0\n")
    assert render_resolv(Resolv()) == ""
    assert render_resolv(Resolv(["127.0.0.11"])) == "nameserver 127.0.0.11\n"
    for bad in (Resolv(["1.1.1.1\nnameserver 6.6.6.6"]), Resolv([], ["a b"]), Resolv([], [], [""])):
        with pytest.raises(ValueError):
            render_resolv(bad)


def test_resolv_copies_its_lists():
    ns = ["1.1.1.1"]
    r = Resolv(ns)
    ns.append("2.2.2.2")
    assert r.nameservers == ["1.1.1.1"]


HOST = parse_resolv(HOST_RESOLV)


def test_container_resolv_without_embedded_drops_what_cannot_work():
    r = container_resolv(HOST, [], [], [], None)
    assert r == Resolv(["192.168.1.1"], ["corp.example", "example.com"],
                       ["edns0", "trust-ad", "ndots:2"])


def test_container_resolv_no_fallback_to_public_resolvers():
    local_only = Resolv(["127.0.0.53", "::1"], [], [])
    assert container_resolv(local_only, [], [], [], None).nameservers == []


def test_container_resolv_user_values_replace_the_hosts():
    r = container_resolv(HOST, ["9.9.9.9", "127.0.0.1"], ["svc.local"], ["ndots:5"], None)
    assert r == Resolv(["9.9.9.9", "127.0.0.1"], ["svc.local"], ["ndots:5"])
    assert container_resolv(HOST, [], ["."], [], None).search == []


def test_container_resolv_with_embedded_resolver():
    r = container_resolv(HOST, ["9.9.9.9"], [], [], "127.0.0.11")
    assert r == Resolv(["127.0.0.11"], ["corp.example", "example.com"],
                       ["edns0", "trust-ad", "ndots:2"])
    assert "ndots:0" not in r.options


def test_upstreams():
    assert upstreams(HOST, []) == HOST.nameservers
    assert "127.0.0.53" in upstreams(HOST, [])
    assert upstreams(HOST, ["9.9.9.9"]) == ["9.9.9.9"]
    got = upstreams(HOST, [])
    got.append("x")
    assert "x" not in HOST.nameservers


def test_parse_resolv_drops_words_it_could_not_write_back():
    assert parse_resolv("search a#b c\x00d ok\noptions x;y edns0\n") == Resolv([], ["ok"], ["edns0"])
