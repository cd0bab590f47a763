"""OCI and Docker image formats: media types, descriptors, manifests, indexes, platforms.

Pure functions on bytes and dicts, no I/O; used by the registry client (rocker.images.registry)
and the archives (rocker.images.archive):

    parse_manifest(data, media_type)  -> Manifest | Index   (validated, size-bounded)
    select_platform(index, platform)  -> the descriptor for one platform, or an error listing
                                         the platforms the index has
    host_platform()                   -> "linux/amd64", "linux/arm64/v8", ...
    build_manifest(...)               -> the manifest bytes of an image (OCI or Docker v2)

A manifest is refused when it is larger than MANIFEST_MAX, names a digest that is not
`sha256:<64 hex>` or a size that is not a non-negative integer, or a layer media type rocker
cannot unpack.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from rocker.errors import InvalidInput, NotFound

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join(MANIFEST_TYPES)

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
LAYER_TYPES = {
    OCI_LAYER: "none", OCI_LAYER_GZIP: "gzip", OCI_LAYER_ZSTD: "zstd",
    DOCKER_LAYER_GZIP: "gzip",
    "application/vnd.docker.image.rootfs.diff.tar": "none",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}
OCI_LAYER_FOR = {"none": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}
DOCKER_LAYER_FOR = {"none": "application/vnd.docker.image.rootfs.diff.tar",
                    "gzip": DOCKER_LAYER_GZIP}

MANIFEST_MAX = 4 * 1024 * 1024       # the distribution spec's recommended limit
CONFIG_MAX = 8 * 1024 * 1024
BLOB_MAX = 1 << 40
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict | None = None
    annotations: dict = field(default_factory=dict)
    urls: tuple = ()

    def to_json(self) -> dict:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest,
                             "size": self.size}
        if self.platform:
            d["platform"] = self.platform
        if self.annotations:
            d["annotations"] = self.annotations
        return d


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]


def sha256_digest(data: bytes) -> str:
    import hashlib
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(value: Any, what: str) -> str:
    from rocker.images.refs import is_digest
    if not is_digest(value):
        raise InvalidInput(f"{what}: bad digest {str(value)[:80]!r} (only sha256 is supported)")
    return value


def _descriptor(d: Any, what: str) -> Descriptor:
    if not isinstance(d, dict):
        raise InvalidInput(f"{what}: a descriptor is not an object")
    mt = d.get("mediaType")
    if not isinstance(mt, str) or len(mt) > 255:
        raise InvalidInput(f"{what}: descriptor without a media type")
    size = d.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= BLOB_MAX:
        raise InvalidInput(f"{what}: bad size {str(size)[:40]!r}")
    platform = d.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise InvalidInput(f"{what}: platform is not an object")
    ann = d.get("annotations") or {}
    if not isinstance(ann, dict):
        raise InvalidInput(f"{what}: annotations are not an object")
    urls = d.get("urls") or []
    return Descriptor(mt, check_digest(d.get("digest"), what), size, platform,
                      {str(k): str(v) for k, v in ann.items()},
                      tuple(str(u) for u in urls) if isinstance(urls, list) else ())


def parse_manifest(data: bytes, media_type: str | None = None) -> Manifest | Index:
    """A manifest or index from its bytes; `media_type` (the Content-Type or the descriptor's)
    is checked against the document's own mediaType when both are given."""
    if len(data) > MANIFEST_MAX:
        raise InvalidInput(f"manifest larger than {MANIFEST_MAX} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"the manifest is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidInput("the manifest is not a JSON object")
    if doc.get("schemaVersion") == 1:
        raise InvalidInput("Docker schema 1 manifests are not supported (the registry serves "
                           "an image older than 2017: push it again with a current tool)")
    own = doc.get("mediaType")
    mt = own if isinstance(own, str) else None
    if media_type and media_type.split(";")[0].strip() in MANIFEST_TYPES:
        given = media_type.split(";")[0].strip()
        if mt is not None and mt != given:
            raise InvalidInput(f"the manifest says it is {mt} but was served as {given}")
        mt = given
    if mt is None:  # OCI allows leaving mediaType out: tell by the shape
        mt = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if mt in INDEX_TYPES:
        ms = doc.get("manifests")
        if not isinstance(ms, list):
            raise InvalidInput("the image index has no manifests list")
        return Index(mt, tuple(_descriptor(m, "image index") for m in ms[:10000]))
    if mt not in (OCI_MANIFEST, DOCKER_MANIFEST):
        raise InvalidInput(f"unsupported manifest type {mt[:100]!r}")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise InvalidInput("the manifest has no layers list")
    config = _descriptor(doc.get("config"), "manifest config")
    out = tuple(_descriptor(d, f"layer {i + 1}") for i, d in enumerate(layers))
    for i, d in enumerate(out):
        if d.media_type not in LAYER_TYPES:
            raise InvalidInput(f"layer {i + 1}: unsupported media type {d.media_type[:100]!r}")
    return Manifest(mt, config, out)


# ------------------------------------------------------------------------------- platforms

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm",
         "i686": "386", "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x",
         "riscv64": "riscv64"}


def host_platform() -> str:
    m = os.uname().machine
    arch = _ARCH.get(m, m)
    if m == "aarch64":
        return "linux/arm64/v8"
    if m.startswith("armv"):
        return f"linux/arm/v{m[4]}"
    return f"linux/{arch}"


def parse_platform(value: str) -> tuple[str, str, str | None]:
    """`os/arch[/variant]` (or `arch` alone, linux) -> (os, arch, variant)."""
    parts = value.strip().lower().split("/")
    if len(parts) == 1:
        parts = ["linux"] + parts
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise InvalidInput(f"invalid platform {value!r}: use os/arch[/variant], e.g. "
                           "linux/amd64 or linux/arm64/v8")
    os_, arch = parts[0], _ARCH.get(parts[1], parts[1])
    variant = parts[2] if len(parts) == 3 else None
    if arch == "arm64" and variant is None:
        variant = "v8"
    return os_, arch, variant


def platform_text(p: dict | None) -> str:
    if not p:
        return "unknown"
    s = f"{p.get('os', '?')}/{p.get('architecture', '?')}"
    if p.get("variant"):
        s += "/" + str(p["variant"])
    return s


def select_platform(index: Index, platform: str | None = None) -> Descriptor:
    """The manifest of `index` for `platform` (default: the host's). Variant-aware: an exact
    variant wins; with none asked for, arm64 means v8 and an entry without a variant matches."""
    os_, arch, variant = parse_platform(platform or host_platform())
    candidates = []
    for d in index.manifests:
        p = d.platform or {}
        if d.media_type not in (OCI_MANIFEST, DOCKER_MANIFEST):
            continue
        if p.get("os") != os_ or p.get("architecture") != arch:
            continue
        v = p.get("variant")
        if arch == "arm64" and v is None:
            v = "v8"
        if variant is not None and v is not None and v != variant:
            continue
        candidates.append((0 if v == variant else 1, d))
    if candidates:
        candidates.sort(key=lambda c: c[0])
        return candidates[0][1]
    have = sorted({platform_text(d.platform) for d in index.manifests
                   if (d.platform or {}).get("architecture") not in (None, "unknown")})
    want = f"{os_}/{arch}" + (f"/{variant}" if variant and not (arch == "arm64" and
                                                                 variant == "v8") else "")
    raise NotFound(f"no image for platform {want} in this image index; it has: "
                   f"{', '.join(have) or 'no platforms'} (choose one with --platform)")


def config_platform(config: dict) -> str:
    return platform_text({"os": config.get("os"), "architecture": config.get("architecture"),
                          "variant": config.get("variant")})


# ------------------------------------------------------------------------------- building

def build_manifest(config: bytes, layers: list[tuple[str, int, str]], *,
                   docker: bool = False, annotations: dict | None = None) -> bytes:
    """The manifest bytes of an image: `config` (its bytes) and `layers` as
    [(digest, size, compression)]; OCI by default, Docker v2 with docker=True."""
    if docker:
        doc: dict[str, Any] = {
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config),
                       "digest": sha256_digest(config)},
            "layers": [{"mediaType": DOCKER_LAYER_FOR.get(c, DOCKER_LAYER_GZIP), "size": s,
                        "digest": d} for d, s, c in layers]}
    else:
        doc = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "size": len(config),
                       "digest": sha256_digest(config)},
            "layers": [{"mediaType": OCI_LAYER_FOR[c], "size": s, "digest": d}
                       for d, s, c in layers]}
        if annotations:
            doc["annotations"] = annotations
    return json.dumps(doc, separators=(",", ":")).encode()


def parse_config(data: bytes) -> dict:
    """An image config, validated enough to be registered (rootfs.diff_ids of sha256)."""
    if len(data) > CONFIG_MAX:
        raise InvalidInput(f"image config larger than {CONFIG_MAX} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"the image config is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidInput("the image config is not a JSON object")
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise InvalidInput("the image config has no rootfs.diff_ids")
    for d in rootfs["diff_ids"]:
        check_digest(d, "image config rootfs.diff_ids")
    if not isinstance(doc.get("config") or {}, dict):
        raise InvalidInput("the image config's config is not an object")
    return doc
