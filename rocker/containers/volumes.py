"""Volumes and the containers that use them: a container's mounts resolved at create (volumes
made, anonymous ones too, binds checked), which containers use a volume, and removals that
refuse a volume in use (`volume rm`, `volume prune`, the anonymous volumes of `rm -v`/`--rm`).

A container uses a volume from its create until its record is gone, running or not (Docker's
rule). `prepare` holds the volume lock from resolving the mounts until the container's record
is in place, and every removal takes the same lock and looks at every record, so a volume can
never be removed between a create that names it and the record that says so.
"""

from __future__ import annotations

import contextlib
import os

from rocker.containers import records
from rocker.errors import Conflict, InvalidInput
from rocker.paths import Paths



def _store():
    """rocker.volumes.store, loaded only by a container that has volumes (most have none)."""
    from rocker.volumes import store
    return store

def users(paths: Paths, name: str, but: str | None = None) -> list[str]:
    """The names of the containers (other than `but`) whose record mounts volume `name`."""
    out = []
    for cid, rec, _err in records.iter_records(paths):
        if cid == but or rec is None:
            continue
        if any(m.get("type") == "volume" and m.get("name") == name
               for m in rec.get("mounts") or ()):
            out.append(rec.get("name") or cid[:12])
    return out


def _image_volumes(image_config: dict, taken: set[str]) -> list[dict]:
    from rocker.containers.mounts import clean_target
    out = []
    for target in sorted(image_config.get("Volumes") or {}):
        try:
            t = clean_target(str(target), "image volume")
        except InvalidInput:
            continue  # an image's Volumes entry that could not be a mount (Docker skips it)
        if t not in taken:
            taken.add(t)
            out.append({"type": "volume", "source": "", "target": t, "readonly": False})
    return out


def needs_store(cfg, image_config: dict) -> bool:
    return bool(cfg.mounts or cfg.tmpfs or cfg.volumes_from or image_config.get("Volumes"))


def _from_others(paths: Paths, refs: list[str], taken: set[str]) -> list[dict]:
    """--volumes-from: the volumes and binds of other containers as their records resolved
    them (tmpfs mounts are their own), `:ro` / `:rw` overriding their mode; a target the
    container mounts itself is its own."""
    from rocker.errors import NotFound
    out = []
    for item in refs:
        ref, _, mode = item.removeprefix("container:").partition(":")
        try:
            other = records.load(paths, records.resolve(paths, ref))
        except (NotFound, FileNotFoundError):
            raise NotFound(f"--volumes-from {ref}: no such container") from None
        for m in other.get("mounts") or ():
            if m["type"] == "tmpfs" or m["target"] in taken:
                continue
            taken.add(m["target"])
            m = dict(m, readonly=(mode == "ro") if mode else bool(m.get("readonly")))
            m["copy_up"] = False   # its data is the other container's, as it is
            out.append(m)
    return out


@contextlib.contextmanager
def prepare(paths: Paths, cfg, image_config: dict):
    """The mounts of a container being created, as its record keeps them: volumes (named
    ones made when missing, anonymous ones made), binds (a --mount source must exist; a -v
    folder is made when missing, as Docker does), tmpfs mounts. Yields the list while holding
    the volume lock; if the body fails, what this made is taken back (volumes, folders)."""
    if not needs_store(cfg, image_config):
        yield []
        return
    made_volumes: list[str] = []
    made_dirs: list[str] = []
    with _store().locked(paths):
        try:
            out = _resolve(paths, cfg, image_config, made_volumes, made_dirs)
            yield out
        except BaseException:
            for name in made_volumes:
                try:
                    _store().remove_locked(paths, name)
                except Exception:  # noqa: BLE001 - collected by a later volume command
                    pass
            for d in reversed(made_dirs):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            raise


def _make_host_dir(path: str, made: list[str]) -> None:
    missing = []
    p = path
    while p != "/" and not os.path.lexists(p):
        missing.append(p)
        p = os.path.dirname(p)
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o755)
        except FileExistsError:
            continue
        except OSError as e:
            raise InvalidInput(f"cannot create the bind source {path}: {e.strerror}") from None
        made.append(d)


