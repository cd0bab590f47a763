"""The OCI distribution API v2 client: `rocker pull`, `rocker push`, `rocker login`.

HTTP with the standard library (http.client), one connection per host and thread:

- transport: HTTPS with certificate checks; plain HTTP without asking for registries on
  127.0.0.0/8, `localhost` and ::1 (as Docker allows), and for any host with
  tls_verify=False (HTTPS without checks first, HTTP if the host does not speak TLS);
- auth: a 401's `WWW-Authenticate` challenge is answered: `Bearer realm=,service=,scope=` by
  fetching a token from the realm (anonymous, or with the credentials of rocker.images.auth
  as Basic auth), `Basic` with the credentials; tokens are kept per scope for the command;
- redirects (301, 302, 303, 307, 308; blobs are often served from elsewhere) are followed up
  to 10 times, and `Authorization` is never sent to another host than the registry's;
- pull: the manifest is asked for with all four manifest media types in Accept; an index
  picks one platform (rocker.images.oci.select_platform); every manifest, config and layer is
  checked against its digest and size; layers already in the store are not downloaded; the
  others download in parallel (PARALLEL threads) into `ROOT/images/downloads/<hex>` (one
  flock each, so two pulls never write one download at once), a broken transfer is resumed with
  `Range`, also by the next pull after a kill; each layer is unpacked as soon as it is
  complete, and the image is registered only when every layer checked out;
- push: blobs the registry has are skipped (HEAD), a blob another repository of the same
  registry has (known from the pull that brought it) is mounted (`?mount=&from=`), others are
  uploaded monolithically or, above CHUNK bytes, in chunks (PATCH with Content-Range); the
  manifest goes last and the digest the registry computes must be ours.

ROCKER_REGISTRY_LOOPBACK_ONLY=1 (the tests set it) refuses any registry outside 127.0.0.0/8
and localhost at once, with a clear error, instead of trying the network.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode, urljoin, urlsplit

from rocker.errors import HostError, InvalidInput, NotFound, RockerError
from rocker.images import oci
from rocker.images.refs import Reference, parse_reference

PARALLEL = 4
CHUNK = 16 * 1024 * 1024
TIMEOUT = 60.0
CONNECT_TIMEOUT = 10.0
RETRIES = 4
READ = 1 << 20
USER_AGENT = "rocker/0.1"

Say = Callable[[str], None]


class RegistryError(RockerError):
    """A registry refused or failed a request."""


class AuthError(RegistryError):
    """The registry refused the credentials (or needs some)."""


def is_loopback(host: str) -> bool:
    h = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    h = h.strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str


class Client:
    """One registry (host) and repository; thread-safe enough for parallel blob downloads
    (each thread gets its own connections)."""

    def __init__(self, ref: Reference, *, tls_verify: bool = True,
                 credentials: tuple[str, str] | None = None, say: Say | None = None) -> None:
        self.ref = ref
        self.host = ref.api_host
        self.tls_verify = tls_verify
        self.say = say
        self._creds = credentials
        self._creds_looked = credentials is not None
        self._tokens: dict[str, str] = {}
        self._basic = False
        self._local = threading.local()
        self._lock = threading.Lock()
        self.scheme = "http" if is_loopback(self.host) else "https"
        if os.environ.get("ROCKER_REGISTRY_LOOPBACK_ONLY") == "1" and not is_loopback(self.host):
            raise HostError(f"registry {self.host} is outside 127.0.0.0/8 and this run may "
                            "only reach loopback registries (ROCKER_REGISTRY_LOOPBACK_ONLY=1)")

    # ------------------------------------------------------------------ credentials

    def credentials(self) -> tuple[str, str] | None:
        if not self._creds_looked:
            from rocker.images.auth import lookup
            self._creds = lookup(self.ref.registry, self.ref.path)
            self._creds_looked = True
        return self._creds

    # ------------------------------------------------------------------ transport

    def _conn(self, scheme: str, netloc: str):
        import http.client
        key = (scheme, netloc)
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        c = conns.get(key)
        if c is None:
            if scheme == "https":
                import ssl
                ctx = ssl.create_default_context()
                if not self.tls_verify:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                c = http.client.HTTPSConnection(netloc, timeout=CONNECT_TIMEOUT, context=ctx)
            else:
                c = http.client.HTTPConnection(netloc, timeout=CONNECT_TIMEOUT)
            conns[key] = c
        return c

    def _drop(self, scheme: str, netloc: str) -> None:
        conns = getattr(self._local, "conns", {})
        c = conns.pop((scheme, netloc), None)
        if c is not None:
            c.close()

    def close(self) -> None:
        for c in getattr(self._local, "conns", {}).values():
            c.close()
        self._local.conns = {}

    def _raw(self, method: str, url: str, headers: dict[str, str], body: Any = None,
             stream: bool = False):
        """One HTTP exchange (no auth or redirect logic). Returns the http.client response
        (its body read unless `stream`)."""
        import http.client
        parts = urlsplit(url)
        if os.environ.get("ROCKER_REGISTRY_LOOPBACK_ONLY") == "1" and \
                not is_loopback(parts.netloc):
            raise HostError(f"{parts.netloc} is outside 127.0.0.0/8 and this run may only reach "
                            "loopback hosts (ROCKER_REGISTRY_LOOPBACK_ONLY=1)")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        for attempt in range(2):
            c = self._conn(parts.scheme, parts.netloc)
            try:
                c.timeout = TIMEOUT
                c.request(method, path, body=body, headers={"User-Agent": USER_AGENT,
                                                            **headers})
                if c.sock is not None:
                    c.sock.settimeout(TIMEOUT)
                r = c.getresponse()
                if not stream:
                    r.data = r.read()
                    if r.will_close:
                        self._drop(parts.scheme, parts.netloc)
                return r
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                self._drop(parts.scheme, parts.netloc)
                if attempt or (body is not None and not isinstance(body, bytes)):
                    raise
            except (OSError, http.client.HTTPException) as e:
                self._drop(parts.scheme, parts.netloc)
                raise RegistryError(f"cannot reach {parts.netloc}: {_why(e)}") from None
        raise AssertionError("unreachable")

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{path}"

    def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                body: Any = None, stream: bool = False, scope: str | None = None,
                ok: tuple[int, ...] = (200,)) -> Any:
        """An exchange with auth and redirects. Returns the response (status in `ok`), else
        raises RegistryError/AuthError/NotFound naming what failed."""
        headers = dict(headers or {})
        scope = scope or f"repository:{self.ref.path}:pull"
        for _ in range(10):
            h = dict(headers)
            auth = self._auth_header(scope)
            same_host = urlsplit(url).netloc == self.host
            if auth and same_host:
                h["Authorization"] = auth
            try:
                r = self._raw(method, url, h, body, stream)
            except RegistryError:
                if self.scheme == "https" and not self.tls_verify and same_host:
                    self.scheme = "http"   # --tls-verify=false: plain HTTP when TLS fails
                    url = "http" + url[len("https"):]
                    continue
                raise
            if r.status == 401 and same_host:
                challenge = r.getheader("WWW-Authenticate") or ""
                if stream:
                    r.read()
                if self._answer(challenge, scope, had=bool(auth)):
                    continue
                raise AuthError(f"{self.host}: authentication required or refused for "
                                f"{self.ref.path} ({_short(r)}): `rocker login {self.host}`")
            if r.status in (301, 302, 303, 307, 308):
                loc = r.getheader("Location")
                if stream:
                    r.read()
                if not loc:
                    raise RegistryError(f"{self.host}: redirect without a Location")
                url = urljoin(url, loc)
                if r.status == 303:
                    method, body = "GET", None
                continue
            if r.status in ok:
                return r
            if stream:
                r.data = r.read(65536)
            if r.status == 404:
                raise NotFound(f"{self.host}/{self.ref.path}: {_short(r)}")
            if r.status == 403:
                raise AuthError(f"{self.host}: access to {self.ref.path} denied ({_short(r)})")
            raise RegistryError(f"{self.host}: {method} {urlsplit(url).path} answered "
                                f"{r.status} ({_short(r)})")
        raise RegistryError(f"{self.host}: too many redirects")

    def _auth_header(self, scope: str) -> str | None:
        with self._lock:
            if scope in self._tokens:
                return "Bearer " + self._tokens[scope]
            for s, t in self._tokens.items():     # push's token covers pull too
                if s.startswith(scope.rsplit(":", 1)[0] + ":") and "push" in s:
                    return "Bearer " + t
        if self._basic:
            c = self.credentials()
            if c:
                return "Basic " + base64.b64encode(f"{c[0]}:{c[1]}".encode()).decode()
        return None

    def _answer(self, challenge: str, scope: str, had: bool) -> bool:
        """Get what the challenge asks for; False when there is nothing more to try."""
        kind, params = parse_challenge(challenge)
        if kind == "basic":
            if self._basic or self.credentials() is None:
                return False
            self._basic = True
            return True
        if kind != "bearer" or "realm" not in params:
            return False
        with self._lock:
            if had and scope in self._tokens:
                del self._tokens[scope]
                return False     # a fresh token was refused
        scopes = (params.get("scope") or "").split() + scope.split()
        q = [("service", params["service"])] if params.get("service") else []
        q += [("scope", s) for s in dict.fromkeys(scopes)]
        query = urlencode(q)
        realm = params["realm"]
        if os.environ.get("ROCKER_REGISTRY_LOOPBACK_ONLY") == "1" and \
                not is_loopback(urlsplit(realm).netloc):
            raise HostError(f"token server {urlsplit(realm).netloc} is outside 127.0.0.0/8")
        if urlsplit(realm).scheme == "http" and not is_loopback(urlsplit(realm).netloc) and \
                self.tls_verify:
            raise AuthError(f"{self.host}: refusing a token server over plain HTTP ({realm})")
        h = {}
        c = self.credentials()
        if c:
            h["Authorization"] = "Basic " + base64.b64encode(f"{c[0]}:{c[1]}".encode()).decode()
        url = realm + ("&" if "?" in realm else "?") + query
        for _ in range(5):
            r = self._raw("GET", url, h)
            if r.status in (301, 302, 303, 307, 308) and r.getheader("Location"):
                nxt = urljoin(url, r.getheader("Location"))
                if urlsplit(nxt).netloc != urlsplit(url).netloc:
                    h.pop("Authorization", None)
                url = nxt
                continue
            break
        if r.status in (401, 403):
            raise AuthError(f"{self.host}: the token server refused "
                            f"{'the credentials' if c else 'anonymous access'} "
                            f"({_short(r)}): `rocker login {self.ref.registry}`")
        if r.status != 200:
            raise RegistryError(f"{self.host}: token server answered {r.status} ({_short(r)})")
        try:
            doc = json.loads(r.data)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{self.host}: the token server gave no token")
        with self._lock:
            self._tokens[scope] = token
        return True

    # ------------------------------------------------------------------ API

    def ping(self) -> None:
        """GET /v2/ with auth: raises AuthError when the credentials are refused."""
        self.request("GET", f"{self.scheme}://{self.host}/v2/", scope="registry:catalog:*")

    def manifest(self, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest by tag or digest, verified."""
        r = self.request("GET", self.url(f"{self.ref.path}/manifests/{reference}"),
                         {"Accept": oci.ACCEPT})
        data = r.data
        if len(data) > oci.MANIFEST_MAX:
            raise InvalidInput(f"manifest of {self.ref} larger than {oci.MANIFEST_MAX} bytes")
        digest = oci.sha256_digest(data)
        if reference.startswith("sha256:") and digest != reference:
            raise InvalidInput(f"manifest digest mismatch: asked for {reference}, got {digest}")
        given = r.getheader("Docker-Content-Digest")
        if given and given.startswith("sha256:") and given != digest:
            raise InvalidInput(f"manifest digest mismatch: the registry says {given}, the "
                               f"content is {digest}")
        return data, (r.getheader("Content-Type") or "").split(";")[0].strip(), digest

    def blob_bytes(self, d: oci.Descriptor, limit: int) -> bytes:
        if d.size > limit:
            raise InvalidInput(f"blob {d.digest[:19]} is larger than {limit} bytes")
        r = self.request("GET", self.url(f"{self.ref.path}/blobs/{d.digest}"))
        if len(r.data) != d.size or oci.sha256_digest(r.data) != d.digest:
            raise InvalidInput(f"blob {d.digest} does not match its descriptor (digest or "
                               "size): corrupt or tampered")
        return r.data

    def download(self, d: oci.Descriptor, path: str,
                 progress: Callable[[int], None] | None = None) -> None:
        """Fetch blob `d` into `path`, resuming what is already there (Range); verified."""
        import http.client
        h = hashlib.sha256()
        have = 0
        if os.path.exists(path):
            with open(path, "rb") as f:
                while True:
                    b = f.read(READ)
                    if not b:
                        break
                    h.update(b)
                    have += len(b)
            if have > d.size:
                os.truncate(path, 0)
                h, have = hashlib.sha256(), 0
        failures = 0
        with open(path, "ab") as out:
            while have < d.size:
                headers = {"Range": f"bytes={have}-"} if have else {}
                try:
                    r = self.request("GET", self.url(f"{self.ref.path}/blobs/{d.digest}"),
                                     headers, stream=True, ok=(200, 206))
                    if r.status == 200 and have:      # no Range support: start over
                        out.truncate(0)
                        out.seek(0)
                        h, have = hashlib.sha256(), 0
                    while have < d.size:
                        b = r.read(min(READ, d.size - have))
                        if not b:
                            break
                        out.write(b)
                        h.update(b)
                        have += len(b)
                        if progress:
                            progress(len(b))
                    if have < d.size:
                        raise ConnectionError("connection closed early")
                    r.close()
                except (ConnectionError, socket.timeout, OSError, http.client.HTTPException,
                        RegistryError) as e:
                    if isinstance(e, AuthError):
                        raise
                    failures += 1
                    self.close()
                    out.flush()
                    if failures > RETRIES:
                        raise RegistryError(f"download of {d.digest[:19]} failed after "
                                            f"{RETRIES} resumes: {_why(e)}") from None
                    if self.say:
                        self.say(f"{d.digest[7:19]}: transfer broken at {have} bytes "
                                 f"({_why(e)}), resuming")
                    time.sleep(min(2.0, 0.2 * failures))
        if have != d.size or "sha256:" + h.hexdigest() != d.digest:
            os.unlink(path)
            raise InvalidInput(f"blob {d.digest} does not match its descriptor (digest or "
                               "size): corrupt or tampered; nothing was registered")

    # ---- push

    def has_blob(self, digest: str) -> bool:
        try:
            self.request("HEAD", self.url(f"{self.ref.path}/blobs/{digest}"),
                         scope=self._push_scope())
            return True
        except NotFound:
            return False

    def _push_scope(self) -> str:
        return f"repository:{self.ref.path}:pull,push"

    def upload(self, path: str | None, data: bytes | None, digest: str, size: int,
               mount_from: list[str] = (), chunk: int = CHUNK,
               progress: Callable[[int], None] | None = None) -> str:
        """Upload one blob; returns "exists", "mounted" or "uploaded"."""
        scope = self._push_scope()
        if self.has_blob(digest):
            return "exists"
        for src in mount_from:
            if src == self.ref.path:
                continue
            q = urlencode({"mount": digest, "from": src})
            r = self.request("POST", self.url(f"{self.ref.path}/blobs/uploads/?{q}"),
                             {"Content-Length": "0"}, b"", scope=scope + f" repository:{src}:pull",
                             ok=(201, 202))
            if r.status == 201:
                return "mounted"
            location = urljoin(self.url(""), r.getheader("Location") or "")
            break
        else:
            r = self.request("POST", self.url(f"{self.ref.path}/blobs/uploads/"),
                             {"Content-Length": "0"}, b"", scope=scope, ok=(202,))
            location = urljoin(self.url(""), r.getheader("Location") or "")
        if not location:
            raise RegistryError(f"{self.host}: upload without a Location")
        if data is not None or size <= chunk:
            body = data if data is not None else open(path, "rb").read()  # type: ignore
            self.request("PUT", _with_query(location, {"digest": digest}),
                         {"Content-Type": "application/octet-stream",
                          "Content-Length": str(len(body))}, body, scope=scope, ok=(201,))
            if progress:
                progress(len(body))
            return "uploaded"
        offset = 0
        with open(path, "rb") as f:  # type: ignore[arg-type]
            while offset < size:
                part = f.read(chunk)
                r = self.request("PATCH", location,
                                 {"Content-Type": "application/octet-stream",
                                  "Content-Length": str(len(part)),
                                  "Content-Range": f"{offset}-{offset + len(part) - 1}"},
                                 part, scope=scope, ok=(202,))
                offset += len(part)
                if progress:
                    progress(len(part))
                location = urljoin(location, r.getheader("Location") or location)
        self.request("PUT", _with_query(location, {"digest": digest}),
                     {"Content-Length": "0"}, b"", scope=scope, ok=(201,))
        return "uploaded in chunks"

    def put_manifest(self, tag: str, data: bytes, media_type: str) -> str:
        r = self.request("PUT", self.url(f"{self.ref.path}/manifests/{tag}"),
                         {"Content-Type": media_type, "Content-Length": str(len(data))}, data,
                         scope=self._push_scope(), ok=(201, 200))
        digest = oci.sha256_digest(data)
        given = r.getheader("Docker-Content-Digest")
        if given and given != digest:
            raise RegistryError(f"{self.host}: the registry stored the manifest as {given}, "
                                f"not {digest}")
        return digest


