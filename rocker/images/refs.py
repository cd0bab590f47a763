"""Image references: `name[:tag]` as Docker spells them, image ids and id prefixes.

    name      one or more path components `[a-z0-9]+` joined by `.`, `_`, `__` or dashes,
              separated by `/`; the first component may be a registry host
              (`localhost:5000/app`, `registry.example.com/team/app`); at most 255 characters
    tag       `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, `latest` when left out
    id        `sha256:<64 hex>`, the 64 hex digits alone, or a unique prefix of them

Pure functions, no I/O: the store (rocker.images.store) does the lookups.
"""

from __future__ import annotations

import re

from rocker.errors import InvalidInput

DEFAULT_TAG = "latest"
ID_PREFIX = "sha256:"

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_HEX = re.compile(r"[0-9a-f]{1,64}")
_FULL_HEX = re.compile(r"[0-9a-f]{64}")
NAME_MAX = 255


def split_reference(ref: str) -> tuple[str, str]:
    """`name[:tag]` -> (name, tag), validated; raises InvalidInput naming what is wrong."""
    if not isinstance(ref, str) or not ref:
        raise InvalidInput("invalid reference: empty image name")
    if "@" in ref:
        raise InvalidInput(f"invalid reference {ref!r}: digests (@sha256:...) are not supported")
    name, tag = ref, DEFAULT_TAG
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        name, tag = ref[:colon], ref[colon + 1:]
        if not _TAG.fullmatch(tag):
            raise InvalidInput(
                f"invalid reference {ref!r}: tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}")
    validate_name(name, ref)
    return name, tag


def validate_name(name: str, ref: str | None = None) -> None:
    shown = ref if ref is not None else name
    if not name:
        raise InvalidInput(f"invalid reference {shown!r}: empty repository name")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"invalid reference {shown!r}: repository name longer than "
                           f"{NAME_MAX} characters")
    components = name.split("/")
    first = components[0]
    if len(components) > 1 and ("." in first or ":" in first or first == "localhost"
                                or first != first.lower()):
        if not _DOMAIN.fullmatch(first):
            raise InvalidInput(f"invalid reference {shown!r}: bad registry host {first!r}")
        components = components[1:]
    for comp in components:
        if not _COMPONENT.fullmatch(comp):
            raise InvalidInput(
                f"invalid reference {shown!r}: repository name must be lowercase letters, "
                f"digits and separators (. _ __ -) between them, components split by /")


def normalize_reference(ref: str) -> str:
    """`busybox` -> `busybox:latest`; validated."""
    name, tag = split_reference(ref)
    return f"{name}:{tag}"


def id_hex(value: str) -> str | None:
    """The hex part if `value` can be an image id or id prefix (`sha256:` optional), else None."""
    s = value[len(ID_PREFIX):] if value.startswith(ID_PREFIX) else value
    return s if _HEX.fullmatch(s) else None


def full_hex(value: str) -> bool:
    return bool(_FULL_HEX.fullmatch(value))
