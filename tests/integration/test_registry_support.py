"""Test support for the registry tests: a real `docker-registry` on 127.0.0.1 (its storage in
a temp folder, started and stopped by PID), a token server (RS256 JWT with an x5c certificate,
as the registry's token auth expects), a proxy that can cut or redirect transfers, and OCI
image layouts built by hand (then fed to the registry with `skopeo copy`)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time

import pytest

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO = shutil.which("skopeo")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def need_tools(*names: str) -> None:
    for n in names:
        if shutil.which(n) is None and not os.path.exists(f"/usr/bin/{n}"):
            pytest.skip(f"{n} is not installed (dev.sh installs it)")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_http(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = http.client.HTTPConnection(host, port, timeout=1)
            c.request("GET", "/v2/")
            c.getresponse().read()
            c.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Registry:
    """docker-registry serving 127.0.0.1:PORT from `folder`/storage."""

    def __init__(self, folder, token: "TokenServer | None" = None) -> None:
        need_tools("docker-registry")
        self.folder = str(folder)
        self.storage = os.path.join(self.folder, "storage")
        os.makedirs(self.storage, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        cfg = ["version: 0.1", "log:", "  level: info", "storage:", "  filesystem:",
               f"    rootdirectory: {self.storage}", "  delete:", "    enabled: true",
               "http:", f"  addr: 127.0.0.1:{self.port}"]
        if token is not None:
            cfg += ["auth:", "  token:", f"    realm: {token.realm}",
                    f"    service: {token.service}", f"    issuer: {token.issuer}",
                    f"    rootcertbundle: {token.cert_path}"]
        self.config = os.path.join(self.folder, "registry.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.log = open(os.path.join(self.folder, "registry.log"), "wb")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            wait_http("127.0.0.1", self.port)
        except OSError:
            self.stop()
            raise

    def manifest(self, name: str, tag: str) -> dict:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", f"/v2/{name}/manifests/{tag}", headers={"Accept": OCI_MANIFEST + ","
                  "application/vnd.docker.distribution.manifest.v2+json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        assert r.status == 200, data
        return json.loads(data)

    def blob_path(self, digest: str) -> str:
        h = digest.split(":", 1)[1]
        return os.path.join(self.storage, "docker", "registry", "v2", "blobs", "sha256", h[:2],
                            h, "data")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ------------------------------------------------------------------------------ token server

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues registry tokens to USER:PASSWORD (Basic auth); anonymous requests get 401."""

    def __init__(self, folder, user: str = "tester", password: str = "s3cret") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        import datetime

        self.user, self.password = user, password
        self.service, self.issuer = "rocker-test", "rocker-test-issuer"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rocker test token")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                .sign(self.key, hashes.SHA256()))
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.cert_path = os.path.join(str(folder), "token-cert.pem")
        with open(self.cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                from urllib.parse import parse_qs, urlsplit
                q = parse_qs(urlsplit(self.path).query)
                auth = self.headers.get("Authorization") or ""
                server.requests.append({"path": self.path, "auth": bool(auth)})
                ok = auth == "Basic " + base64.b64encode(
                    f"{server.user}:{server.password}".encode()).decode()
                if not ok:
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"errors":[{"code":"UNAUTHORIZED","message":"bad '
                                     b'credentials"}]}')
                    return
                access = []
                for s in q.get("scope", []):
                    for one in s.split(" "):
                        parts = one.split(":")
                        if len(parts) >= 3:
                            access.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                                           "actions": parts[-1].split(",")})
                token = server.token(access)
                body = json.dumps({"token": token, "access_token": token,
                                   "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def token(self, access: list) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der)
                                                        .decode()]}
        claims = {"iss": self.issuer, "sub": self.user, "aud": self.service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        sig = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing + "." + _b64(sig)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ------------------------------------------------------------------------------ proxy

class Proxy:
    """HTTP proxy in front of a registry: records requests; `cut_blob_after=N` closes the
    first blob transfer after N bytes; `redirect_blobs=REGISTRY` answers blob GETs with a 307
    to 127.0.0.2:PORT (another host), where the same proxy serves the blob from the
    registry's storage without asking for credentials (like a pre-signed storage URL)."""

    def __init__(self, upstream_port: int, cut_blob_after: int | None = None,
                 redirect_blobs: "Registry | None" = None) -> None:
        self.upstream = upstream_port
        self.cut = cut_blob_after
        self.redirect = redirect_blobs
        self.seen: list[dict] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _forward(self, method):
                host = self.headers.get("Host", "")
                proxy.seen.append({"method": method, "path": self.path, "host": host,
                                   "range": self.headers.get("Range"),
                                   "auth": self.headers.get("Authorization")})
                is_blob = "/blobs/sha256:" in self.path and method == "GET"
                if is_blob and proxy.redirect and not host.startswith("127.0.0.2"):
                    self.send_response(307)
                    self.send_header("Location", f"http://127.0.0.2:{proxy.port}{self.path}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if is_blob and proxy.redirect and host.startswith("127.0.0.2"):
                    # the "storage host" a registry redirects to: pre-signed, no auth needed
                    digest = self.path.split("/blobs/", 1)[1].split("?", 1)[0]
                    with open(proxy.redirect.blob_path(digest), "rb") as f:
                        data = f.read()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                c = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=30)
                headers = dict(self.headers.items())   # the Host stays: Locations name us
                c.request(method, self.path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() in ("content-length", "transfer-encoding", "connection"):
                        continue
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if is_blob and proxy.cut is not None and len(data) > proxy.cut:
                    self.wfile.write(data[:proxy.cut])
                    self.wfile.flush()
                    proxy.cut = None
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if method != "HEAD":
                    self.wfile.write(data)
                if r.status in (301, 302, 303, 307, 308):
                    pass
                c.close()

            def do_GET(self):  # noqa: N802
                self._forward("GET")

            def do_HEAD(self):  # noqa: N802
                self._forward("HEAD")

            def do_POST(self):  # noqa: N802
                self._forward("POST")

            def do_PUT(self):  # noqa: N802
                self._forward("PUT")

            def do_PATCH(self):  # noqa: N802
                self._forward("PATCH")

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.threads = [threading.Thread(target=self.httpd.serve_forever, daemon=True)]
        self.second = None
        if redirect_blobs:
            self.second = http.server.ThreadingHTTPServer(("127.0.0.2", self.port), Handler)
            self.threads.append(threading.Thread(target=self.second.serve_forever,
                                                 daemon=True))
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        for s in (self.httpd, self.second):
            if s is not None:
                s.shutdown()
                s.server_close()


# ------------------------------------------------------------------------------ images by hand

def tar_of(entries: list[tuple]) -> bytes:
    """entries: ("file", name, bytes[, mode]) | ("dir", name) | ("symlink", name, target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e[1])
            ti.mtime = 1700000000
            if e[0] == "file":
                ti.size = len(e[2])
                ti.mode = e[3] if len(e) > 3 else 0o644
                tf.addfile(ti, io.BytesIO(e[2]))
            elif e[0] == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif e[0] == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e[2]
                tf.addfile(ti)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI image layout folder written by hand."""

    def __init__(self, path) -> None:
        self.path = str(path)
        os.makedirs(os.path.join(self.path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(self.path, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        self.index: list[dict] = []

    def blob(self, data: bytes) -> str:
        d = sha(data)
        with open(os.path.join(self.path, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return d

    def image(self, layers: list[tuple[bytes, str]], config: dict, arch: str = "amd64",
              variant: str | None = None) -> dict:
        """layers: [(tar bytes, "none"|"gzip"|"zstd")]; returns the manifest descriptor."""
        descs, diff_ids = [], []
        for raw, comp in layers:
            diff_ids.append(sha(raw))
            if comp == "gzip":
                data, mt = gzip.compress(raw, mtime=0), OCI_LAYER + "+gzip"
            elif comp == "zstd":
                import zstandard
                data, mt = zstandard.ZstdCompressor().compress(raw), OCI_LAYER + "+zstd"
            else:
                data, mt = raw, OCI_LAYER
            descs.append({"mediaType": mt, "digest": self.blob(data), "size": len(data)})
        cfg = {"architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
               "config": config, "rootfs": {"type": "layers", "diff_ids": diff_ids},
               "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"}
                           for i in range(len(layers))]}
        if variant:
            cfg["variant"] = variant
        cfg_bytes = json.dumps(cfg, indent=2).encode()   # not canonical: the id must survive
        man = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                     "digest": self.blob(cfg_bytes), "size": len(cfg_bytes)},
                          "layers": descs}).encode()
        platform = {"os": "linux", "architecture": arch}
        if variant:
            platform["variant"] = variant
        return {"mediaType": OCI_MANIFEST, "digest": self.blob(man), "size": len(man),
                "platform": platform, "config_digest": sha(cfg_bytes)}

    def tag(self, tag: str, desc: dict) -> None:
        d = {k: v for k, v in desc.items() if k not in ("config_digest",)}
        d["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.index.append(d)
        self._write()

    def tag_index(self, tag: str, descs: list[dict]) -> str:
        idx = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                          "manifests": [{k: v for k, v in d.items() if k != "config_digest"}
                                        for d in descs]}).encode()
        digest = self.blob(idx)
        self.index.append({"mediaType": OCI_INDEX, "digest": digest, "size": len(idx),
                           "annotations": {"org.opencontainers.image.ref.name": tag}})
        self._write()
        return digest

    def _write(self) -> None:
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.index}, f)


OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def skopeo_copy(src: str, dest: str, *extra: str) -> None:
    need_tools("skopeo")
    p = subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", *extra,
                        "--dest-tls-verify=false", src, dest], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
