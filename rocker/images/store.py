"""The image store: content-addressed layers and configs, and the references that name them.

Layout under ROOT/images (see docs/images.md):

    layers/<hex>/diff/          the extracted layer, used as an overlayfs lowerdir as it is
    layers/<hex>/layer.json     {"diff_id", "size", "tar_size", "created",
                                 "blob": {"digest", "size", "compression"}}
    layers/<hex>/blob           the layer as a registry or archive carries it (the tar, or its
                                gzip/zstd form as pulled): what save and push send
    configs/<hex>.json          an image config, byte for byte as pulled, loaded or made;
                                <hex> = sha256 of these bytes = the image ID registries compute
    meta/<hex>.json             rocker's own bookkeeping of that image, beside the config:
                                {"source": {"digest", "changes"}} for an import (sha256 of the
                                tar bytes read, canonical changes: its source identity),
                                "manifest" {"digest", "mediaType", "size"} for a pull
    repositories.json           {"refs": {"name:tag": "sha256:<image hex>"},
                                 "digests": {"name@sha256:<manifest>": "sha256:<image hex>"}}
    tmp/<pid>-<random>/         work in progress (extraction, downloads, commits, deletions)

<hex> of a layer is its diff ID: the sha256 of its uncompressed tar. An image ID is the sha256
of its config bytes, never re-serialised: a pulled image keeps the ID the registry's config
digest gives it. Configs written by older rockers (canonical JSON with "rocker_source" inside)
keep their IDs; their source identity is read from there.

Concurrency: extraction happens in a private folder under tmp/, without any lock. Registration
(moving new layers in with one rename each, writing the config, updating references) and
removal run inside `update_json(repositories.json)`, i.e. under its flock, and are short. Two
imports of the same layer: the first registration renames its folder in, the second finds the
layer complete and drops its own copy. Leftovers of a killed process (its pid is gone) are
removed by the next import, commit or removal.

Reading (resolve, images, layer_dirs) takes no lock: every file is replaced atomically.
Heavy modules (tarfile, hashlib, compression) are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import os
from collections import namedtuple
from typing import Any, BinaryIO, Callable, Iterable

from rocker.errors import Conflict, CorruptRecord, HostError, InvalidInput, NotFound
from rocker.images.refs import ID_PREFIX, full_hex, id_hex, normalize_reference
from rocker.paths import Paths
from rocker.state.store import atomic_write, read_json, update_json, write_json

REPOSITORIES = "repositories.json"
GOOD_COPY = ".good"   # repositories.json.good: the last table rocker wrote (for `image repair`)
LAYER_JSON = "layer.json"
DIFF = "diff"
BLOB = "blob"
OVERLAY_MAX_LAYERS = 500     # the kernel's OVL_MAX_STACK
SHORT_LINKS_ABOVE = 3000     # bytes of lowerdir paths before short links are used

DEFAULT_CONFIG: dict[str, Any] = {
    "Cmd": None,
    "Entrypoint": None,
    "Env": [],
    "WorkingDir": "",
    "User": "",
    "Labels": {},
}


class Image:
    """One image as read from the store: `id` ("sha256:<hex>"), `document` (the whole config
    JSON), `refs` (["name:tag", ...], sorted), `size` (the sum of the layer sizes), `digests`
    (["name@sha256:<manifest>", ...]) and `source` (an import's source identity, if any).
    A plain class: a dataclass costs about 1 ms to make at import, on the path of every `run`."""

    __slots__ = ("id", "document", "refs", "size", "digests", "source")

    def __init__(self, id: str, document: dict, refs: list[str] | None = None, size: int = 0,
                 digests: list[str] | None = None, source: dict | None = None) -> None:
        self.id, self.document, self.size, self.source = id, document, size, source
        self.refs = refs if refs is not None else []
        self.digests = digests if digests is not None else []

    def _fields(self) -> tuple:
        return (self.id, self.document, self.refs, self.size, self.digests, self.source)

    def __eq__(self, other: object) -> bool:
        return self._fields() == other._fields() if isinstance(other, Image) else NotImplemented

    def __repr__(self) -> str:
        return f"Image(id={self.id!r}, refs={self.refs!r}, size={self.size!r})"

    @property
    def short_id(self) -> str:
        return self.id[len(ID_PREFIX):][:12]

    @property
    def config(self) -> dict:
        return self.document.get("config") or {}

    @property
    def layers(self) -> list[str]:
        return list(self.document["rootfs"]["diff_ids"])

    @property
    def created(self) -> str:
        return self.document.get("created") or ""

    @property
    def history(self) -> list:
        return list(self.document.get("history") or [])

    @property
    def comment(self) -> str:
        return self.document.get("comment") or ""

    @property
    def author(self) -> str:
        return self.document.get("author") or ""


class ImageError(namedtuple("ImageError", "id refs error")):
    """An image whose config cannot be read (listing shows it instead of failing)."""

    __slots__ = ()

    @property
    def short_id(self) -> str:
        return self.id[len(ID_PREFIX):][:12]


SOURCE_KEY = "rocker_source"
"""Where older rockers kept an imported image's source identity: inside its config. New imports
keep it beside the config (meta/<hex>.json); configs that hold it are still read."""


def source_changes(changes: list[str] | tuple[str, ...] | None) -> list:
    """`changes` in canonical form (parsed: [[KEYWORD, value], ...]), so spelling does not count:
    `env A=1` and `ENV  A=1` are the same change."""
    from rocker.images.changes import parse_changes
    return [[k, v] for k, v in parse_changes(changes)]


def changes_key(canonical: list | None) -> str:
    """A comparable string of canonical changes (what `source_changes()` returns)."""
    return json.dumps(canonical or [], sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _DigestReader:
    """A binary reader that hashes every byte read through it (the tar as imported)."""

    def __init__(self, f: BinaryIO) -> None:
        import hashlib
        self.f = f
        self.h = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read() if n is None or n < 0 else self.f.read(n)
        if data:
            self.h.update(data)
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> str:
        """Read to the end (bytes past the archive count too); "sha256:<hex>" of everything."""
        while self.read(1 << 20):
            pass
        return "sha256:" + self.h.hexdigest()


def canonical_bytes(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _sha256(data: bytes) -> str:
    """Of a small document (a config): CPython's own sha256 where it has one, which loads in
    a fraction of hashlib's time (OpenSSL's _hashlib costs `run` a few milliseconds)."""
    try:
        from _sha256 import sha256   # CPython 3.11 (3.12 calls it _sha2)
    except ImportError:
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256
    return sha256(data).hexdigest()


def _arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)


def _validate_document(doc: Any, where: str) -> dict:
    if not isinstance(doc, dict):
        raise CorruptRecord(f"corrupt image config {where}: not an object")
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise CorruptRecord(f"corrupt image config {where}: no rootfs.diff_ids")
    for d in rootfs["diff_ids"]:
        if not isinstance(d, str) or not d.startswith(ID_PREFIX) or \
                not full_hex(d[len(ID_PREFIX):]):
            raise CorruptRecord(f"corrupt image config {where}: bad layer id {d!r}")
    if not isinstance(doc.get("config", {}), dict):
        raise CorruptRecord(f"corrupt image config {where}: config is not an object")
    return doc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ImageStore:
    """Images under `paths.images`. Cheap to create: nothing is read or made until needed."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.root = paths.images
        self.layers_root = os.path.join(self.root, "layers")
        self.configs_root = os.path.join(self.root, "configs")
        self.meta_root = os.path.join(self.root, "meta")
        self.tmp_root = os.path.join(self.root, "tmp")
        self.repositories = os.path.join(self.root, REPOSITORIES)

    # ------------------------------------------------------------------ paths and raw reads

    def layer_path(self, diff_id: str) -> str:
        return os.path.join(self.layers_root, diff_id[len(ID_PREFIX):])

    def config_path(self, image_id: str) -> str:
        return os.path.join(self.configs_root, image_id[len(ID_PREFIX):] + ".json")

    def meta_path(self, image_id: str) -> str:
        return os.path.join(self.meta_root, image_id[len(ID_PREFIX):] + ".json")

    def meta(self, image_id: str) -> dict:
        """rocker's bookkeeping of an image ({} when it has none)."""
        try:
            data = read_json(self.meta_path(image_id))
        except (FileNotFoundError, CorruptRecord):
            return {}
        return data if isinstance(data, dict) else {}

    def config_bytes(self, image_id: str) -> bytes:
        """The config exactly as stored (its sha256 is the id; checked)."""
        path = self.config_path(image_id)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise NotFound(f"no such image: {image_id}") from None
        if _sha256(data) != image_id[len(ID_PREFIX):]:
            raise CorruptRecord(f"corrupt image config {path}: content does not match its id")
        return data

    def _ensure(self) -> None:
        for d in (self.root, self.layers_root, self.configs_root, self.meta_root,
                  self.tmp_root):
            try:
                os.makedirs(d, mode=0o700, exist_ok=True)
            except OSError as e:
                raise HostError(f"cannot create the image store folder {d}: {e.strerror}"
                                + (" (are you root?)" if os.geteuid() != 0 else "")) from None

    def refs(self) -> dict[str, str]:
        """All references: {"name:tag": "sha256:..."}."""
        return self._tables()[0]

    def digest_refs(self) -> dict[str, str]:
        """All digest references: {"name@sha256:<manifest>": "sha256:<image>"}."""
        return self._tables()[1]

    def _tables(self) -> tuple[dict[str, str], dict[str, str]]:
        try:
            data = read_json(self.repositories)
        except FileNotFoundError:
            return {}, {}
        except PermissionError:
            raise HostError(f"cannot read {self.repositories}: permission denied"
                            + (" (are you root?)" if os.geteuid() != 0 else "")) from None
        except CorruptRecord:
            raise self._corrupt("not valid JSON") from None
        return self._refs_of(data), self._digests_of(data)

    def _digests_of(self, data: Any) -> dict[str, str]:
        table = data.get("digests") if isinstance(data, dict) else None
        if not isinstance(table, dict):
            return {}
        return {k: v for k, v in table.items() if isinstance(k, str) and isinstance(v, str)
                and v.startswith(ID_PREFIX) and full_hex(v[len(ID_PREFIX):])}

    def _corrupt(self, what: str) -> CorruptRecord:
        return CorruptRecord(
            f"the image references ({self.repositories}) are corrupt: {what}; the images "
            "themselves are intact: `rocker image repair` sets the file aside and rebuilds it "
            "from its last good copy")

    def _refs_of(self, data: Any) -> dict[str, str]:
        if data is None:
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("refs", {}), dict):
            raise self._corrupt("no refs object")
        table = data.get("refs", {})
        for k, v in table.items():
            if not isinstance(v, str) or not v.startswith(ID_PREFIX) or not full_hex(
                    v[len(ID_PREFIX):]):
                raise self._corrupt(f"{str(k)[:60]!r} points at no image id")
        return dict(table)

    def _update_refs(self, fn: Callable[[Any], dict]) -> dict:
        """update_json of repositories.json, keeping the new table's copy in
        repositories.json.good as well (what `repair` restores)."""
        def both(old: Any) -> dict:
            new = fn(old)
            digests = new.get("digests")
            if digests is None:
                digests = self._digests_of(old)
            existing = set(self.image_ids())
            new["digests"] = {k: v for k, v in digests.items() if v in existing}
            write_json(self.repositories + GOOD_COPY, new)
            return new
        try:
            return update_json(self.repositories, both, default=None)
        except CorruptRecord:
            raise self._corrupt("not valid JSON") from None

    def repair(self) -> dict[str, Any]:
        """Set a corrupt repositories.json aside (repositories.json.corrupt-<time>) and rebuild
        it from the last good copy, keeping only references to images that exist. Returns
        {"aside": path or None, "kept": n, "dropped": [refs], "unnamed": [image ids]}."""
        import time
        from rocker.state.store import flocked
        self._ensure()
        aside = None
        with flocked(self.repositories + ".lock"):
            good: dict[str, str] | None = None
            digests: dict[str, str] = {}
            try:
                raw = read_json(self.repositories)
                digests = self._digests_of(raw)
                good = self._refs_of(raw)
            except FileNotFoundError:
                pass
            except CorruptRecord:
                aside = f"{self.repositories}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
                os.rename(self.repositories, aside)
            if good is None:
                try:
                    good = self._refs_of(read_json(self.repositories + GOOD_COPY))
                except (FileNotFoundError, CorruptRecord):
                    good = {}
            existing = set(self.image_ids())
            table = {r: i for r, i in good.items() if i in existing}
            digests = {r: i for r, i in digests.items() if i in existing}
            write_json(self.repositories, {"refs": table, "digests": digests})
            write_json(self.repositories + GOOD_COPY, {"refs": table, "digests": digests})
        named = set(table.values())
        return {"aside": aside, "kept": len(table),
                "dropped": sorted(set(good) - set(table)),
                "unnamed": sorted(existing - named)}

    def image_ids(self) -> list[str]:
        try:
            names = os.listdir(self.configs_root)
        except FileNotFoundError:
            return []
        except PermissionError:
            raise HostError(f"cannot read {self.configs_root}: permission denied"
                            + (" (are you root?)" if os.geteuid() != 0 else "")) from None
        return sorted(ID_PREFIX + n[:-5] for n in names
                      if n.endswith(".json") and full_hex(n[:-5]))

    def _layer_size(self, diff_id: str, image_id: str) -> int:
        path = os.path.join(self.layer_path(diff_id), LAYER_JSON)
        try:
            meta = read_json(path)
        except FileNotFoundError:
            raise CorruptRecord(f"image {image_id[7:19]}: layer {diff_id} is missing") from None
        size = meta.get("size") if isinstance(meta, dict) else None
        if not isinstance(size, int):
            raise CorruptRecord(f"corrupt record {path}: no size")
        return size

    def _load(self, image_id: str, refs: dict[str, str] | None = None,
              digests: dict[str, str] | None = None) -> Image:
        path = self.config_path(image_id)
        data = self.config_bytes(image_id)
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise CorruptRecord(f"corrupt image config {path}: {e}") from None
        _validate_document(doc, path)
        if refs is None:
            refs, digests = self._tables()
        img = Image(id=image_id, document=doc,
                    refs=sorted(r for r, v in refs.items() if v == image_id),
                    digests=sorted(r for r, v in (digests or {}).items() if v == image_id))
        img.size = sum(self._layer_size(d, image_id) for d in dict.fromkeys(img.layers))
        img.source = self.source_of(image_id, doc)
        return img

    # ------------------------------------------------------------------ lookups

    def get(self, image_id: str) -> Image:
        """The image with this full id (`sha256:` optional)."""
        h = id_hex(image_id)
        if h is None or len(h) != 64:
            raise InvalidInput(f"not a full image id: {image_id!r}")
        return self._load(ID_PREFIX + h)

    def _resolve_id(self, ref: str) -> tuple[str, str | None, dict[str, str]]:
        """(image id, the normalized reference if `ref` was a name, all refs)."""
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidInput("empty image reference")
        ref = ref.strip()
        refs, digests = self._tables()
        if "@" in ref:
            norm = normalize_reference(ref)
            if norm in digests and os.path.exists(self.config_path(digests[norm])):
                return digests[norm], norm, refs
            raise NotFound(f"no such image: {ref}")
        h = id_hex(ref)
        ids = self.image_ids()
        if h is not None and len(h) == 64 and ID_PREFIX + h in ids:
            return ID_PREFIX + h, None, refs
        norm = None
        bad_ref: InvalidInput | None = None
        if not ref.startswith(ID_PREFIX):
            try:
                norm = normalize_reference(ref)
            except InvalidInput as e:
                bad_ref = e
        if norm is not None and norm in refs:
            return refs[norm], norm, refs
        legacy = _legacy_spelling(ref)
        if norm is not None and legacy in refs:   # named by an older rocker (library/x:t)
            return refs[legacy], legacy, refs
        if h is not None:
            matches = [i for i in ids if i[len(ID_PREFIX):].startswith(h)]
            if len(matches) == 1:
                return matches[0], None, refs
            if len(matches) > 1:
                shown = ", ".join(m[7:19] for m in matches[:5])
                raise InvalidInput(f"ambiguous image id prefix {ref!r}: matches {len(matches)} "
                                   f"images ({shown}{', ...' if len(matches) > 5 else ''}); "
                                   f"give more digits")
        if bad_ref is not None and h is None:
            raise bad_ref
        raise NotFound(f"no such image: {ref}")

    def resolve(self, ref: str) -> Image:
        """An image by `name[:tag]`, `name@sha256:<manifest digest>`, full id (with or without
        `sha256:`) or unique id prefix."""
        image_id, _, refs = self._resolve_id(ref)
        return self._load(image_id, refs, self.digest_refs())

    def images(self, errors: list[ImageError] | None = None) -> list[Image]:
        """Every image, newest first. Unreadable ones go to `errors` (if given), not raised."""
        refs, digests = self._tables()
        out: list[Image] = []
        ids = self.image_ids()
        for image_id in ids:
            try:
                out.append(self._load(image_id, refs, digests))
            except (CorruptRecord, NotFound, OSError) as e:
                if isinstance(e, NotFound):
                    continue  # removed while we listed
                if errors is not None:
                    errors.append(ImageError(image_id, sorted(r for r, v in refs.items()
                                                              if v == image_id), str(e)))
        if errors is not None:
            known = set(ids)
            dangling: dict[str, list[str]] = {}
            for r, v in refs.items():
                if v not in known:
                    dangling.setdefault(v, []).append(r)
            for v, rs in sorted(dangling.items()):
                errors.append(ImageError(str(v), sorted(rs), "image config is missing"))
        from rocker.util.timefmt import parse_rfc3339
        out.sort(key=lambda i: (-parse_rfc3339(i.created), i.id))
        return out

    def layer_dirs(self, img: Image) -> list[str]:
        """Absolute layer folders, TOP first: ready for overlay `lowerdir=a:b:c`.

        overlayfs stacks at most OVERLAY_MAX_LAYERS lower layers, and the mount options fit
        in one page: an image with many layers gets short links instead
        (`images/l/<16 hex>` -> `../layers/<hex>/diff`), which the launcher's relative
        lowerdir (paths relative to their common folder) turns into 17 bytes a layer."""
        layers = list(dict.fromkeys(reversed(img.layers)))   # a repeated layer: once
        if len(layers) > OVERLAY_MAX_LAYERS:
            raise InvalidInput(f"image {img.short_id} has {len(layers)} layers; overlayfs "
                               f"stacks at most {OVERLAY_MAX_LAYERS}: flatten it (rocker "
                               "export a container of it, then rocker import)")
        dirs = []
        for diff_id in layers:
            d = os.path.join(self.layer_path(diff_id), DIFF)
            if not os.path.isfile(os.path.join(self.layer_path(diff_id), LAYER_JSON)) or \
                    not os.path.isdir(d):
                raise CorruptRecord(f"image {img.short_id}: layer {diff_id} is missing")
            dirs.append(d)
        if sum(len(d) + 1 for d in dirs) > SHORT_LINKS_ABOVE:
            dirs = [self._short_link(diff_id) for diff_id in layers]
        return dirs

    def _short_link(self, diff_id: str) -> str:
        links = os.path.join(self.root, "l")
        os.makedirs(links, mode=0o700, exist_ok=True)
        h = diff_id[len(ID_PREFIX):]
        target = os.path.join("..", "layers", h, DIFF)
        for n in (16, 32, 64):
            link = os.path.join(links, h[:n])
            try:
                if os.readlink(link) == target:
                    return link
                continue           # another layer has these digits
            except FileNotFoundError:
                tmp = f"{link}.tmp-{os.getpid()}"
                try:
                    os.symlink(target, tmp)
                    os.rename(tmp, link)
                except FileExistsError:
                    pass
                if os.readlink(link) == target:
                    return link
        raise CorruptRecord(f"cannot make a short link for layer {diff_id}")

    # ------------------------------------------------------------------ temp folders

    def _new_tmp(self, kind: str = "work") -> str:
        self._ensure()
        path = os.path.join(self.tmp_root, f"{os.getpid()}-{kind}-{os.urandom(6).hex()}")
        os.mkdir(path, 0o700)
        return path

    def prune_tmp(self) -> None:
        """Remove work folders of processes that are gone."""
        from rocker.images.extract import remove_tree
        try:
            names = os.listdir(self.tmp_root)
        except FileNotFoundError:
            return
        for n in names:
            pid = n.split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                remove_tree(os.path.join(self.tmp_root, n))

    # ------------------------------------------------------------------ registration

    def _register(self, staged: list[tuple[str, str]], document: dict | bytes,
                  refs: Iterable[str], meta: dict | None = None,
                  digests: Iterable[str] = ()) -> Image:
        """Move staged layers in, write the config, point `refs` at it: one short locked step.

        `staged` is [(diff_id, staging folder holding diff/, layer.json and blob)]; `document`
        is the config as bytes (kept exactly) or a dict (written as canonical JSON); `meta` is
        rocker's bookkeeping, written beside it; `digests` are `name@sha256:` references."""
        from rocker.images.extract import remove_tree

        data = document if isinstance(document, bytes) else canonical_bytes(document)
        try:
            parsed = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidInput(f"the image config is not valid JSON: {e}") from None
        _validate_document(parsed, "(new image)")
        image_id = ID_PREFIX + _sha256(data)
        refs = list(refs)
        digests = list(digests)
        discard: list[str] = []
        self._ensure()

        def register(old: Any) -> dict:
            table = self._refs_of(old)
            dtable = self._digests_of(old)
            new_ids = {d for d, _ in staged}
            for diff_id in parsed["rootfs"]["diff_ids"]:
                if diff_id not in new_ids and not self._layer_complete(diff_id):
                    raise NotFound(f"layer {diff_id} of the base image is missing (was the "
                                   f"image removed?)")
            for diff_id, staging in staged:
                final = self.layer_path(diff_id)
                if self._layer_complete(diff_id):
                    discard.append(staging)  # another import got here first: reuse its layer
                    continue
                if os.path.lexists(final):  # incomplete leftover: set it aside
                    trash = self._new_tmp("trash")
                    os.rename(final, os.path.join(trash, "layer"))
                    discard.append(trash)
                os.rename(staging, final)
            if meta:
                old_meta = self.meta(image_id)
                write_json(self.meta_path(image_id), old_meta | meta)
            cpath = self.config_path(image_id)
            if not os.path.exists(cpath):
                atomic_write(cpath, data, 0o600)
            for r in refs:
                table[r] = image_id
            for r in digests:
                dtable[r] = image_id
            return {"refs": table, "digests": dtable}

        new = self._update_refs(register)
        for d in discard:
            remove_tree(d)
        img = Image(id=image_id, document=parsed,
                    refs=sorted(r for r, v in new["refs"].items() if v == image_id),
                    digests=sorted(r for r, v in new["digests"].items() if v == image_id))
        img.size = sum(self._layer_size(d, image_id) for d in dict.fromkeys(img.layers))
        img.source = self.source_of(image_id, parsed)
        return img

    def register_image(self, config: bytes, staged: list[tuple[str, str]],
                       refs: Iterable[str] = (), digests: Iterable[str] = (),
                       meta: dict | None = None) -> Image:
        """Register a pulled or loaded image: its config bytes as they are (the id is their
        sha256), the layers staged by `stage_layer` (layers already in the store need none)."""
        return self._register(staged, config, [normalize_reference(r) for r in refs],
                              meta=meta, digests=digests)

    def add_digest_ref(self, image_id: str, digest_ref: str) -> None:
        """Record `name@sha256:<manifest>` for an image (after a push)."""
        def fn(old: Any) -> dict:
            table, dtable = self._refs_of(old), self._digests_of(old)
            dtable[digest_ref] = image_id
            return {"refs": table, "digests": dtable}
        self._update_refs(fn)

    def usage(self) -> dict[str, int]:
        """Bytes the store holds: layers (extracted), their blobs, unfinished downloads."""
        out = {"layers": 0, "layers_bytes": 0, "blobs": 0, "blobs_bytes": 0,
               "downloads": 0, "downloads_bytes": 0}
        try:
            names = os.listdir(self.layers_root)
        except FileNotFoundError:
            names = []
        for n in names:
            try:
                meta = read_json(os.path.join(self.layers_root, n, LAYER_JSON))
            except (OSError, CorruptRecord):
                continue
            out["layers"] += 1
            out["layers_bytes"] += int(meta.get("size") or 0) if isinstance(meta, dict) else 0
            try:
                out["blobs_bytes"] += os.stat(os.path.join(self.layers_root, n, BLOB)).st_size
                out["blobs"] += 1
            except OSError:
                pass
        for n in self._downloads():
            try:
                size = os.stat(os.path.join(self.root, "downloads", n)).st_size
            except FileNotFoundError:
                continue      # only its lock file is left
            out["downloads"] += 1
            out["downloads_bytes"] += size
        return out

    def _downloads(self) -> list[str]:
        """Blob hexes with a download file or a lock file."""
        try:
            names = os.listdir(os.path.join(self.root, "downloads"))
        except FileNotFoundError:
            return []
        return sorted({n.removesuffix(".lock") for n in names
                       if full_hex(n.removesuffix(".lock"))})

    def prune_downloads(self) -> int:
        """Remove unfinished downloads no pull is working on; bytes freed."""
        import fcntl
        freed = 0
        d = os.path.join(self.root, "downloads")
        for n in self._downloads():
            lock = os.path.join(d, n + ".lock")
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue     # a pull is downloading it
                try:
                    freed += os.stat(os.path.join(d, n)).st_size
                    os.unlink(os.path.join(d, n))
                except FileNotFoundError:
                    pass
                os.unlink(lock)
            finally:
                os.close(fd)
        return freed

    def prune_layers(self) -> list[tuple[str, int]]:
        """Remove layers no image names (left by a crash between the layer's rename and the
        config's write), under the store's lock: [(diff_id, bytes)]."""
        from rocker.images.extract import remove_tree
        gone: list[tuple[str, int]] = []
        doomed: list[str] = []

        def fn(old: Any) -> dict:
            used: set[str] = set()
            for image_id in self.image_ids():
                used.update(self._layers_of(image_id) or [])
            try:
                names = os.listdir(self.layers_root)
            except FileNotFoundError:
                names = []
            for n in names:
                diff_id = ID_PREFIX + n
                if not full_hex(n) or diff_id in used:
                    continue
                try:
                    size = int((read_json(os.path.join(self.layers_root, n, LAYER_JSON))
                                or {}).get("size") or 0)
                except (OSError, CorruptRecord, AttributeError, ValueError):
                    size = 0
                trash = self._new_tmp("delete")
                os.rename(os.path.join(self.layers_root, n), os.path.join(trash, "layer"))
                doomed.append(trash)
                gone.append((diff_id, size))
            return {"refs": self._refs_of(old), "digests": self._digests_of(old)}

        self._ensure()
        self.prune_tmp()
        self._update_refs(fn)
        for d in doomed:
            remove_tree(d)
        return gone

    def has_layer(self, diff_id: str) -> bool:
        """Whether the layer is complete in the store (a pull or load can skip it)."""
        return self._layer_complete(diff_id)

    def layer_info(self, diff_id: str) -> dict:
        """layer.json of a layer (NotFound if it is not in the store)."""
        try:
            meta = read_json(os.path.join(self.layer_path(diff_id), LAYER_JSON))
        except FileNotFoundError:
            raise NotFound(f"layer {diff_id} is not in the store") from None
        if not isinstance(meta, dict):
            raise CorruptRecord(f"corrupt layer record of {diff_id}")
        return meta

    def layer_blob(self, diff_id: str) -> tuple[str, dict]:
        """(path, {"digest", "size", "compression"}) of the blob a layer is saved and pushed
        as. A layer imported by an older rocker has none: its tar is written now from the
        extracted folder (whiteouts back to `.wh.` entries) and kept; its digest is then not
        the diff id the image's config names (see `export_config`)."""
        meta = self.layer_info(diff_id)
        path = os.path.join(self.layer_path(diff_id), BLOB)
        blob = meta.get("blob")
        if isinstance(blob, dict) and os.path.isfile(path):
            return path, blob
        from rocker.images.diff import write_upper_tar
        from rocker.state.store import write_json as _write
        import hashlib
        tmp = path + f".tmp-{os.getpid()}"

        class _Hash:
            def __init__(self, f):
                self.f, self.h, self.n = f, hashlib.sha256(), 0

            def write(self, b):
                self.h.update(b)
                self.n += len(b)
                return self.f.write(b)

        with open(tmp, "wb", buffering=1 << 20) as out:
            w = _Hash(out)
            write_upper_tar(os.path.join(self.layer_path(diff_id), DIFF), w)  # type: ignore
        os.rename(tmp, path)
        blob = {"digest": "sha256:" + w.h.hexdigest(), "size": w.n, "compression": "none",
                "regenerated": True}
        _write(os.path.join(self.layer_path(diff_id), LAYER_JSON), meta | {"blob": blob})
        return path, blob

    def stage_layer(self, path: str, blob: dict, expect_diff_id: str | None,
                    progress: Callable[[int, int | None], None] | None = None,
                    verified: bool = False, move: bool = True) -> str:
        """Extract the blob file `path` ({"digest", "size"}; digest None: whatever it is) into
        a staging folder for `register_image`, moving (or with move=False copying) the file in
        as the layer's blob. Unless `verified`, its digest and size are checked while it is
        read. The diff id must be `expect_diff_id` (what the config's rootfs.diff_ids says),
        else nothing is kept and InvalidInput says so. Returns the staging folder."""
        from rocker.images.extract import extract_layer, remove_tree
        from rocker.util.timefmt import now_rfc3339

        staging = self._new_tmp("layer")
        try:
            diff = os.path.join(staging, DIFF)
            os.mkdir(diff, 0o755)
            os.chmod(diff, 0o755)
            with open(path, "rb", buffering=0) as raw:
                f = _DigestReader(raw)
                info = extract_layer(f, diff, total=blob.get("size"),  # type: ignore[arg-type]
                                     progress=progress)
                actual = f.drain()
                size = raw.tell()
            if blob.get("digest") is None:
                blob = dict(blob, digest=actual, size=size)
            elif not verified and (actual != blob["digest"] or size != blob.get("size")):
                raise InvalidInput(f"blob {blob['digest'][:19]}: content is {actual[:19]} "
                                   f"({size} bytes, {blob.get('size')} expected): corrupt or "
                                   "tampered")
            if expect_diff_id is not None and info.diff_id != expect_diff_id:
                raise InvalidInput(f"layer {blob['digest'][:19]}: its uncompressed content "
                                   f"is {info.diff_id[:19]}, the image config says "
                                   f"{expect_diff_id[:19]} (corrupt or tampered layer)")
            if move:
                os.rename(path, os.path.join(staging, BLOB))
            else:
                import shutil
                shutil.copyfile(path, os.path.join(staging, BLOB))
            write_json(os.path.join(staging, LAYER_JSON),
                       {"diff_id": info.diff_id, "size": info.size, "tar_size": info.tar_size,
                        "created": now_rfc3339(),
                        "blob": {"digest": blob["digest"], "size": blob["size"],
                                 "compression": info.compression}})
        except BaseException:
            remove_tree(staging)
            raise
        return staging

    def new_work_folder(self, kind: str) -> str:
        """A private folder under tmp/ (removed by its creator, or by the next prune once the
        creator is gone)."""
        self.prune_tmp()
        return self._new_tmp(kind)

    def _layer_complete(self, diff_id: str) -> bool:
        return os.path.isfile(os.path.join(self.layer_path(diff_id), LAYER_JSON))

    def _stage_layer(self, f: BinaryIO, total: int | None,
                     progress: Callable[[int, int | None], None] | None) -> tuple[str, str, Any]:
        """Extract `f` into a new staging folder: (diff_id, staging folder, LayerInfo)."""
        from rocker.images.extract import extract_layer, remove_tree
        from rocker.util.timefmt import now_rfc3339
        from rocker.state.store import write_json

        staging = self._new_tmp("layer")
        try:
            diff = os.path.join(staging, DIFF)
            os.mkdir(diff, 0o755)
            os.chmod(diff, 0o755)
            with open(os.path.join(staging, BLOB), "wb", buffering=1 << 20) as keep:
                info = extract_layer(f, diff, total=total, progress=progress, keep=keep)
            write_json(os.path.join(staging, LAYER_JSON),
                       {"diff_id": info.diff_id, "size": info.size, "tar_size": info.tar_size,
                        "created": now_rfc3339(),
                        "blob": {"digest": info.blob_digest, "size": info.blob_size,
                                 "compression": info.blob_compression}})
        except BaseException:
            remove_tree(staging)
            raise
        return info.diff_id, staging, info

    # ------------------------------------------------------------------ import / commit

    def import_tar(self, src: str | os.PathLike | BinaryIO, ref: str | None,
                   changes: list[str] | None = None, message: str | None = None,
                   progress: Callable[[int, int | None], None] | None = None) -> Image:
        """Import a (maybe compressed) tar as a one-layer image named `ref` (None: untagged).

        `src` is a path or a binary file object (stdin works: the tar is streamed). `progress`
        is called as progress(bytes_read, total_or_None) now and then. The config records the
        source identity (`rocker_source`: the sha256 of the bytes actually read and the
        canonical changes), so anyone can tell whether a reference is current for a tar."""
        from rocker.images.changes import apply_changes, parse_changes
        from rocker.images.extract import remove_tree
        from rocker.util.timefmt import now_rfc3339

        norm = normalize_reference(ref) if ref is not None else None
        parsed = parse_changes(changes)
        self._ensure()
        self.prune_tmp()
        opened = None
        if isinstance(src, (str, os.PathLike)):
            try:
                opened = open(src, "rb", buffering=0)
            except FileNotFoundError:
                raise NotFound(f"no such file: {os.fspath(src)}") from None
            except IsADirectoryError:
                raise InvalidInput(f"{os.fspath(src)} is a folder, not a tar archive") from None
            except PermissionError:
                raise InvalidInput(f"cannot read {os.fspath(src)}: permission denied") from None
            f: BinaryIO = opened
        else:
            f = src
        total = None
        try:
            import stat as _stat
            st = os.fstat(f.fileno())
            if _stat.S_ISREG(st.st_mode):
                total = st.st_size
        except (AttributeError, OSError, ValueError):
            pass
        staging = None
        reader = _DigestReader(f)
        try:
            diff_id, staging, _info = self._stage_layer(reader, total, progress)  # type: ignore
            from rocker.images.archive import looks_like_image_archive
            what = looks_like_image_archive(os.path.join(staging, DIFF))
            if what is not None:
                shown = "-" if not isinstance(src, (str, os.PathLike)) else os.fspath(src)
                raise InvalidInput(f"{shown} is {what}, not a root filesystem: load it with "
                                   f"`rocker load -i {shown}`")
            digest = reader.drain()
            now = now_rfc3339()
            config = apply_changes(DEFAULT_CONFIG, parsed)
            history = {"created": now, "created_by": "rocker import"}
            if message:
                history["comment"] = message
            document = {
                "architecture": _arch(),
                "os": "linux",
                "created": now,
                "comment": message or "",
                "config": config,
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [history],
            }
            source = {"digest": digest, "changes": [[k, v] for k, v in parsed]}
            return self._register([(diff_id, staging)], document, [norm] if norm else [],
                                  meta={"source": source})
        finally:
            if opened is not None:
                opened.close()
            if staging is not None and os.path.lexists(staging):
                remove_tree(staging)

    def commit(self, upper_dir: str, base_image_id: str, ref: str | None,
               changes: list[str] | None = None, message: str | None = None,
               author: str | None = None, skip=None) -> Image:
        """A new image: the base image's layers plus one layer made from an overlay upper dir.

        `skip(rel, st)` leaves entries out of the layer (rocker's own mount points).

        Whiteouts and opaque folders of the upper dir become `.wh.` entries (see
        rocker.images.diff); the config is the base's with `changes` applied."""
        from rocker.images.changes import apply_changes, parse_changes
        from rocker.images.diff import write_upper_tar
        from rocker.images.extract import remove_tree
        from rocker.util.timefmt import now_rfc3339

        norm = normalize_reference(ref) if ref is not None else None
        parsed = parse_changes(changes)
        if not os.path.isdir(upper_dir):
            raise NotFound(f"no such folder: {upper_dir}")
        base = self.resolve(base_image_id)
        self._ensure()
        self.prune_tmp()
        work = self._new_tmp("commit")
        staging = None
        try:
            tar_path = os.path.join(work, "layer.tar")
            with open(tar_path, "wb", buffering=1 << 20) as out:
                write_upper_tar(upper_dir, out, skip=skip)
            with open(tar_path, "rb", buffering=0) as f:
                diff_id, staging, _info = self._stage_layer(f, None, None)
            os.unlink(tar_path)
            now = now_rfc3339()
            document = json.loads(json.dumps(base.document))
            document.pop(SOURCE_KEY, None)   # a commit is not what the base's tar holds
            document["created"] = now
            document["config"] = apply_changes(base.config, parsed)
            document["comment"] = message or ""
            if author:
                document["author"] = author
            else:
                document.pop("author", None)
            history = {"created": now, "created_by": "rocker commit"}
            if message:
                history["comment"] = message
            if author:
                history["author"] = author
            document["history"] = base.history + [history]
            document["rootfs"] = {"type": "layers", "diff_ids": base.layers + [diff_id]}
            return self._register([(diff_id, staging)], document, [norm] if norm else [])
        finally:
            remove_tree(work)
            if staging is not None and os.path.lexists(staging):
                remove_tree(staging)

    # ------------------------------------------------------------------ tag / remove

    def tag(self, source: str, target: str) -> Image:
        """Point the reference `target` at the image `source` names."""
        norm = normalize_reference(target)
        img = self.resolve(source)
        self._ensure()

        def fn(old: Any) -> dict:
            table = self._refs_of(old)
            if not os.path.exists(self.config_path(img.id)):
                raise NotFound(f"no such image: {source}")
            table[norm] = img.id
            return {"refs": table}

        self._update_refs(fn)
        if norm not in img.refs:
            img.refs = sorted(img.refs + [norm])
        return img

    def remove(self, ref_or_id: str, force: bool = False,
               in_use: Callable[[str], list[str]] | None = None) -> list[tuple[str, str]]:
        """Untag and/or delete an image, Docker's way. Returns [("Untagged"|"Deleted", what)].

        - a reference of an image that has others: only that reference goes (untag);
        - the last reference, or an id: the image goes, with every layer no other image uses;
        - an id of an image with several references: refused unless `force` (then all go);
        - an image used by a container (`in_use(image_id)` returns their names): refused unless
          `force`; forced, its references go but the image itself stays (the containers still
          need its layers) and shows as <none> until removed by id once unused.
        """
        from rocker.images.extract import remove_tree

        image_id, by_ref, _ = self._resolve_id(ref_or_id)
        out: list[tuple[str, str]] = []
        doomed: list[str] = []

        def fn(old: Any) -> dict:
            table = self._refs_of(old)
            if not os.path.exists(self.config_path(image_id)):
                raise NotFound(f"no such image: {ref_or_id}")
            mine = sorted(r for r, v in table.items() if v == image_id)
            short = image_id[7:19]
            if by_ref is not None and "@" in by_ref:   # a digest reference
                dtable = self._digests_of(old)
                if dtable.get(by_ref) != image_id:
                    raise NotFound(f"no such image: {ref_or_id}")
                if mine or sum(v == image_id for v in dtable.values()) > 1:
                    del dtable[by_ref]
                    out.append(("Untagged", by_ref))
                    return {"refs": table, "digests": dtable}
            elif by_ref is not None:
                if table.get(by_ref) != image_id:
                    raise NotFound(f"no such image: {ref_or_id}")
                if len(mine) > 1:
                    del table[by_ref]
                    out.append(("Untagged", by_ref))
                    return {"refs": table}
            elif len(mine) > 1 and not force:
                raise Conflict(f"image {short} has several references ({', '.join(mine)}): "
                               f"remove them by name, or use -f to remove them all")
            users = list(in_use(image_id)) if in_use is not None else []
            if users and not force:
                raise Conflict(f"image {ref_or_id} ({short}) is used by container(s) "
                               f"{', '.join(users)}: remove them first, or use -f")
            for r in mine:
                del table[r]
                out.append(("Untagged", r))
            left = {}
            for r, v in sorted(self._digests_of(old).items()):
                if v == image_id:
                    out.append(("Untagged", r))
                else:
                    left[r] = v
            if users:   # forced: the containers keep the image data
                return {"refs": table, "digests": left}
            layers = self._layers_of(image_id)
            os.unlink(self.config_path(image_id))
            try:
                os.unlink(self.meta_path(image_id))
            except FileNotFoundError:
                pass
            out.append(("Deleted", image_id))
            still_used: set[str] = set()
            for other in self.image_ids():
                still_used.update(self._layers_of(other) or [])
            for diff_id in reversed(layers or []):
                if diff_id in still_used or not os.path.lexists(self.layer_path(diff_id)):
                    continue
                trash = self._new_tmp("delete")
                os.rename(self.layer_path(diff_id), os.path.join(trash, "layer"))
                doomed.append(trash)
                out.append(("Deleted", diff_id))
            return {"refs": table}

        self._ensure()
        self.prune_tmp()
        self._update_refs(fn)
        for d in doomed:
            remove_tree(d)
        return out

    def source_of(self, image_id: str, doc: Any = None) -> dict | None:
        """The source identity recorded for an image ({"digest", "changes"}): beside its config
        (meta), or inside a config written by an older rocker; None when it has none
        (committed, pulled, loaded) or cannot be read."""
        src = self.meta(image_id).get("source")
        if src is None:
            if doc is None:
                try:
                    with open(self.config_path(image_id), "rb") as f:
                        doc = json.loads(f.read())
                except (OSError, ValueError):
                    return None
            src = doc.get(SOURCE_KEY) if isinstance(doc, dict) else None
        if not isinstance(src, dict) or not isinstance(src.get("digest"), str) or \
                not isinstance(src.get("changes", []), list):
            return None
        return src

    def _layers_of(self, image_id: str) -> list[str] | None:
        """The diff ids of an image, or None if its config cannot be read."""
        try:
            with open(self.config_path(image_id), "rb") as f:
                doc = json.loads(f.read())
            return list(_validate_document(doc, image_id)["rootfs"]["diff_ids"])
        except (OSError, ValueError, CorruptRecord):
            return None


def _legacy_spelling(ref: str) -> str:
    """`ref` as rockers before Hub short names stored it (`library/x` stayed `library/x`)."""
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last else ref + ":" + "latest"
