"""Image commands: `import`, `images`, `tag`, `rmi` and the `image` group (ls, inspect, rm,
tag, import). Parsing and rendering only; the work is done by rocker.images.store."""

from __future__ import annotations

import json
import os
import sys
import time

import click

from rocker.errors import InvalidInput, NotFound, RockerError

PROGRESS_MIN = 16 * 1024 * 1024


def _store(ctx_obj):
    from rocker.images.store import ImageStore
    return ImageStore(ctx_obj.paths)


def _in_use(paths):
    from rocker.containers.records import containers_using_image
    return lambda image_id: containers_using_image(paths, image_id)


class _ProgressBar:
    """`Importing [#####.....]  45%  120.0MB/260.0MB` on stderr, redrawn at most 10 times/s."""

    def __init__(self) -> None:
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int | None) -> None:
        from rocker.util.units import format_size
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and now - self.last < 0.1:
            return
        self.last = now
        if total:
            frac = min(1.0, done / total)
            bar = "#" * int(frac * 30)
            line = (f"Importing [{bar:<30}] {frac * 100:3.0f}%  "
                    f"{format_size(done)}/{format_size(total)}")
        else:
            line = f"Importing {format_size(done)}"
        sys.stderr.write("\r" + line + "\033[K")
        sys.stderr.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _wants_progress(src: str) -> bool:
    if not sys.stderr.isatty():
        return False
    try:
        if src == "-":
            st = os.fstat(sys.stdin.fileno())
            import stat
            return not stat.S_ISREG(st.st_mode) or st.st_size > PROGRESS_MIN
        return os.path.getsize(src) > PROGRESS_MIN
    except OSError:
        return False


@click.command("import")
@click.argument("source", metavar="TAR|-")
@click.argument("reference", metavar="NAME[:TAG]")
@click.option("-c", "--change", "changes", multiple=True, metavar="INSTRUCTION",
              help="Apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, "
                   "EXPOSE, VOLUME, STOPSIGNAL (repeatable).")
@click.option("-m", "--message", default=None, help="Commit message stored in the image.")
@click.pass_obj
def import_cmd(obj, source: str, reference: str, changes: tuple[str, ...],
               message: str | None) -> None:
    """Import a root filesystem tar (plain, gzip, bzip2 or xz; `-` for stdin) as an image."""
    from rocker.images.refs import normalize_reference
    from rocker.util.units import format_size

    ref = normalize_reference(reference)
    store = _store(obj)
    bar = _ProgressBar() if _wants_progress(source) else None
    try:
        if source == "-":
            img = store.import_tar(sys.stdin.buffer, ref, changes=list(changes),
                                   message=message, progress=bar)
        else:
            img = store.import_tar(source, ref, changes=list(changes), message=message,
                                   progress=bar)
    finally:
        if bar is not None:
            bar.done()
    click.echo(f"Imported {ref} (ID: {img.short_id}, Size: {format_size(img.size)})")


def _rows(store) -> tuple[list[dict], list]:
    from rocker.images.store import ImageError
    errors: list[ImageError] = []
    rows = []
    for img in store.images(errors):
        refs = img.refs or ["<none>:<none>"]
        for r in refs:
            name, _, tag = r.rpartition(":")
            rows.append({"Repository": name, "Tag": tag, "Id": img.id, "ShortId": img.short_id,
                         "Size": img.size, "Created": img.created, "Error": None})
    for err in errors:
        for r in err.refs or ["<none>:<none>"]:
            name, _, tag = r.rpartition(":")
            rows.append({"Repository": name, "Tag": tag, "Id": err.id, "ShortId": err.short_id,
                         "Size": None, "Created": None, "Error": err.error})
    return rows, errors


