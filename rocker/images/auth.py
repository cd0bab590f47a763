"""Registry credentials: rocker's own auth file, and Docker's and podman's read as well.

rocker writes `$ROCKER_AUTH_FILE`, else `$XDG_CONFIG_HOME/rocker/auth.json` (default
`~/.config/rocker/auth.json`), mode 0600, in Docker's config.json format:
`{"auths": {"HOST": {"auth": base64("user:password")}}}`. Looking up a host reads, in order:
that file, podman's (`$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
`~/.config/containers/auth.json`) and Docker's (`$DOCKER_CONFIG/config.json`, else
`~/.docker/config.json`); the first entry found wins. Keys may be a bare host (`host:port`), a
URL (`https://host/v1/`) or `host/namespace`; Docker Hub is `docker.io` (also
`https://index.docker.io/v1/`). Credential helpers (`credsStore`, `credHelpers`) are not run.
"""

from __future__ import annotations

import base64
import json
import os

from rocker.errors import HostError, InvalidInput

HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io",
            "https://index.docker.io/v1/")


def rocker_auth_file() -> str:
    env = os.environ.get("ROCKER_AUTH_FILE")
    if env:
        return env
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "rocker", "auth.json")


def search_files() -> list[str]:
    home = os.path.expanduser("~")
    files = [rocker_auth_file()]
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(os.environ["REGISTRY_AUTH_FILE"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        files.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    files.append(os.path.join(home, ".config", "containers", "auth.json"))
    docker = os.environ.get("DOCKER_CONFIG") or os.path.join(home, ".docker")
    files.append(os.path.join(docker, "config.json"))
    return files


def _host_of(key: str) -> str:
    k = key
    for p in ("https://", "http://"):
        if k.startswith(p):
            k = k[len(p):]
    k = k.split("/", 1)[0]
    return "docker.io" if k in HUB_KEYS or key in HUB_KEYS else k


def _read(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
        doc = json.loads(data)
    except (OSError, ValueError):
        return {}
    auths = doc.get("auths") if isinstance(doc, dict) else None
    return auths if isinstance(auths, dict) else {}


def _decode(entry: object) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return entry["username"], entry["password"]
    raw = entry.get("auth")
    if not isinstance(raw, str) or not raw:
        return None
    try:
        user, _, password = base64.b64decode(raw).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def lookup(registry: str, repository: str | None = None) -> tuple[str, str] | None:
    """(user, password) for `registry` (as in a reference: `docker.io`, `host:port`)."""
    for path in search_files():
        auths = _read(path)
        best = None
        for key, entry in auths.items():
            if _host_of(key) != registry:
                continue
            rest = key.split("://", 1)[-1].split("/", 1)
            ns = rest[1].strip("/") if len(rest) > 1 and not rest[1].startswith("v1") else ""
            if ns and not (repository or "").startswith(ns):
                continue
            cred = _decode(entry)
            if cred and (best is None or len(ns) > best[0]):
                best = (len(ns), cred)
        if best:
            return best[1]
    return None


def store(registry: str, user: str, password: str) -> str:
    """Write credentials for `registry` into rocker's auth file (0600); returns its path."""
    if not user:
        raise InvalidInput("a user name is needed")
    path = rocker_auth_file()
    return _write(path, registry, base64.b64encode(f"{user}:{password}".encode()).decode())


def remove(registry: str) -> bool:
    path = rocker_auth_file()
    auths = _read(path)
    keys = [k for k in auths if _host_of(k) == registry]
    if not keys:
        return False
    _write(path, registry, None)
    return True


def _write(path: str, registry: str, auth: str | None) -> str:
    from rocker.state.store import atomic_write
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read(1 << 20))
        if not isinstance(doc, dict):
            doc = {}
    except FileNotFoundError:
        doc = {}
    except (OSError, ValueError) as e:
        raise HostError(f"cannot read {path}: {e}") from None
    auths = doc.get("auths") if isinstance(doc.get("auths"), dict) else {}
    auths = {k: v for k, v in auths.items() if _host_of(k) != registry}
    if auth is not None:
        auths[registry] = {"auth": auth}
    doc["auths"] = auths
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        atomic_write(path, json.dumps(doc, indent=2).encode() + b"\n", 0o600)
        os.chmod(path, 0o600)
    except OSError as e:
        raise HostError(f"cannot write {path}: {e.strerror}") from None
    return path
