"""The registry client against a small registry in this process (http.server on 127.0.0.1,
no root): Basic auth, a redirect of blobs to another loopback host that must not get the
credentials, Docker v2 manifest lists, digests checked, push with a chunked upload."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading

import pytest

from rocker.errors import InvalidInput
from rocker.images import oci
from rocker.images.registry import AuthError, pull, push
from rocker.images.store import ImageStore
from rocker.paths import Paths
from tests.unit.test_images_tarutil import tar_bytes

USER, PASSWORD = "u", "p w"
GOOD = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


class FakeRegistry:
    """Blobs and manifests in memory; blob GETs answer 307 to a second listener on 127.0.0.2
    (another host: it serves blobs without asking for credentials)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.seen: list[dict] = []
        self.uploads: dict[str, bytearray] = {}
        reg = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, code, body=b"", headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def handle_any(self):
                host = self.headers.get("Host", "")
                auth = self.headers.get("Authorization")
                reg.seen.append({"m": self.command, "path": self.path, "host": host,
                                 "auth": auth})
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                path = self.path.split("?", 1)[0]
                if host.startswith("127.0.0.2"):          # the "storage" host: no auth
                    digest = path.rsplit("/", 1)[1]
                    return self.reply(200, reg.blobs[digest])
                if auth != GOOD:
                    return self.reply(401, b"{}", {"WWW-Authenticate": 'Basic realm="r"'})
                parts = path.split("/")
                if path == "/v2/":
                    return self.reply(200, b"{}")
                if "/manifests/" in path:
                    name = "/".join(parts[2:-2])
                    key = (name, parts[-1])
                    if self.command == "PUT":
                        reg.manifests[key] = (body, self.headers["Content-Type"])
                        return self.reply(201, b"", {"Docker-Content-Digest": sha(body)})
                    if key not in reg.manifests:
                        return self.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN",'
                                               b'"message":"manifest unknown"}]}')
                    data, mt = reg.manifests[key]
                    return self.reply(200, data, {"Content-Type": mt})
                if "/blobs/uploads/" in path:
                    uid = parts[-1] or "new"
                    if self.command == "POST":
                        uid = str(len(reg.uploads))
                        reg.uploads[uid] = bytearray()
                        return self.reply(202, b"", {"Location": f"/v2/x/blobs/uploads/{uid}"})
                    if self.command == "PATCH":
                        reg.uploads[uid] += body
                        return self.reply(202, b"", {"Location": f"/v2/x/blobs/uploads/{uid}"})
                    if self.command == "PUT":
                        data = bytes(reg.uploads.pop(uid)) + body
                        want = self.path.split("digest=", 1)[1].replace("%3A", ":")
                        if sha(data) != want:
                            return self.reply(400)
                        reg.blobs[want] = data
                        return self.reply(201)
                if "/blobs/" in path:
                    digest = parts[-1]
                    if digest not in reg.blobs:
                        return self.reply(404)
                    if self.command == "HEAD":
                        return self.reply(200, b"", {"Content-Length": str(len(
                            reg.blobs[digest]))})
                    return self.reply(307, b"", {"Location": f"http://127.0.0.2:"
                                                             f"{reg.storage_port}{self.path}"})
                return self.reply(404)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = handle_any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.storage = http.server.ThreadingHTTPServer(("127.0.0.2", 0), H)
        self.storage_port = self.storage.server_address[1]
        for srv in (self.httpd, self.storage):
            threading.Thread(target=srv.serve_forever, daemon=True).start()

    def add_image(self, name: str, tag: str, files: list, arch: str = "amd64") -> tuple:
        raw = tar_bytes(files)
        import gzip
        layer = gzip.compress(raw, mtime=0)
        self.blobs[sha(layer)] = layer
        cfg = json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["sh"]},
                          "rootfs": {"type": "layers", "diff_ids": [sha(raw)]}}).encode()
        self.blobs[sha(cfg)] = cfg
        man = oci.build_manifest(cfg, [(sha(layer), len(layer), "gzip")], docker=True)
        self.manifests[(name, tag)] = (man, oci.DOCKER_MANIFEST)
        self.manifests[(name, sha(man))] = (man, oci.DOCKER_MANIFEST)
        return sha(cfg), sha(man), len(man)

    def stop(self) -> None:
        for srv in (self.httpd, self.storage):
            srv.shutdown()
            srv.server_close()


