"""Image references: parsing and validation (pure)."""

import pytest

from rocker.errors import InvalidInput
from rocker.images.refs import id_hex, normalize_reference, parse_reference, split_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("ref,expected", [
    ("busybox", ("busybox", "latest")),
    ("busybox:1.36", ("busybox", "1.36")),
    ("library/busybox:v1_2-3", ("busybox", "v1_2-3")),
    ("docker.io/library/busybox", ("busybox", "latest")),
    ("index.docker.io/library/busybox:1", ("busybox", "1")),
    ("docker.io/team/app", ("team/app", "latest")),
    ("127.0.0.1:5000/busybox", ("127.0.0.1:5000/busybox", "latest")),
    ("127.0.0.1:5000/library/busybox", ("127.0.0.1:5000/library/busybox", "latest")),
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
    assert normalize_reference("docker.io/library/busybox") == "busybox:latest"
    assert normalize_reference("busybox@" + DIGEST) == "busybox@" + DIGEST
    assert normalize_reference("busybox:1@" + DIGEST) == "busybox@" + DIGEST


@pytest.mark.parametrize("ref,registry,path,tag,digest", [
    ("busybox", "docker.io", "library/busybox", "latest", None),
    ("team/app:2", "docker.io", "team/app", "2", None),
    ("127.0.0.1:5000/a/b@" + DIGEST, "127.0.0.1:5000", "a/b", None, DIGEST),
    ("localhost/x:t@" + DIGEST, "localhost", "x", "t", DIGEST),
    ("[::1]:5000/x", "[::1]:5000", "x", "latest", None),
])
def test_parse_reference(ref, registry, path, tag, digest):
    r = parse_reference(ref)
    assert (r.registry, r.path, r.tag, r.digest) == (registry, path, tag, digest)
    assert r.api_host == ("registry-1.docker.io" if registry == "docker.io" else registry)


@pytest.mark.parametrize("ref", ["a@sha256:12", "a@md5:" + "0" * 32, "a@" + DIGEST.upper()])
def test_bad_digests(ref):
    with pytest.raises(InvalidInput, match="digest"):
        parse_reference(ref)


def test_id_hex():
    h = "ab" * 32
    assert id_hex(h) == h
    assert id_hex("sha256:" + h) == h
    assert id_hex("sha256:ab12") == "ab12"
    assert id_hex("busybox") is None
    assert id_hex("ABCD") is None
