"""rocker.network.etcfiles.etc_files: which nameserver a container's resolv.conf names, from the
host's resolv.conf (stood in for by monkeypatching etcfiles.host_resolv, the one reader)."""

from __future__ import annotations

import pytest

from rocker.network import etcfiles
from rocker.network.hostsfile import parse_resolv

REC = {"id": "c" * 64, "config": {"hostname": "box"}}


def nameservers(resolv: str) -> list[str]:
    return [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")]


@pytest.mark.parametrize("host, embedded, want, upstreams", [
    # a reachable host resolver: the default network uses it as it is (as Docker does)
    ("nameserver 10.0.0.53\n", False, ["10.0.0.53"], ["10.0.0.53"]),
    # only loopback ones (systemd-resolved): the embedded resolver forwards from the host side
    ("nameserver 127.0.0.53\n", False, ["127.0.0.11"], ["127.0.0.53"]),
    # loopback ones are dropped, reachable ones kept
    ("nameserver 127.0.0.53\nnameserver 10.0.0.53\n", False, ["10.0.0.53"],
     ["127.0.0.53", "10.0.0.53"]),
    # a user network: always the embedded resolver
    ("nameserver 10.0.0.53\n", True, ["127.0.0.11"], ["10.0.0.53"]),
    # no resolver at all on the host: none, and nothing to forward to
    ("", False, [], []),
])
def test_resolv_conf_nameserver(monkeypatch, host, embedded, want, upstreams):
    monkeypatch.setattr(etcfiles, "host_resolv", lambda: parse_resolv(host))
    hosts, resolv, up = etcfiles.etc_files(REC, [("10.87.0.2", ["box"])], embedded)
    assert nameservers(resolv) == want
    assert up == upstreams
    assert "10.87.0.2\tbox" in hosts or "10.87.0.2 box" in hosts


def test_dns_option_wins_on_the_default_network(monkeypatch):
    monkeypatch.setattr(etcfiles, "host_resolv", lambda: parse_resolv("nameserver 127.0.0.53\n"))
    rec = {"id": "c" * 64, "config": {"hostname": "box", "dns": ["10.1.1.1"]}}
    _hosts, resolv, up = etcfiles.etc_files(rec, [], False)
    assert nameservers(resolv) == ["10.1.1.1"] and up == ["10.1.1.1"]