@pytest.fixture
def reg():
    r = FakeRegistry()
    yield r
    r.stop()


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("ROCKER_AUTH_FILE", str(tmp_path / "auth.json"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for k in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG"):
        monkeypatch.delenv(k, raising=False)
    return ImageStore(Paths(str(tmp_path / "root"), str(tmp_path / "run")))


def test_basic_auth_redirects_and_a_manifest_list(reg, store):
    from rocker.images.auth import store as save_creds
    cfg_id, man_digest, man_size = reg.add_image("app", "1", [("file", "hello", b"hi")])
    arm = reg.add_image("app", "arm", [("file", "arm", b"")], arch="arm64")
    ml = json.dumps({"schemaVersion": 2, "mediaType": oci.DOCKER_LIST, "manifests": [
        {"mediaType": oci.DOCKER_MANIFEST, "digest": man_digest, "size": man_size,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": oci.DOCKER_MANIFEST, "digest": arm[1], "size": arm[2],
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]}).encode()
    reg.manifests[("app", "multi")] = (ml, oci.DOCKER_LIST)
    ref = f"127.0.0.1:{reg.port}/app:multi"
    with pytest.raises(AuthError, match="rocker login"):
        pull(store, ref)
    save_creds(f"127.0.0.1:{reg.port}", USER, PASSWORD)
    p = pull(store, ref, platform="linux/amd64")
    assert p.image.id == cfg_id and p.platform == "linux/amd64" and p.digest == sha(ml)
    assert store.resolve(ref).id == cfg_id
    assert store.resolve(f"127.0.0.1:{reg.port}/app@{sha(ml)}").id == cfg_id
    redirected = [s for s in reg.seen if s["host"].startswith("127.0.0.2")]
    assert redirected and all(s["auth"] is None for s in redirected)
    assert pull(store, ref).status == "up to date"


def test_a_manifest_whose_bytes_are_not_its_digest_is_refused(reg, store):
    from rocker.images.auth import store as save_creds
    save_creds(f"127.0.0.1:{reg.port}", USER, PASSWORD)
    _cfg, man_digest, _n = reg.add_image("app", "1", [("file", "a", b"a")])
    data, mt = reg.manifests[("app", man_digest)]
    reg.manifests[("app", man_digest)] = (data + b" ", mt)
    with pytest.raises(InvalidInput, match="digest mismatch"):
        pull(store, f"127.0.0.1:{reg.port}/app@{man_digest}")
    layer = next(d for d, b in reg.blobs.items() if b[:2] == b"\x1f\x8b")
    b = reg.blobs[layer]
    reg.blobs[layer] = b[:20] + bytes([b[20] ^ 0xFF]) + b[21:]
    with pytest.raises(InvalidInput, match="corrupt or tampered"):
        pull(store, f"127.0.0.1:{reg.port}/app:1")
    assert store.image_ids() == []


def test_push_in_chunks_then_pull_back(reg, store, tmp_path):
    from rocker.images.auth import store as save_creds
    save_creds(f"127.0.0.1:{reg.port}", USER, PASSWORD)
    src = tmp_path / "l.tar"
    src.write_bytes(tar_bytes([("file", "big", bytes(range(256)) * 2000)]))
    img = store.import_tar(str(src), "local:1")
    target = f"127.0.0.1:{reg.port}/x:1"
    pushed, digest = push(store, "local:1", target, chunk=100_000)
    assert [s["m"] for s in reg.seen].count("PATCH") >= 5
    other = ImageStore(Paths(str(tmp_path / "r2"), str(tmp_path / "u2")))
    assert pull(other, target).image.id == img.id
    assert store.resolve(f"127.0.0.1:{reg.port}/x@{digest}").id == img.id
