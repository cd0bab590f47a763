"""Image references as Docker spells them, image ids and id prefixes.

    reference [registry/]path[:tag][@sha256:<64 hex>]
    registry  a host (a dot, a port or `localhost`) before the first `/`; none means Docker Hub
    path      one or more components `[a-z0-9]+` joined by `.`, `_`, `__` or dashes, split by `/`;
              at most 255 characters with the registry
    tag       `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, `latest` when neither tag nor digest is given
    id        `sha256:<64 hex>`, the 64 hex digits alone, or a unique prefix of them

Short names: `busybox`, `library/busybox`, `docker.io/library/busybox` and
`index.docker.io/library/busybox` are one image, stored and shown as Docker shows it
(`busybox:latest`); `docker.io/team/app` is `team/app`. `parse_reference` gives the parts a
registry client needs (the registry host, the repository path, tag, digest).

Pure functions, no I/O: the store (rocker.images.store) does the lookups.
"""

from __future__ import annotations

import re
from collections import namedtuple

from rocker.errors import InvalidInput

DEFAULT_TAG = "latest"
ID_PREFIX = "sha256:"
DOCKER_HUB = "docker.io"
HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")
HUB_API = "registry-1.docker.io"

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_HEX = re.compile(r"[0-9a-f]{1,64}")
_FULL_HEX = re.compile(r"[0-9a-f]{64}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
NAME_MAX = 255


class Reference(namedtuple("Reference", "registry path tag digest")):
    """A parsed reference. `registry` is "docker.io" for Docker Hub; `path` the repository
    inside the registry (`library/busybox`); `tag` or None; `digest` ("sha256:<hex>") or None.
    A named tuple, not a dataclass: making a frozen dataclass costs about 1 ms at import, on
    the path of every `run`."""

    __slots__ = ()

    @property
    def name(self) -> str:
        """The local repository name: `busybox`, `team/app`, `127.0.0.1:5000/app`."""
        if self.registry == DOCKER_HUB:
            return self.path[len("library/"):] if self.path.startswith("library/") and \
                self.path.count("/") == 1 else self.path
        return f"{self.registry}/{self.path}"

    @property
    def api_host(self) -> str:
        """The host the distribution API is reached at."""
        return HUB_API if self.registry == DOCKER_HUB else self.registry

    def local(self) -> str:
        """`name:tag`, or `name@digest` for a digest reference without a tag."""
        if self.tag is None and self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag or DEFAULT_TAG}"

    def with_digest(self, digest: str) -> "Reference":
        return Reference(self.registry, self.path, self.tag, digest)

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


def parse_reference(ref: str) -> Reference:
    """`[registry/]path[:tag][@digest]` -> Reference; raises InvalidInput naming what is wrong.
    A reference with neither tag nor digest gets `latest`."""
    if not isinstance(ref, str) or not ref:
        raise InvalidInput("invalid reference: empty image name")
    if len(ref) > NAME_MAX + 200:
        raise InvalidInput(f"invalid reference {ref[:60]!r}...: too long")
    rest, digest = ref, None
    if "@" in ref:
        rest, _, digest = ref.partition("@")
        if not _DIGEST.fullmatch(digest):
            raise InvalidInput(f"invalid reference {ref!r}: a digest is sha256: and 64 "
                               "lowercase hex digits")
    name, tag = rest, None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.fullmatch(tag):
            raise InvalidInput(
                f"invalid reference {ref!r}: tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}")
    registry, path = _split_registry(name, ref)
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(registry, path, tag, digest)


def _split_registry(name: str, ref: str) -> tuple[str, str]:
    if not name:
        raise InvalidInput(f"invalid reference {ref!r}: empty repository name")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"invalid reference {ref!r}: repository name longer than "
                           f"{NAME_MAX} characters")
    components = name.split("/")
    first = components[0]
    registry = DOCKER_HUB
    if len(components) > 1 and ("." in first or ":" in first or first == "localhost"
                                or first != first.lower() or first.startswith("[")):
        if not _DOMAIN.fullmatch(first):
            raise InvalidInput(f"invalid reference {ref!r}: bad registry host {first!r}")
        registry = DOCKER_HUB if first in HUB_ALIASES else first
        components = components[1:]
    for comp in components:
        if not _COMPONENT.fullmatch(comp):
            raise InvalidInput(
                f"invalid reference {ref!r}: repository name must be lowercase letters, "
                f"digits and separators (. _ __ -) between them, components split by /")
    path = "/".join(components)
    if registry == DOCKER_HUB and len(components) == 1:
        path = "library/" + path
    return registry, path


def split_reference(ref: str) -> tuple[str, str]:
    """`name[:tag]` -> (local name, tag), validated (short names normalised); a digest
    reference is refused here (see parse_reference)."""
    r = parse_reference(ref)
    if r.digest is not None:
        raise InvalidInput(f"invalid reference {ref!r}: a digest (@sha256:...) cannot name a "
                           "tag")
    return r.name, r.tag or DEFAULT_TAG


def validate_name(name: str, ref: str | None = None) -> None:
    _split_registry(name, ref if ref is not None else name)


def normalize_reference(ref: str) -> str:
    """`busybox` -> `busybox:latest`, `docker.io/library/busybox` -> `busybox:latest`;
    `app@sha256:...` stays a digest reference (`app@sha256:...`); a tag and a digest together
    keep the digest (the digest is what is looked up). Validated."""
    r = parse_reference(ref)
    if r.digest is not None:
        return f"{r.name}@{r.digest}"
    return r.local()


def id_hex(value: str) -> str | None:
    """The hex part if `value` can be an image id or id prefix (`sha256:` optional), else None."""
    s = value[len(ID_PREFIX):] if value.startswith(ID_PREFIX) else value
    return s if _HEX.fullmatch(s) else None


def full_hex(value: str) -> bool:
    return bool(_FULL_HEX.fullmatch(value))


def is_digest(value: str) -> bool:
    return isinstance(value, str) and bool(_DIGEST.fullmatch(value))