def _with_query(url: str, q: dict) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(q)


def _why(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


def _short(r: Any) -> str:
    body = getattr(r, "data", b"") or b""
    try:
        doc = json.loads(body)
        errs = doc.get("errors") if isinstance(doc, dict) else None
        if errs and isinstance(errs, list) and isinstance(errs[0], dict):
            return f"{errs[0].get('code', '')}: {errs[0].get('message', '')}"[:200]
    except (ValueError, UnicodeDecodeError):
        pass
    return f"HTTP {r.status}"


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="...",scope="..."` -> ("bearer", {...})."""
    value = value.strip()
    kind, _, rest = value.partition(" ")
    params: dict[str, str] = {}
    i = 0
    while i < len(rest):
        while i < len(rest) and rest[i] in " ,":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip().lower()
        i = eq + 1
        if i < len(rest) and rest[i] == '"':
            j = i + 1
            val = []
            while j < len(rest) and rest[j] != '"':
                if rest[j] == "\\" and j + 1 < len(rest):
                    j += 1
                val.append(rest[j])
                j += 1
            params[key] = "".join(val)
            i = j + 1
        else:
            j = rest.find(",", i)
            j = len(rest) if j < 0 else j
            params[key] = rest[i:j].strip()
            i = j
    return kind.lower(), params


# --------------------------------------------------------------------------- pull

@dataclass
class Pulled:
    image: Any
    ref: str
    digest: str
    new_layers: int
    status: str            # "downloaded" or "up to date"
    platform: str = ""
    skipped: list[str] = field(default_factory=list)


def pull(store: Any, name: str, *, platform: str | None = None, tls_verify: bool = True,
         say: Say | None = None, tty: bool = False) -> Pulled:
    """Pull `name` (`[registry/]path[:tag][@digest]`) into the store."""
    from concurrent.futures import ThreadPoolExecutor

    from rocker.images.extract import remove_tree
    from rocker.state.store import flocked

    ref = parse_reference(name)
    client = Client(ref, tls_verify=tls_verify, say=say)
    shown = str(ref)
    want = ref.digest or ref.tag or "latest"
    data, mt, digest = client.manifest(want)
    top_digest = digest
    man = oci.parse_manifest(data, mt)
    chosen = ""
    if isinstance(man, oci.Index):
        d = oci.select_platform(man, platform)
        chosen = oci.platform_text(d.platform)
        data, mt, digest = client.manifest(d.digest)
        if digest != d.digest:
            raise InvalidInput(f"manifest digest mismatch for {chosen}")
        man = oci.parse_manifest(data, d.media_type)
        if not isinstance(man, oci.Manifest):
            raise InvalidInput("an image index inside an image index is not supported")
    config = client.blob_bytes(man.config, oci.CONFIG_MAX)
    doc = oci.parse_config(config)
    diff_ids = doc["rootfs"]["diff_ids"]
    if len(diff_ids) != len(man.layers):
        raise InvalidInput(f"{shown}: the manifest has {len(man.layers)} layers, the config "
                           f"{len(diff_ids)} (rootfs.diff_ids)")
    if platform and not chosen:
        want_p = oci.parse_platform(platform)
        have = (doc.get("os"), doc.get("architecture"))
        if have != want_p[:2]:
            raise NotFound(f"{shown} is for {oci.config_platform(doc)} only, not {platform}")
    refs = [ref.local()] if ref.tag else []
    digests = [f"{ref.name}@{top_digest}"]
    meta = {"manifest": {"digest": digest, "mediaType": man.media_type, "size": len(data),
                         "repository": f"{ref.registry}/{ref.path}"},
            # a pulled image's source identity is the digest it was pulled by (stacks pin it)
            "source": {"digest": top_digest, "changes": []}}
    image_id = oci.sha256_digest(config)
    todo = [(i, ld, diff_ids[i]) for i, ld in enumerate(man.layers)
            if not store.has_layer(diff_ids[i])]
    seen: set[str] = set()
    todo = [t for t in todo if not (t[2] in seen or seen.add(t[2]))]  # type: ignore[func-returns-value]
    if not todo and image_id in store.image_ids():
        img = store.register_image(config, [], refs=refs, digests=digests, meta=meta)
        _remember_sources(store, ref, man, diff_ids)
        return Pulled(img, shown, top_digest, 0, "up to date", chosen)
    from rocker.images.progress import LayerBars
    prog = LayerBars(say, tty)
    for i, ld, diff in todo:
        prog.add(ld.digest[7:19], ld.size)
    for i, ld in enumerate(man.layers):
        if store.has_layer(diff_ids[i]) and say and not tty:
            say(f"{ld.digest[7:19]}: already exists")
    downloads = os.path.join(store.root, "downloads")
    os.makedirs(downloads, mode=0o700, exist_ok=True)
    staged: dict[str, str] = {}

    def one(item: tuple[int, oci.Descriptor, str]) -> tuple[str, str]:
        i, ld, diff = item
        key = ld.digest[7:19]
        part = os.path.join(downloads, ld.digest[7:])
        with flocked(part + ".lock"):
            if store.has_layer(diff):
                prog.state(key, "already exists")
                return diff, ""
            client.download(ld, part, lambda n: prog.advance(key, n))
            prog.state(key, "extracting")
            st = store.stage_layer(part, {"digest": ld.digest, "size": ld.size}, diff,
                                   verified=True)
        try:
            os.unlink(part + ".lock")
        except OSError:
            pass
        prog.state(key, "done")
        return diff, st

    try:
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            futures = [pool.submit(one, t) for t in todo]
            errors = []
            for f in futures:
                try:
                    diff, st = f.result()
                    if st:
                        staged[diff] = st
                except BaseException as e:   # noqa: BLE001 - the first one is raised below
                    errors.append(e)
            if errors:
                raise errors[0]
        img = store.register_image(config, list(staged.items()), refs=refs, digests=digests,
                                   meta=meta)
    finally:
        for st in staged.values():
            if os.path.lexists(st):
                remove_tree(st)
        client.close()
    _remember_sources(store, ref, man, diff_ids)
    return Pulled(img, shown, top_digest, len(staged), "downloaded", chosen)


def remote_digest(name: str, tls_verify: bool = True) -> str:
    """The digest a registry's tag points at now (the manifest or index digest), verified."""
    ref = parse_reference(name)
    if ref.digest:
        return ref.digest
    client = Client(ref, tls_verify=tls_verify)
    try:
        return client.manifest(ref.tag or "latest")[2]
    finally:
        client.close()


def _remember_sources(store: Any, ref: Reference, man: oci.Manifest, diff_ids: list) -> None:
    """Note in each layer's record which repository has its blob (push mounts from there)."""
    from rocker.state.store import write_json
    for ld, diff in zip(man.layers, diff_ids):
        try:
            info = store.layer_info(diff)
        except RockerError:
            continue
        blob = info.get("blob") or {}
        if blob.get("digest") != ld.digest:
            continue
        sources = [s for s in info.get("sources", []) if isinstance(s, str)]
        repo = f"{ref.registry}/{ref.path}"
        if repo not in sources:
            info["sources"] = (sources + [repo])[-8:]
            try:
                write_json(os.path.join(store.layer_path(diff), "layer.json"), info)
            except OSError:
                pass


# --------------------------------------------------------------------------- push

def push(store: Any, local: str, target: str | None = None, *, tls_verify: bool = True,
         chunk: int = CHUNK, say: Say | None = None, tty: bool = False) -> tuple[str, str]:
    """Push the local image `local` as `target` (default: `local` itself). Returns
    (reference pushed, manifest digest)."""
    from rocker.images.archive import export_layers

    img = store.resolve(local)
    ref = parse_reference(target or local)
    if ref.digest:
        raise InvalidInput(f"cannot push to a digest reference ({ref}): name a tag")
    client = Client(ref, tls_verify=tls_verify, say=say)
    config, layers = export_layers(store, img)
    from rocker.images.progress import LayerBars
    bars = LayerBars(say, tty, "uploading")
    for x in layers:
        bars.add(x["digest"][7:19], x["size"])
    try:
        for x in layers:
            prefix = f"{ref.registry}/"
            mounts = [s[len(prefix):] for s in store.layer_info(x["stored"]).get("sources", [])
                      if isinstance(s, str) and s.startswith(prefix)]
            key = x["digest"][7:19]
            how = client.upload(x["path"], None, x["digest"], x["size"], mounts, chunk,
                                progress=bars.counter(key))
            bars.state(key, how)
        how = client.upload(None, config, oci.sha256_digest(config), len(config))
        if say:
            say(f"config {oci.sha256_digest(config)[7:19]}: {how}")
        man = oci.build_manifest(config, [(x["digest"], x["size"], x["compression"])
                                          for x in layers])
        digest = client.put_manifest(ref.tag or "latest", man, oci.OCI_MANIFEST)
    finally:
        client.close()
    store.add_digest_ref(img.id, f"{ref.name}@{digest}")
    return str(ref), digest


def login(registry: str, user: str, password: str, tls_verify: bool = True) -> str:
    """Check the credentials against the registry, then store them. Returns the file."""
    from rocker.images.auth import store as store_creds
    ref = parse_reference(f"{registry}/rocker-login-check")
    client = Client(ref, tls_verify=tls_verify, credentials=(user, password))
    try:
        r = client._raw("GET", f"{client.scheme}://{client.host}/v2/", {})
        if r.status == 401:
            kind, params = parse_challenge(r.getheader("WWW-Authenticate") or "")
            if kind == "basic":
                client._basic = True
                r = client._raw("GET", f"{client.scheme}://{client.host}/v2/",
                                {"Authorization": client._auth_header("") or ""})
                if r.status != 200:
                    raise AuthError(f"{client.host}: login refused ({_short(r)})")
            elif kind == "bearer":
                client._answer(r.getheader("WWW-Authenticate") or "", "registry:catalog:*",
                               had=False)
                r = client._raw("GET", f"{client.scheme}://{client.host}/v2/",
                                {"Authorization": client._auth_header("registry:catalog:*")
                                 or ""})
                if r.status != 200:
                    raise AuthError(f"{client.host}: login refused: the registry does not "
                                    f"accept the token ({_short(r)})")
            else:
                raise AuthError(f"{client.host}: unknown authentication scheme {kind!r}")
        elif r.status != 200:
            raise RegistryError(f"{client.host}: /v2/ answered {r.status}: not a registry?")
    finally:
        client.close()
    return store_creds(ref.registry, user, password)
