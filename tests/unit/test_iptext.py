"""rocker.network.iptext gives the answers of ipaddress, without importing it for IPv4."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocker.network import iptext


def _reference(text):
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _ours(text):
    try:
        return iptext.canonical(text)
    except ValueError:
        return None


quads = st.lists(st.one_of(st.integers(0, 300).map(str), st.sampled_from(["", "00", "01", "0x1",
                                                                          " 1", "١", "-1"])),
                 min_size=1, max_size=6).map(".".join)
texts = st.one_of(quads, st.text(alphabet="0123456789abcdef.:%x ", max_size=24),
                  st.ip_addresses().map(str))


@given(texts)
def test_canonical_agrees_with_ipaddress(text):
    assert _ours(text) == _reference(text)


@given(st.ip_addresses().map(str))
def test_loopback_or_ipv6_agrees_with_ipaddress(text):
    a = ipaddress.ip_address(text)
    assert iptext.is_loopback_or_ipv6(text) == (a.is_loopback or a.version == 6)


@pytest.mark.parametrize("text,want", [("10.0.0.1", "10.0.0.1"), ("010.0.0.1", None),
                                       ("256.1.1.1", None), ("1.2.3", None),
                                       ("::1", "::1"), ("FE80::1", "fe80::1"), ("", None)])
def test_examples(text, want):
    assert _ours(text) == want
    assert iptext.ipv4(text) == (want if want and "." in want else None)
