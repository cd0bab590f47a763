"""Image references: parsing and validation (pure)."""

import pytest

from rocker.errors import InvalidInput
from rocker.images.refs import id_hex, normalize_reference, split_reference


@pytest.mark.parametrize("ref,expected", [
    ("busybox", ("busybox", "latest")),
    ("busybox:1.36", ("busybox", "1.36")),
    ("library/busybox:v1_2-3", ("library/busybox", "v1_2-3")),
    ("my.app_x__y-z", ("my.app_x__y-z", "latest")),
    ("localhost:5000/app", ("localhost:5000/app", "latest")),
    ("localhost:5000/app:tag", ("localhost:5000/app", "tag")),
    ("registry.example.com/team/app:2", ("registry.example.com/team/app", "2")),
    ("a--b", ("a--b", "latest")),
    ("x:" + "T" * 128, ("x", "T" * 128)),
])
def test_split_reference(ref, expected):
    assert split_reference(ref) == expected


@pytest.mark.parametrize("ref", [
    "", "Busybox", "busybox:", ":tag", "busy box", "bad/", "/bad", "a//b", "-a", "a-", "a..b",
    "a:b:c", "x:" + "t" * 129, "x:.tag", "x:-tag", "img@sha256:abc", "a/B", "a___b",
    "a" * 256, "bad host:1/x",
])
def test_bad_references(ref):
    with pytest.raises(InvalidInput):
        split_reference(ref)


def test_normalize():
    assert normalize_reference("busybox") == "busybox:latest"
    assert normalize_reference("a/b:c") == "a/b:c"


def test_id_hex():
    h = "ab" * 32
    assert id_hex(h) == h
    assert id_hex("sha256:" + h) == h
    assert id_hex("sha256:ab12") == "ab12"
    assert id_hex("busybox") is None
    assert id_hex("ABCD") is None
