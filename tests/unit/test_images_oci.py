"""Image formats (pure): manifests and indexes parsed and bounded, platform selection,
WWW-Authenticate challenges, credentials files."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from rocker.errors import InvalidInput, NotFound
from rocker.images import oci
from rocker.images.registry import is_loopback, parse_challenge

D = "sha256:" + "a" * 64


def desc(mt=oci.OCI_MANIFEST, platform=None, **kw):
    d = {"mediaType": mt, "digest": D, "size": 10, **kw}
    if platform:
        d["platform"] = platform
    return d


def manifest(layers=None, **kw) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                       "config": desc(oci.OCI_CONFIG),
                       "layers": layers if layers is not None else [desc(oci.OCI_LAYER_GZIP)],
                       **kw}).encode()


def test_parse_manifest_and_index():
    m = oci.parse_manifest(manifest())
    assert isinstance(m, oci.Manifest) and m.layers[0].media_type == oci.OCI_LAYER_GZIP
    idx = oci.parse_manifest(json.dumps({"schemaVersion": 2, "manifests": [desc()]}).encode())
    assert isinstance(idx, oci.Index)          # no mediaType: told by its shape
    m = oci.parse_manifest(manifest(), oci.OCI_MANIFEST + "; charset=utf-8")
    assert isinstance(m, oci.Manifest)


@pytest.mark.parametrize("data,media_type,match", [
    (b"x" * (oci.MANIFEST_MAX + 1), None, "larger"),
    (b"{nope", None, "JSON"),
    (b"[]", None, "object"),
    (json.dumps({"schemaVersion": 1}).encode(), None, "schema 1"),
    (manifest(), oci.DOCKER_MANIFEST, "served as"),
    (manifest(layers=[desc("text/plain")]), None, "unsupported media type"),
    (manifest(layers=[{"mediaType": oci.OCI_LAYER, "digest": "md5:00", "size": 1}]), None,
     "digest"),
    (manifest(layers=[{"mediaType": oci.OCI_LAYER, "digest": D, "size": -1}]), None, "size"),
    (manifest(layers=[{"mediaType": oci.OCI_LAYER, "digest": D, "size": True}]), None, "size"),
    (json.dumps({"mediaType": "application/x-foo"}).encode(), None, "unsupported"),
])
def test_bad_manifests_are_refused(data, media_type, match):
    with pytest.raises(InvalidInput, match=match):
        oci.parse_manifest(data, media_type)


def index(*platforms):
    return oci.Index(oci.OCI_INDEX, tuple(
        oci.Descriptor(oci.OCI_MANIFEST, "sha256:" + str(i) * 64, 1, p)
        for i, p in enumerate(platforms)))


def test_select_platform_is_variant_aware():
    idx = index({"os": "linux", "architecture": "amd64"},
                {"os": "linux", "architecture": "arm64", "variant": "v8"},
                {"os": "linux", "architecture": "arm", "variant": "v6"},
                {"os": "linux", "architecture": "arm", "variant": "v7"},
                {"os": "unknown", "architecture": "unknown"})
    assert oci.select_platform(idx, "linux/amd64").digest[7] == "0"
    assert oci.select_platform(idx, "linux/arm64").digest[7] == "1"
    assert oci.select_platform(idx, "arm64").digest[7] == "1"
    assert oci.select_platform(idx, "linux/arm/v7").digest[7] == "3"
    with pytest.raises(NotFound) as e:
        oci.select_platform(idx, "linux/s390x")
    msg = str(e.value)
    assert "linux/s390x" in msg and "linux/amd64" in msg and "linux/arm/v6" in msg
    assert "unknown" not in msg.split("it has:")[1]      # attestation entries are not offered
    # arm64 without a variant in the index still matches
    assert oci.select_platform(index({"os": "linux", "architecture": "arm64"}),
                               "linux/arm64/v8")
    with pytest.raises(InvalidInput):
        oci.parse_platform("linux/")


def test_host_platform_is_parseable():
    assert oci.parse_platform(oci.host_platform())[0] == "linux"


def test_build_manifest_round_trips():
    cfg = b'{"rootfs":{"diff_ids":[]}}'
    m = oci.parse_manifest(oci.build_manifest(cfg, [(D, 10, "zstd")]))
    assert m.config.digest == oci.sha256_digest(cfg) and m.layers[0].media_type == \
        oci.OCI_LAYER_ZSTD
    m = oci.parse_manifest(oci.build_manifest(cfg, [(D, 10, "gzip")], docker=True))
    assert m.media_type == oci.DOCKER_MANIFEST and m.layers[0].media_type == \
        oci.DOCKER_LAYER_GZIP


@pytest.mark.parametrize("value,kind,params", [
    ('Bearer realm="https://auth.example/token",service="registry.example",'
     'scope="repository:a/b:pull"', "bearer",
     {"realm": "https://auth.example/token", "service": "registry.example",
      "scope": "repository:a/b:pull"}),
    ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
    ('Bearer realm="x",error="insufficient_scope",scope="repository:a:pull,push"', "bearer",
     {"realm": "x", "error": "insufficient_scope", "scope": "repository:a:pull,push"}),
    ('Bearer realm=unquoted, service=s', "bearer", {"realm": "unquoted", "service": "s"}),
    ('Bearer realm="a\\"b"', "bearer", {"realm": 'a"b'}),
    ("", "", {}),
])
def test_parse_challenge(value, kind, params):
    assert parse_challenge(value) == (kind, params)


@pytest.mark.parametrize("host,loop", [
    ("127.0.0.1:5000", True), ("127.1.2.3", True), ("localhost:5000", True), ("[::1]:5000",
                                                                               True),
    ("10.0.0.1:5000", False), ("registry.example.com", False), ("128.0.0.1", False)])
def test_is_loopback(host, loop):
    assert is_loopback(host) is loop


def test_credentials_files(tmp_path, monkeypatch):
    from rocker.images import auth
    for k in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ROCKER_AUTH_FILE", str(tmp_path / "rocker" / "auth.json"))
    assert auth.lookup("127.0.0.1:5000") is None
    docker = tmp_path / ".docker"
    docker.mkdir()
    enc = base64.b64encode(b"dock:pw").decode()
    (docker / "config.json").write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": enc}, "http://127.0.0.1:5000": {"auth": enc}},
        "credsStore": "desktop"}))
    assert auth.lookup("docker.io") == ("dock", "pw")
    assert auth.lookup("127.0.0.1:5000") == ("dock", "pw")
    podman = tmp_path / "podman.json"
    podman.write_text(json.dumps({"auths": {"127.0.0.1:5000": {
        "auth": base64.b64encode(b"pod:pw2").decode()}}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(podman))
    assert auth.lookup("127.0.0.1:5000") == ("pod", "pw2")      # podman's before Docker's
    path = auth.store("127.0.0.1:5000", "me", "pw:with:colons")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert auth.lookup("127.0.0.1:5000") == ("me", "pw:with:colons")   # rocker's first
    assert auth.remove("127.0.0.1:5000") and not auth.remove("127.0.0.1:5000")
    assert auth.lookup("127.0.0.1:5000") == ("pod", "pw2")
    (tmp_path / "garbage.json").write_text("{not json")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "garbage.json"))
    assert auth.lookup("127.0.0.1:5000") == ("dock", "pw")     # an unreadable file is skipped


def test_loopback_only_refuses_at_once(monkeypatch):
    from rocker.errors import HostError
    from rocker.images.refs import parse_reference
    from rocker.images.registry import Client
    monkeypatch.setenv("ROCKER_REGISTRY_LOOPBACK_ONLY", "1")
    with pytest.raises(HostError, match="127.0.0.0/8"):
        Client(parse_reference("busybox"))
    Client(parse_reference("127.0.0.1:1/x"))


# ---------------------------------------------------------------------------------------------
# bounded parsers: any input gives a result or one InvalidInput, never another exception

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_parse_challenge_takes_anything(value):
    kind, params = parse_challenge(value)
    assert isinstance(kind, str) and isinstance(params, dict)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
        st.sampled_from(["mediaType", "manifests", "layers", "config", "digest", "size",
                         "schemaVersion", "platform", "annotations", "urls"]), kids,
        max_size=6), max_leaves=20).map(lambda d: json.dumps(d).encode())))
def test_parse_manifest_refuses_cleanly(data):
    try:
        oci.parse_manifest(data)
    except InvalidInput:
        pass


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=600))
def test_parse_reference_refuses_cleanly(value):
    from rocker.images.refs import parse_reference
    try:
        r = parse_reference(value)
    except InvalidInput:
        return
    assert r.tag or r.digest