def _host_source(paths: Paths, src: str) -> str:
    """A bind source as the host resolves it, once, at create: the launcher opens exactly this
    path without following any symlink (one swapped in later is refused, never followed).
    Rocker's own storage is refused: containers write there and could plant symlinks (mount
    the volume by its name instead)."""
    real = os.path.realpath(src)
    for own in (paths.root, paths.runroot):
        top = os.path.realpath(own)
        if real == top or real.startswith(top.rstrip("/") + "/"):
            raise InvalidInput(f"bind source {src} is inside rocker's storage ({own}): mount "
                               "a volume by its name instead")
    return real


def _resolve(paths: Paths, cfg, image_config: dict, made_volumes: list[str],
             made_dirs: list[str]) -> list[dict]:
    from rocker.containers.mounts import tmpfs_options
    taken = {m["target"] for m in cfg.mounts} | set(cfg.tmpfs)
    shared = _from_others(paths, cfg.volumes_from, taken)
    out = []
    for m in [*cfg.mounts, *_image_volumes(image_config, taken)]:
        r = {"type": m["type"], "target": m["target"], "readonly": bool(m.get("readonly"))}
        if m["type"] == "volume":
            rec, made = _store().create_locked(paths, m["source"] or None, m.get("labels"),
                                            anonymous=not m["source"])
            if made:
                made_volumes.append(rec["Name"])
            r.update(name=rec["Name"], source=os.path.realpath(_store().data_path(paths, rec)),
                     anonymous=_store().is_anonymous(rec), copy_up=not m.get("nocopy"))
        elif m["type"] == "bind":
            src = m["source"]
            if not os.path.exists(src):
                if not m.get("create_host_path"):
                    raise InvalidInput(f'invalid mount config for type "bind": bind source '
                                       f'path does not exist: {src}')
                _make_host_dir(src, made_dirs)
            r.update(source=_host_source(paths, src), given=src,
                     propagation=m.get("propagation") or "rprivate",
                     nonrecursive=bool(m.get("nonrecursive")))
        else:
            r.update(source="", options=tmpfs_options("", r["readonly"], m.get("tmpfs_size"),
                                                      m.get("tmpfs_mode")), shown=True)
        out.append(r)
    for target, opts in cfg.tmpfs.items():
        out.append({"type": "tmpfs", "target": target, "source": "", "readonly": False,
                    "options": tmpfs_options(opts), "shown": False})
    for m in shared:   # a volume of theirs is checked to be there still
        if m["type"] == "volume" and not _store().exists(paths, m["name"]):
            raise InvalidInput(f"--volumes-from: the volume {m['name']} is gone")
    return out + shared


def remove(paths: Paths, name: str) -> None:
    """`volume rm`: refused while any container, running or not, uses it."""
    with _store().locked(paths):
        _store().get(paths, name)
        who = users(paths, name)
        if who:
            raise Conflict(f"volume {name} is in use by container(s) {', '.join(who)}: remove "
                           "them first")
        _store().remove_locked(paths, name)


def prune(paths: Paths, all_: bool = False, labels: list[tuple[str, str, bool]] = ()) -> list[str]:
    """`volume prune`: the unused anonymous volumes (with `all_`: every unused volume) that
    match the label filters ((key, value or "", has "=")). -> the names removed."""
    gone = []
    with _store().locked(paths):
        used = set()
        for _cid, rec, _err in records.iter_records(paths):
            for m in (rec or {}).get("mounts") or ():
                if m.get("type") == "volume":
                    used.add(m.get("name"))
        for rec in _store().list_all(paths):
            if rec["Name"] in used or not (all_ or _store().is_anonymous(rec)):
                continue
            have = rec.get("Labels") or {}
            if not all(k in have and (not eq or have[k] == v) for k, v, eq in labels):
                continue
            _store().remove_locked(paths, rec["Name"])
            gone.append(rec["Name"])
    return gone


def release_anonymous(paths: Paths, mounts: list[dict], cid: str) -> None:
    """After a container is gone (`rm -v`, `--rm`): its anonymous volumes that no other
    container uses. Named volumes stay."""
    names = [m["name"] for m in mounts or () if m.get("type") == "volume" and m.get("anonymous")]
    if not names:
        return
    with _store().locked(paths):
        for name in names:
            if _store().exists(paths, name) and not users(paths, name, but=cid):
                _store().remove_locked(paths, name)
