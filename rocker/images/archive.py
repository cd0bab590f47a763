"""Image archives: `rocker load` and `rocker save`.

load reads
- docker-archive: `manifest.json` ([{"Config", "RepoTags", "Layers"}]) with the layers as
  `<id>/layer.tar` (legacy `docker save`) or `blobs/sha256/<hex>` (Docker 25+, symlinks
  allowed inside the archive);
- oci-archive (a tar of an OCI image layout) and OCI layout folders: `oci-layout`,
  `index.json`, `blobs/sha256/<hex>`; an index inside picks the host's platform.
An archive may be plain or gzip-compressed. Its members are copied into a private work folder
of the store first (names checked like layer entries: no absolute names, no `..`, links only
to members inside), never extracted anywhere else; every blob's digest and size and every
layer's diff id are checked against the manifest and the config before anything is
registered, and layers already in the store are not unpacked again.

save writes one tar that both `docker load`/`podman load` (manifest.json, repositories) and
OCI tools (oci-layout, index.json, blobs) read: Docker 25's layout. Layers are written as
uncompressed tars (blob digest = diff id), decompressed on the fly when the store keeps them
compressed; configs are written byte for byte, so image IDs survive the trip.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable

from rocker.errors import InvalidInput, NotFound, UnsafeArchive
from rocker.images import oci

MEMBER_MAX = 200_000
JSON_MAX = 16 * 1024 * 1024
LINK_HOPS = 16

Say = Callable[[str], None]


@dataclass
class Loaded:
    image_id: str
    refs: list[str]
    layers_new: int
    layers_total: int


# ----------------------------------------------------------------------------- reading

class _Files:
    """The members of an archive (copied into `work`) or of a layout folder, by name."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.files: dict[str, str] = {}     # name -> local path
        self.links: dict[str, str] = {}     # name -> target name

    def path(self, name: str) -> str | None:
        from rocker.images.extract import split_name
        name = "/".join(split_name(name, "archive member"))
        for _ in range(LINK_HOPS):
            if name in self.files:
                return self.files[name]
            if name not in self.links:
                return None
            name = self.links[name]
        raise UnsafeArchive(f"archive member {name!r}: too many links")

    def read(self, name: str, limit: int = JSON_MAX) -> bytes:
        p = self.path(name)
        if p is None:
            raise InvalidInput(f"the archive has no {name!r}")
        if os.path.getsize(p) > limit:
            raise InvalidInput(f"{name!r} in the archive is larger than {limit} bytes")
        with open(p, "rb") as f:
            return f.read()

    def has(self, name: str) -> bool:
        return self.path(name) is not None