@click.command("images")
@click.option("-q", "--quiet", is_flag=True, help="Only show image ids.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              help="Output format.")
@click.pass_obj
def images_cmd(obj, quiet: bool, fmt: str) -> None:
    """List images: one row per reference."""
    from rocker.util.timefmt import local_time as format_created
    from rocker.util.units import format_size

    store = _store(obj)
    rows, errors = _rows(store)
    for err in errors:
        click.echo(f"rocker: warning: image {err.short_id}: {err.error}", err=True)
    if quiet:
        seen: dict[str, None] = {}
        for r in rows:
            seen.setdefault(r["ShortId"], None)
        for sid in seen:
            click.echo(sid)
        return
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No images yet. Import one with: rocker import rootfs.tar NAME[:TAG] "
                   "(for example: rocker import base-image/busybox.tar busybox)")
        return
    table = [("REPOSITORY", "TAG", "IMAGE ID", "SIZE", "CREATED")]
    for r in rows:
        if r["Error"]:
            table.append((r["Repository"], r["Tag"], r["ShortId"], "-",
                          "<error: see warning>"))
        else:
            table.append((r["Repository"], r["Tag"], r["ShortId"], format_size(r["Size"]),
                          format_created(r["Created"])))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        click.echo("   ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "   " + row[4])


@click.command("tag")
@click.argument("source", metavar="SOURCE")
@click.argument("target", metavar="TARGET[:TAG]")
@click.pass_obj
def tag_cmd(obj, source: str, target: str) -> None:
    """Add a reference TARGET to the image SOURCE names."""
    _store(obj).tag(source, target)


@click.command("rmi")
@click.option("-f", "--force", is_flag=True,
              help="Remove every reference of an image; untag images in use by containers.")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.pass_obj
def rmi_cmd(obj, force: bool, images: tuple[str, ...]) -> None:
    """Remove images (by reference, id or id prefix): untag, and delete what is unused."""
    store = _store(obj)
    failed: list[str] = []
    in_use = _in_use(obj.paths)
    for name in images:
        try:
            for action, what in store.remove(name, force=force, in_use=in_use):
                click.echo(f"{action}: {what}")
        except RockerError as e:
            if len(images) == 1:
                raise
            click.echo(f"rocker: {e}", err=True)
            failed.append(name)
    if failed:
        raise _Partial(f"{len(failed)} of {len(images)} images not removed: {', '.join(failed)}")


class _Partial(RockerError):
    pass


def _inspect_doc(img) -> dict:
    doc = img.document
    return {
        "Id": img.id,
        "RepoTags": img.refs,
        "Created": img.created,
        "Size": img.size,
        "Architecture": doc.get("architecture", ""),
        "Os": doc.get("os", ""),
        "Author": img.author,
        "Comment": img.comment,
        "Config": img.config,
        "RootFS": {"Type": doc.get("rootfs", {}).get("type", "layers"), "Layers": img.layers},
        "History": img.history,
    }


@click.command("inspect")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.pass_obj
def inspect_cmd(obj, images: tuple[str, ...]) -> None:
    """Show images as a JSON array (Docker-like keys)."""
    store = _store(obj)
    out, missing = [], []
    first_error: RockerError | None = None
    for name in images:
        try:
            out.append(_inspect_doc(store.resolve(name)))
        except RockerError as e:
            missing.append(name)
            first_error = first_error or e
    click.echo(json.dumps(out, indent=2))
    if missing:
        if len(missing) == 1 and first_error is not None:
            raise first_error
        raise NotFound(f"no such images: {', '.join(missing)}")


@click.command("repair")
@click.pass_obj
def repair_cmd(obj) -> None:
    """Rebuild a corrupt image reference table (repositories.json) from its last good copy."""
    r = _store(obj).repair()
    if r["aside"] is None:
        click.echo(f"The image references are intact ({r['kept']} references).")
    else:
        click.echo(f"Set the corrupt table aside as {r['aside']}.")
        click.echo(f"Rebuilt it from its last good copy: {r['kept']} references.")
    for ref in r["dropped"]:
        click.echo(f"Dropped {ref}: its image is gone.")
    for image_id in r["unnamed"]:
        click.echo(f"No reference left for {image_id[7:19]}: `rocker tag {image_id[7:19]} "
                   "NAME:TAG` names it again.")


@click.group("image")
def image_group() -> None:
    """Manage images: ls, inspect, rm, tag, import, repair."""


image_group.add_command(images_cmd, "ls")
image_group.add_command(inspect_cmd, "inspect")
image_group.add_command(rmi_cmd, "rm")
image_group.add_command(tag_cmd, "tag")
image_group.add_command(import_cmd, "import")
image_group.add_command(repair_cmd, "repair")

__all__ = ["import_cmd", "images_cmd", "image_group", "tag_cmd", "rmi_cmd", "inspect_cmd",
           "InvalidInput"]
