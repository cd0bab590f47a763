"""rocker pull / push / login against a real registry on 127.0.0.1 (Debian's docker-registry,
its storage in the test's temp folder), fed by `skopeo copy` of layouts built by hand and by
`rocker push`: tags and digests, a two-platform index, multi-layer images with whiteouts and
opaque folders (gzip, zstd, plain layers), the image config as container defaults, token auth
(RS256 JWT with x5c), a corrupt blob, an interrupted download, redirects to another host."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from tests.integration.helpers import one_line_error
from tests.integration.test_registry_support import (Layout, Proxy, Registry, TokenServer,
                                                     skopeo_copy, tar_of)


@pytest.fixture
def registry(tmp_path):
    reg = Registry(tmp_path / "registry")
    yield reg
    reg.stop()


@pytest.fixture
def r(rocker):
    rocker.env["ROCKER_REGISTRY_LOOPBACK_ONLY"] = "1"
    rocker.env["ROCKER_AUTH_FILE"] = os.path.join(os.path.dirname(rocker.root), "auth.json")
    for k in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"):
        rocker.env.pop(k, None)
    rocker.env["HOME"] = os.path.dirname(rocker.root)
    return rocker


def base_layer(base_image_tar) -> bytes:
    with open(base_image_tar, "rb") as f:
        return f.read()


def whiteout_image(layout: Layout, base_image_tar) -> dict:
    l1 = base_layer(base_image_tar)
    l2 = tar_of([("dir", "data"), ("file", "data/keep", b"kept\n"),
                 ("file", "data/gone", b"to be deleted\n"), ("dir", "opq"),
                 ("file", "opq/old", b"old\n"), ("dir", "srv")])
    l3 = tar_of([("file", "data/.wh.gone", b""), ("dir", "opq"),
                 ("file", "opq/.wh..wh..opq", b""), ("file", "opq/new", b"new\n"),
                 ("file", "srv/app.sh", b"#!/bin/sh\necho \"app $GREETING $*\"\n", 0o755)])
    config = {"Entrypoint": ["/srv/app.sh"], "Cmd": ["default-arg"],
              "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                      "GREETING=hello"],
              "WorkingDir": "/data", "User": "1000:1000", "StopSignal": "SIGQUIT",
              "Labels": {"org.example.team": "infra"}, "ExposedPorts": {"8080/tcp": {}},
              "Volumes": {"/cache": {}},
              "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000,
                              "Retries": 2}}
    return layout.image([(l1, "gzip"), (l2, "none"), (l3, "zstd")], config)


def test_push_then_pull_by_tag_and_digest_keeps_the_id(r, registry, base_image_tar):
    r("import", base_image_tar, "busybox")
    image_id = json.loads(r("image", "inspect", "busybox").stdout)[0]["Id"]
    ref = f"{registry.host}/team/busybox:1"
    p = r("push", "busybox", ref)
    digest = p.stdout.strip().rsplit(" ", 1)[1]
    assert digest.startswith("sha256:")
    r("rmi", "busybox")
    p = r("pull", ref)
    assert f"Digest: {digest}" in p.stdout
    assert r("run", "--rm", ref, "echo", "hi").stdout == "hi\n"
    info = json.loads(r("image", "inspect", ref).stdout)[0]
    assert info["Id"] == image_id                     # the registry's config digest
    assert f"{registry.host}/team/busybox@{digest}" in info["RepoDigests"]
    # again: nothing downloaded
    assert "Image is up to date" in r("pull", ref).stdout
    # by digest, into a fresh store
    r("rmi", "-f", image_id)
    r("pull", f"{registry.host}/team/busybox@{digest}")
    assert r("run", "--rm", f"{registry.host}/team/busybox@{digest}", "true").returncode == 0
    assert json.loads(r("image", "inspect", f"{registry.host}/team/busybox@{digest}")
                      .stdout)[0]["Id"] == image_id


def test_implicit_pull_on_run_and_pull_policies(r, registry, base_image_tar):
    r("import", base_image_tar, "busybox")
    ref = f"{registry.host}/bb:latest"
    r("push", "-q", "busybox", ref)
    r("rmi", "busybox")
    p = r("run", "--rm", "--pull=never", ref, "true", check=False)
    assert p.returncode == 125 and "no such image" in one_line_error(p)
    p = r("run", "--rm", f"{registry.host}/bb", "echo", "implicit")
    assert p.stdout == "implicit\n" and "Unable to find image" in p.stderr
    p = r("create", "--pull=always", ref, "true")
    assert "Status: Image is up to date" in p.stderr
    p = r("run", "--rm", f"{registry.host}/nosuch", "true", check=False)
    assert p.returncode == 125 and "no such image" in one_line_error(p)
    assert "manifest unknown" in p.stderr


def test_pull_leaving_loopback_fails_fast(r):
    import time
    t0 = time.monotonic()
    p = r("pull", "busybox", check=False)
    assert p.returncode != 0 and "127.0.0.0/8" in one_line_error(p)
    p = r("pull", "registry.example.com/app:1", check=False)
    assert p.returncode != 0 and "127.0.0.0/8" in one_line_error(p)
    assert time.monotonic() - t0 < 10


def test_multilayer_whiteouts_opaque_and_config_defaults(r, registry, tmp_path,
                                                         base_image_tar):
    layout = Layout(tmp_path / "layout")
    desc = whiteout_image(layout, base_image_tar)
    layout.tag("v1", desc)
    ref = f"{registry.host}/app:v1"
    skopeo_copy(f"oci:{layout.path}:v1", f"docker://{ref}")
    r("pull", ref)
    info = json.loads(r("image", "inspect", ref).stdout)[0]
    assert info["Id"] == desc["config_digest"]
    assert len(info["RootFS"]["Layers"]) == 3
    assert info["Config"]["StopSignal"] == "SIGQUIT"
    out = r("run", "--rm", ref).stdout
    assert out == "app hello default-arg\n"                 # Entrypoint + Cmd + Env
    out = r("run", "--rm", "--entrypoint", "sh", ref, "-c",
            "pwd; id -u; ls /data; ls /opq; cat /data/keep").stdout
    assert out.split("\n")[:5] == ["/data", "1000", "keep", "new", "kept"]
    cid = r("create", "--name", "d", ref).stdout.strip()
    c = json.loads(r("inspect", cid).stdout)[0]
    assert c["Config"]["StopSignal"] == "SIGQUIT"
    assert c["Config"]["Healthcheck"]["retries"] == 2
    assert c["Config"]["Labels"]["org.example.team"] == "infra"
    assert [m["Destination"] for m in c["Mounts"]] == ["/cache"]     # an anonymous volume
    r("rm", "-v", "d")
    # history: one row per layer, newest first
    hist = json.loads(r("history", "--format", "json", ref).stdout)
    assert [h["CreatedBy"] for h in hist] == ["layer 2", "layer 1", "layer 0"]
    # a second image sharing the base layers downloads only what it lacks
    layout2 = Layout(tmp_path / "layout2")
    l1 = base_layer(base_image_tar)
    d2 = layout2.image([(l1, "gzip"), (tar_of([("file", "x", b"x")]), "gzip")],
                       {"Cmd": ["sh"]})
    layout2.tag("v2", d2)
    skopeo_copy(f"oci:{layout2.path}:v2", f"docker://{registry.host}/app:v2")
    p = r("pull", f"{registry.host}/app:v2")
    assert "1 new layers" in p.stdout


def test_index_picks_the_host_platform_and_refuses_a_missing_one(r, registry, tmp_path,
                                                                 base_image_tar):
    layout = Layout(tmp_path / "layout")
    l1 = base_layer(base_image_tar)
    amd = layout.image([(l1, "gzip")], {"Cmd": ["echo", "amd64"]}, arch="amd64")
    arm = layout.image([(l1, "gzip"), (tar_of([("file", "arm", b"")]), "gzip")],
                       {"Cmd": ["echo", "arm64"]}, arch="arm64", variant="v8")
    index_digest = layout.tag_index("multi", [amd, arm])
    ref = f"{registry.host}/multi:1"
    skopeo_copy(f"oci:{layout.path}:multi", f"docker://{ref}", "--all")
    p = r("pull", "--platform", "linux/s390x", ref, check=False)
    err = one_line_error(p)
    assert p.returncode == 1 and "linux/s390x" in err
    assert "linux/amd64" in err and "linux/arm64/v8" in err
    assert r("images", "-q").stdout == ""                   # nothing registered
    p = r("pull", ref)
    assert "linux/amd64" in p.stdout and f"Digest: {index_digest}" in p.stdout
    assert r("run", "--rm", ref).stdout == "amd64\n"
    info = json.loads(r("image", "inspect", ref).stdout)[0]
    assert info["Id"] == amd["config_digest"]
    p = r("pull", "--platform", "linux/arm64", f"{registry.host}/multi@{index_digest}")
    assert json.loads(r("image", "inspect", f"{registry.host}/multi@{index_digest}")
                      .stdout)[0]["Architecture"] == "arm64"


def test_corrupt_blob_is_refused_and_nothing_registered(r, registry, tmp_path,
                                                        base_image_tar):
    layout = Layout(tmp_path / "layout")
    raw = tar_of([("file", "a", b"A" * 5000)])
    desc = layout.image([(base_layer(base_image_tar), "gzip"), (raw, "none")], {})
    layout.tag("t", desc)
    ref = f"{registry.host}/bad:t"
    skopeo_copy(f"oci:{layout.path}:t", f"docker://{ref}")
    layer = registry.manifest("bad", "t")["layers"][1]["digest"]
    blob = registry.blob_path(layer)
    with open(blob, "r+b") as f:        # same size, other content
        f.seek(100)
        f.write(b"tampered")
    p = r("pull", ref, check=False)
    assert p.returncode == 1
    assert "corrupt or tampered" in p.stderr.strip().splitlines()[-1]
    assert r("images", "-q").stdout == ""
    images = os.path.join(r.root, "images")
    assert os.listdir(os.path.join(images, "configs")) == []
    assert os.listdir(os.path.join(images, "layers")) == []
    assert os.listdir(os.path.join(images, "tmp")) == []


def test_interrupted_download_is_resumed_with_range(r, registry, tmp_path, base_image_tar):
    layout = Layout(tmp_path / "layout")
    big = os.urandom(3 * 1024 * 1024)
    raw = tar_of([("file", "big", big)])
    desc = layout.image([(base_layer(base_image_tar), "none"), (raw, "none")], {})
    layout.tag("t", desc)
    skopeo_copy(f"oci:{layout.path}:t", f"docker://{registry.host}/big:t")
    proxy = Proxy(registry.port, cut_blob_after=1024 * 1024)
    try:
        p = r("pull", f"127.0.0.1:{proxy.port}/big:t")
    finally:
        proxy.stop()
    assert "resuming" in p.stderr
    ranges = [s["range"] for s in proxy.seen if s["range"]]
    assert ranges and ranges[0].startswith("bytes=") and ranges[0] != "bytes=0-"
    out = r("run", "--rm", f"127.0.0.1:{proxy.port}/big:t", "sh", "-c", "wc -c < /big").stdout
    assert out.strip() == str(len(big))


def test_redirect_to_another_host_drops_authorization(r, tmp_path, base_image_tar):
    token = TokenServer(tmp_path)
    reg = Registry(tmp_path / "reg", token=token)
    proxy = Proxy(reg.port, redirect_blobs=reg)
    try:
        r("import", base_image_tar, "busybox")
        r("login", "-u", token.user, "--password-stdin", f"127.0.0.1:{proxy.port}",
          input=token.password + "\n")
        r("push", "-q", "busybox", f"127.0.0.1:{proxy.port}/red:1")
        r("rmi", "busybox")
        r("pull", f"127.0.0.1:{proxy.port}/red:1")
    finally:
        proxy.stop()
        reg.stop()
        token.stop()
    redirected = [s for s in proxy.seen if s["host"].startswith("127.0.0.2")]
    assert redirected and all(s["auth"] is None for s in redirected)
    direct = [s for s in proxy.seen if "/manifests/" in s["path"] and s["method"] == "GET"]
    assert direct and direct[-1]["auth"].startswith("Bearer ")   # after the challenge


def test_token_auth_login_and_credentials(r, tmp_path, base_image_tar):
    token = TokenServer(tmp_path)
    reg = Registry(tmp_path / "reg", token=token)
    try:
        r("import", base_image_tar, "busybox")
        ref = f"{reg.host}/secure/busybox:1"
        p = r("push", "busybox", ref, check=False)
        assert p.returncode == 1 and "rocker login" in one_line_error(p)
        p = r("login", "-u", token.user, "--password-stdin", reg.host, input="wrong\n",
              check=False)
        assert p.returncode == 1 and "refused" in one_line_error(p)
        assert not os.path.exists(r.env["ROCKER_AUTH_FILE"])
        p = r("login", "-u", token.user, "--password-stdin", reg.host,
              input=token.password + "\n")
        assert "Login Succeeded" in p.stdout
        mode = stat.S_IMODE(os.stat(r.env["ROCKER_AUTH_FILE"]).st_mode)
        assert mode == 0o600
        r("push", "busybox", ref)
        r("rmi", "busybox")
        r("pull", ref)
        assert r("run", "--rm", ref, "echo", "ok").stdout == "ok\n"
        assert token.requests and all(q["auth"] for q in token.requests[-2:])
        # podman's auth file is read too (rocker's own forgotten)
        r("logout", reg.host)
        r("rmi", ref)
        assert r("pull", ref, check=False).returncode == 1
        podman_auth = tmp_path / "podman-auth.json"
        import base64
        podman_auth.write_text(json.dumps({"auths": {reg.host: {"auth": base64.b64encode(
            f"{token.user}:{token.password}".encode()).decode()}}}))
        r.env["REGISTRY_AUTH_FILE"] = str(podman_auth)
        r("pull", ref)
        # and Docker's config.json
        del r.env["REGISTRY_AUTH_FILE"]
        docker_dir = tmp_path / "docker"
        docker_dir.mkdir()
        (docker_dir / "config.json").write_text(podman_auth.read_text())
        r.env["DOCKER_CONFIG"] = str(docker_dir)
        r("rmi", ref)
        r("pull", ref)
    finally:
        reg.stop()
        token.stop()


def test_chunked_push_and_cross_repository_mount(r, registry, tmp_path, base_image_tar):
    layout = Layout(tmp_path / "layout")
    desc = layout.image([(base_layer(base_image_tar), "gzip"),
                         (tar_of([("file", "r", os.urandom(300_000))]), "gzip")], {})
    layout.tag("t", desc)
    skopeo_copy(f"oci:{layout.path}:t", f"docker://{registry.host}/src:t")
    r("pull", f"{registry.host}/src:t")
    p = r("push", f"{registry.host}/src:t", f"{registry.host}/other/copy:t")
    assert p.stderr.count(": mounted") == 2, p.stderr
    plain = tmp_path / "plain.tar"
    plain.write_bytes(tar_of([("file", "bin/x", os.urandom(250_000))]))
    r("import", str(plain), "plain")
    p = r("push", "--chunk-size", "100k", "plain", f"{registry.host}/chunked:1")
    assert "uploaded in chunks" in p.stderr
    r("rmi", "plain")
    r("pull", f"{registry.host}/chunked:1")
    assert r("image", "inspect", f"{registry.host}/chunked:1").returncode == 0


def test_images_travel_between_rocker_and_podman_through_the_registry(r, registry, tmp_path,
                                                                      base_image_tar):
    from tests.integration.test_images_archives import Podman
    podman = Podman(tmp_path / "podman")
    try:
        r("import", base_image_tar, "busybox")
        r("push", "-q", "busybox", f"{registry.host}/from-rocker:1")
        podman("pull", "-q", "--tls-verify=false", f"{registry.host}/from-rocker:1")
        assert podman.run(f"{registry.host}/from-rocker:1", "echo", "p") == "p\n"
        assert podman.image_id(f"{registry.host}/from-rocker:1") == \
            json.loads(r("image", "inspect", "busybox").stdout)[0]["Id"][7:]
        podman("tag", f"{registry.host}/from-rocker:1", f"{registry.host}/from-podman:1")
        podman("push", "-q", "--tls-verify=false", f"{registry.host}/from-podman:1")
        r("pull", f"{registry.host}/from-podman:1")
        assert r("run", "--rm", f"{registry.host}/from-podman:1", "echo", "r").stdout == "r\n"
    finally:
        subprocess.run(podman.base + ["rm", "-af"], env=podman.env, capture_output=True)
        shutil.rmtree(podman.runroot, ignore_errors=True)


def test_stack_pulls_pins_the_digest_and_replaces_when_the_tag_moves(r, registry, tmp_path,
                                                                     base_image_tar):
    ref = f"{registry.host}/app:1"
    r("import", base_image_tar, "v1")
    r("push", "-q", "v1", ref)
    d1 = json.loads(r("image", "inspect", "v1").stdout)[0]["Id"]
    stack = tmp_path / "s.yaml"

    def write(policy: str) -> None:
        stack.write_text(f"name: s\nimages:\n  app:\n    pull: {ref}\n"
                         f"    pull_policy: {policy}\n"
                         "containers:\n  web:\n    image: app\n    command: [sleep, '300']\n"
                         "    network_mode: none\n")
    write("missing")
    p = r("diff", "-f", str(stack), check=False)
    assert p.returncode == 2 and f"pull image {ref}" in p.stdout, p.stdout
    manifest_digest = registry.manifest("app", "1")
    r("apply", "-y", "-f", str(stack))
    web = json.loads(r("inspect", "s-web-1").stdout)[0]
    assert web["Image"] == d1
    assert r("diff", "-f", str(stack)).returncode == 0
    # the tag moves: a new image under the same name
    r("import", base_image_tar, "v2", "-c", "ENV V=2")
    r("push", "-q", "v2", ref)
    assert r("diff", "-f", str(stack)).returncode == 0     # missing: the pinned digest holds
    write("always")
    p = r("diff", "-f", str(stack), check=False)
    assert p.returncode == 2
    assert "the tag now points at a new digest" in p.stdout and "->" in p.stdout, p.stdout
    assert "s-web-1" in p.stdout and "forces replacement" in p.stdout
    r("apply", "-y", "-f", str(stack))
    web = json.loads(r("inspect", "s-web-1").stdout)[0]
    assert web["Image"] == json.loads(r("image", "inspect", "v2").stdout)[0]["Id"]
    assert r("diff", "-f", str(stack)).returncode == 0
    assert manifest_digest["layers"]
    r("delete", "-y", "-f", str(stack), check=False)