def _copy_members(src: BinaryIO, work: str) -> _Files:
    """Copy the archive's regular files into `work` (flat, numbered), note its links."""
    import posixpath
    import tarfile

    from rocker.images.extract import split_name

    files = _Files(work)
    head = src.read(6)
    stream: Any = _Prepend(head, src)
    if head.startswith(b"\x1f\x8b"):
        import gzip
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
    elif head.startswith(b"\x28\xb5\x2f\xfd"):
        import zstandard
        stream = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(  # type: ignore
            stream, read_across_frames=True), 1 << 20)
    n = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|", bufsize=1 << 20) as tf:
            for m in tf:
                n += 1
                if n > MEMBER_MAX:
                    raise InvalidInput(f"archive with more than {MEMBER_MAX} members")
                parts = split_name(m.name, "archive member")
                name = "/".join(parts)
                if not parts or m.isdir():
                    continue
                if m.isfile():
                    local = os.path.join(work, str(n))
                    fobj = tf.extractfile(m)
                    with open(local, "wb", buffering=1 << 20) as out:
                        left = m.size
                        while left > 0:
                            chunk = fobj.read(min(left, 1 << 20))  # type: ignore[union-attr]
                            if not chunk:
                                raise InvalidInput(f"archive truncated in {name!r}")
                            out.write(chunk)
                            left -= len(chunk)
                    files.files[name] = local
                    files.links.pop(name, None)
                elif m.issym() or m.islnk():
                    target = m.linkname
                    if m.issym():
                        if target.startswith("/"):
                            raise UnsafeArchive(f"archive member {name!r}: absolute link")
                        target = posixpath.normpath(posixpath.join(posixpath.dirname(name),
                                                                   target))
                    tparts = split_name(target, "archive link target")
                    files.links[name] = "/".join(tparts)
                    files.files.pop(name, None)
                # devices, fifos: not part of any image archive; ignored
    except tarfile.TarError as e:
        raise InvalidInput(f"not a readable image archive: {e}") from None
    except (EOFError, OSError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise
        raise InvalidInput(f"corrupt or truncated image archive: {e}") from None
    if n == 0:
        raise InvalidInput("empty input: not an image archive")
    return files


class _Prepend:
    def __init__(self, head: bytes, f: BinaryIO) -> None:
        self.head, self.f = head, f

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n is None or n < 0:
                data, self.head = self.head + self.f.read(), b""
                return data
            data, self.head = self.head[:n], self.head[n:]
            return data
        return self.f.read() if n is None or n < 0 else self.f.read(n)

    def readable(self) -> bool:
        return True


def _layout_dir(path: str) -> _Files:
    files = _Files(path)
    for name in ("oci-layout", "index.json", "manifest.json"):
        p = os.path.join(path, name)
        if os.path.isfile(p) and not os.path.islink(p):
            files.files[name] = p
    blobs = os.path.join(path, "blobs", "sha256")
    if os.path.isdir(blobs):
        for n in os.listdir(blobs):
            p = os.path.join(blobs, n)
            if os.path.isfile(p) and not os.path.islink(p):
                files.files["blobs/sha256/" + n] = p
    return files


def _json(files: _Files, name: str) -> Any:
    try:
        return json.loads(files.read(name))
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{name!r} in the archive is not valid JSON: {e}") from None


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + oci.check_digest(digest, "descriptor")[7:]


def _read_blob(files: _Files, d: oci.Descriptor, limit: int) -> bytes:
    data = files.read(_blob_name(d.digest), limit)
    if len(data) != d.size or oci.sha256_digest(data) != d.digest:
        raise InvalidInput(f"blob {d.digest[:19]} in the archive does not match its "
                           "descriptor (corrupt or tampered)")
    return data


def load(store: Any, src: str | BinaryIO, say: Say | None = None,
         platform: str | None = None, tty: bool = False) -> list[Loaded]:
    """Load every image of an archive (path, `-`'s file object, or an OCI layout folder)."""
    from rocker.images.extract import remove_tree

    from rocker.images.progress import LayerBars
    store._ensure()
    bars = LayerBars(say, tty)
    work = store.new_work_folder("load")
    try:
        if isinstance(src, str) and os.path.isdir(src):
            files = _layout_dir(src)
            copied = False
        else:
            copied = True
            if isinstance(src, str):
                try:
                    f = open(src, "rb")
                except FileNotFoundError:
                    raise NotFound(f"no such file: {src}") from None
                except PermissionError:
                    raise InvalidInput(f"cannot read {src}: permission denied") from None
                with f:
                    files = _copy_members(f, work)
            else:
                files = _copy_members(src, work)
        if files.has("manifest.json"):
            return _load_docker(store, files, copied, say, bars)
        if files.has("index.json"):
            return _load_oci(store, files, copied, say, platform, bars)
        raise InvalidInput("not an image archive: it has neither manifest.json (docker-archive)"
                           " nor index.json (OCI); a root filesystem tar is imported with "
                           "`rocker import FILE NAME`")
    finally:
        remove_tree(work)


def _register(store: Any, files: _Files, config: bytes, layers: list[tuple[str, str | None]],
              refs: list[str], copied: bool, say: Say | None, bars: Any) -> Loaded:
    """layers: [(member name, expected blob digest or None)] in order."""
    from rocker.images.extract import remove_tree
    doc = oci.parse_config(config)
    diff_ids = doc["rootfs"]["diff_ids"]
    if len(diff_ids) != len(layers):
        raise InvalidInput(f"the image has {len(layers)} layers but its config names "
                           f"{len(diff_ids)} (rootfs.diff_ids)")
    image_id = oci.sha256_digest(config)
    staged: list[tuple[str, str]] = []
    new = 0
    try:
        for i, ((name, digest), diff_id) in enumerate(zip(layers, diff_ids)):
            if store.has_layer(diff_id) or any(d == diff_id for d, _ in staged):
                continue
            path = files.path(name)
            if path is None:
                raise InvalidInput(f"layer {i + 1} ({name!r}) is missing from the archive")
            key = diff_id[7:19]
            bars.add(key, os.path.getsize(path))
            st = store.stage_layer(path, {"digest": digest, "size": os.path.getsize(path)},
                                   diff_id, move=copied, progress=bars.absolute(key))
            staged.append((diff_id, st))
            bars.state(key, "loaded")
            new += 1
        valid = []
        for r in refs:
            try:
                from rocker.images.refs import normalize_reference
                valid.append(normalize_reference(r))
            except InvalidInput:
                if say:
                    say(f"skipping the name {r[:80]!r}: not a valid reference")
        img = store.register_image(config, staged, refs=valid)
    finally:
        for _, st in staged:
            if os.path.lexists(st):
                remove_tree(st)
    return Loaded(img.id if img else image_id, valid, new, len(layers))


def _load_docker(store: Any, files: _Files, copied: bool, say: Say | None,
                 bars: Any) -> list[Loaded]:
    doc = _json(files, "manifest.json")
    if not isinstance(doc, list) or not doc:
        raise InvalidInput("manifest.json in the archive is not a non-empty list")
    out = []
    for i, entry in enumerate(doc[:1000]):
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) or \
                not isinstance(entry.get("Layers"), list):
            raise InvalidInput(f"manifest.json entry {i + 1}: needs Config and Layers")
        config = files.read(entry["Config"], oci.CONFIG_MAX)
        base = os.path.basename(entry["Config"]).removesuffix(".json")
        if len(base) == 64 and oci.sha256_digest(config)[7:] != base:
            raise InvalidInput(f"config {entry['Config']!r} does not match its name "
                               "(corrupt or tampered)")
        names = [str(x) for x in entry["Layers"]]
        layers = [(n, "sha256:" + n.rsplit("/", 1)[-1] if n.startswith("blobs/sha256/")
                   else None) for n in names]
        tags = [str(t) for t in entry.get("RepoTags") or [] if isinstance(t, str)]
        out.append(_register(store, files, config, layers, tags, copied, say, bars))
    return out


def _load_oci(store: Any, files: _Files, copied: bool, say: Say | None,
              platform: str | None, bars: Any) -> list[Loaded]:
    idx = oci.parse_manifest(files.read("index.json"), oci.OCI_INDEX)
    assert isinstance(idx, oci.Index)
    out = []
    for top in idx.manifests:
        d = top
        if d.media_type in oci.INDEX_TYPES:
            inner = oci.parse_manifest(_read_blob(files, d, oci.MANIFEST_MAX), d.media_type)
            assert isinstance(inner, oci.Index)
            d = oci.select_platform(inner, platform)
        man = oci.parse_manifest(_read_blob(files, d, oci.MANIFEST_MAX), d.media_type)
        if not isinstance(man, oci.Manifest):
            raise InvalidInput("an image index inside an image index is not supported")
        config = _read_blob(files, man.config, oci.CONFIG_MAX)
        name = top.annotations.get(oci.CONTAINERD_NAME) or top.annotations.get(oci.REF_NAME)
        refs = [name] if name and ("/" in name or ":" in name) else []
        if name and not refs and say:
            say(f"the archive names this image only {name!r} (a tag without a repository): "
                "loaded without a name; `rocker tag ID NAME` names it")
        layers = [(_blob_name(x.digest), x.digest) for x in man.layers]
        for x in man.layers:
            p = files.path(_blob_name(x.digest))
            if p is not None and os.path.getsize(p) != x.size:
                raise InvalidInput(f"blob {x.digest[:19]} in the archive has the wrong size "
                                   "(corrupt or tampered)")
        out.append(_register(store, files, config, layers, refs, copied, say, bars))
    if not out:
        raise InvalidInput("the archive's index.json lists no images")
    return out


# ----------------------------------------------------------------------------- writing

class _Counting:
    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.n = 0

    def write(self, b: bytes) -> int:
        self.n += len(b)
        return self.f.write(b)  # type: ignore[return-value]


def export_layers(store: Any, img: Any) -> tuple[bytes, list[dict]]:
    """The config bytes and layers to save or push an image as: [{"diff_id", "path",
    "compression", "digest", "size", "tar_size"}] bottom first. A layer of an older rocker
    whose tar had to be written again (its diff id is not the config's) gets the config
    rewritten to match: the exported image then has another ID."""
    config = store.config_bytes(img.id)
    layers = []
    rewrite = False
    for diff_id in img.layers:
        path, blob = store.layer_blob(diff_id)
        info = store.layer_info(diff_id)
        tar_size = info.get("tar_size")
        exported_diff = diff_id
        if blob.get("regenerated"):
            exported_diff = blob["digest"]
            tar_size = blob["size"]
            rewrite = rewrite or exported_diff != diff_id
        layers.append({"diff_id": exported_diff, "stored": diff_id, "path": path,
                       "compression": blob.get("compression", "none"),
                       "digest": blob["digest"], "size": blob["size"], "tar_size": tar_size})
    if rewrite:
        doc = json.loads(config)
        doc["rootfs"]["diff_ids"] = [x["diff_id"] for x in layers]
        config = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return config, layers


def open_uncompressed(path: str, compression: str) -> BinaryIO:
    f = open(path, "rb")
    if compression == "gzip":
        import gzip
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    if compression == "zstd":
        import zstandard
        return zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True,
                                                          closefd=True)  # type: ignore
    return f


def save(store: Any, names: list[str], out: BinaryIO, say: Say | None = None,
         tty: bool = False) -> int:
    """Write the images `names` (references or ids) as one archive to `out`; bytes written."""
    import tarfile
    import time

    images = []
    for n in names:
        img = store.resolve(n)
        from rocker.images.refs import id_hex, normalize_reference
        tags = []
        if id_hex(n) is None or n in img.refs:
            try:
                r = normalize_reference(n)
                tags = [r] if "@" not in r else []
            except InvalidInput:
                pass
        images.append((img, tags))
    from rocker.images.progress import LayerBars
    bars = LayerBars(say, tty, "writing")
    counting = _Counting(out)
    now = int(time.time())
    written: set[str] = set()
    index, manifest_json, repositories = [], [], {}

    def add(tf: Any, name: str, size: int, f: Any) -> None:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = size, 0o644, now
        tf.addfile(ti, f)

    with tarfile.open(fileobj=counting, mode="w|", format=tarfile.PAX_FORMAT,  # type: ignore
                      bufsize=1 << 20) as tf:
        d = tarfile.TarInfo("blobs")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, now
        tf.addfile(d)
        d = tarfile.TarInfo("blobs/sha256")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, now
        tf.addfile(d)
        layout = b'{"imageLayoutVersion":"1.0.0"}'
        add(tf, "oci-layout", len(layout), io.BytesIO(layout))
        for img, tags in images:
            config, layers = export_layers(store, img)
            if config != store.config_bytes(img.id) and say:
                say(f"image {img.short_id} was imported by an older rocker: saved with the "
                    f"ID {oci.sha256_digest(config)[7:19]}")
            cfg_digest = oci.sha256_digest(config)
            if cfg_digest not in written:
                add(tf, _blob_name(cfg_digest), len(config), io.BytesIO(config))
                written.add(cfg_digest)
            for i, x in enumerate(layers):
                if x["diff_id"] in written:
                    continue
                if x["compression"] == "none" and x["digest"] == x["diff_id"]:
                    size = os.path.getsize(x["path"])
                else:
                    size = x["tar_size"]
                key = x["diff_id"][7:19]
                bars.add(key, size)
                with open_uncompressed(x["path"], x["compression"]) as f:
                    add(tf, _blob_name(x["diff_id"]), size, _Exactly(f, size,
                                                                      bars.counter(key)))
                written.add(x["diff_id"])
                bars.state(key, "saved")
            man = oci.build_manifest(config, [(x["diff_id"], x["tar_size"] if x["compression"]
                                               != "none" or x["digest"] != x["diff_id"]
                                               else os.path.getsize(x["path"]), "none")
                                              for x in layers])
            man_digest = oci.sha256_digest(man)
            if man_digest not in written:
                add(tf, _blob_name(man_digest), len(man), io.BytesIO(man))
                written.add(man_digest)
            for t in tags or [None]:
                ann = {}
                if t:
                    from rocker.images.refs import parse_reference
                    r = parse_reference(t)
                    full = f"{r.registry}/{r.path}:{r.tag}"
                    ann = {oci.CONTAINERD_NAME: full, oci.REF_NAME: t}
                index.append({"mediaType": oci.OCI_MANIFEST, "digest": man_digest,
                              "size": len(man), **({"annotations": ann} if ann else {})})
            manifest_json.append({"Config": _blob_name(cfg_digest), "RepoTags": tags,
                                  "Layers": [_blob_name(x["diff_id"]) for x in layers]})
            for t in tags:
                name, _, tag = t.rpartition(":")
                repositories.setdefault(name, {})[tag] = layers[-1]["diff_id"][7:] \
                    if layers else ""
        idx = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX,
                          "manifests": index}, separators=(",", ":")).encode()
        add(tf, "index.json", len(idx), io.BytesIO(idx))
        mj = json.dumps(manifest_json, separators=(",", ":")).encode()
        add(tf, "manifest.json", len(mj), io.BytesIO(mj))
        if repositories:
            rj = json.dumps(repositories, separators=(",", ":")).encode()
            add(tf, "repositories", len(rj), io.BytesIO(rj))
    return counting.n


class _Exactly:
    """A reader that gives exactly `size` bytes of `f` and fails if `f` holds another amount
    (a layer blob changed under the save)."""

    def __init__(self, f: Any, size: int, progress: Callable[[int], None] | None = None
                 ) -> None:
        self.f, self.left, self.progress = f, size, progress

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.f.read(n)
        if not data:
            raise InvalidInput("a layer blob of the store is shorter than its record says "
                               "(corrupt store)")
        self.left -= len(data)
        if self.progress:
            self.progress(len(data))
        return data


# ----------------------------------------------------------------------------- import guard

def looks_like_image_archive(root_fd_path: str) -> str | None:
    """What an extracted 'root filesystem' really is when it is an image archive (its root
    holds manifest.json with blobs or layer folders, or oci-layout), else None."""
    def exists(name: str) -> bool:
        return os.path.lexists(os.path.join(root_fd_path, name))
    if exists("oci-layout") and exists("index.json"):
        return "an OCI image archive (oci-layout, index.json)"
    if exists("manifest.json") and (exists("blobs") or exists("repositories")):
        return "a docker-archive (manifest.json)"
    if exists("manifest.json"):
        try:
            names = os.listdir(root_fd_path)
        except OSError:
            return None
        if any(len(n) == 69 and n.endswith(".json") for n in names):
            return "a docker-archive (manifest.json)"
    return None
