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
        # an image pulled by digest alone shows its repository with tag <none>, as Docker does
        refs = img.refs or sorted({d.split("@", 1)[0] + ":<none>" for d in img.digests}) or \
            ["<none>:<none>"]
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
        "RepoDigests": img.digests,
        "Created": img.created,
        "Size": img.size,
        "Architecture": doc.get("architecture", ""),
        "Variant": doc.get("variant", ""),
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
    """Manage images: ls, inspect, rm, tag, import, repair, pull, push, load, save, history,
    prune."""


image_group.add_command(images_cmd, "ls")
image_group.add_command(inspect_cmd, "inspect")
image_group.add_command(rmi_cmd, "rm")
image_group.add_command(tag_cmd, "tag")
image_group.add_command(import_cmd, "import")
image_group.add_command(repair_cmd, "repair")

__all__ = ["import_cmd", "images_cmd", "image_group", "tag_cmd", "rmi_cmd", "inspect_cmd",
           "InvalidInput"]


# ------------------------------------------------------------------------------ ecosystem

def _say(quiet: bool):
    if quiet:
        return None
    return lambda line: click.echo(line, err=True)


def ensure_image(paths, image: str, policy: str, platform: str | None = None) -> None:
    """The pull of `run`/`create` --pull (rocker.cli.containers decides whether one is
    needed: `missing` pulls an image the store lacks, `always` pulls every time, `never`
    never)."""
    from rocker.images.store import ImageStore
    store = ImageStore(paths)
    from rocker.images.refs import normalize_reference
    from rocker.images.registry import pull
    try:
        shown = normalize_reference(image)
    except InvalidInput:
        return       # create says what is wrong with the name
    said = []

    def say(line: str) -> None:   # Docker's first line, once the pull is under way
        if not said and policy == "missing":
            click.echo(f"Unable to find image '{shown}' locally", err=True)
        said.append(line)
        click.echo(line, err=True)
    try:
        p = pull(store, image, platform=platform, say=say, tty=sys.stderr.isatty())
    except RockerError as e:
        if policy == "missing":
            raise NotFound(f"no such image: {shown} (not in the store, and pulling it "
                           f"failed: {e})") from None
        raise
    click.echo(f"Digest: {p.digest}", err=True)
    click.echo(f"Status: {'Downloaded newer image' if p.status == 'downloaded' else 'Image is up to date'} for {shown}", err=True)  # noqa: E501


@click.command("pull")
@click.argument("reference", metavar="[REGISTRY/]NAME[:TAG|@DIGEST]")
@click.option("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
              help="The platform to pick from an image index (default: the host's).")
@click.option("--tls-verify/--no-tls-verify", "tls_verify", default=True,
              help="Check the registry's TLS certificate (false: also allow plain HTTP).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.pass_obj
def pull_cmd(obj, reference: str, platform: str | None, tls_verify: bool, quiet: bool) -> None:
    """Pull an image from a registry (OCI distribution API v2)."""
    from rocker.images.registry import pull
    p = pull(_store(obj), reference, platform=platform, tls_verify=tls_verify,
             say=_say(quiet), tty=sys.stderr.isatty() and not quiet)
    if quiet:
        click.echo(p.image.id)
        return
    if p.platform:
        click.echo(f"Platform: {p.platform}")
    click.echo(f"Digest: {p.digest}")
    status = "Downloaded newer image" if p.status == "downloaded" else "Image is up to date"
    click.echo(f"Status: {status} for {p.ref} (ID: {p.image.short_id}, "
               f"{p.new_layers} new layers)")


@click.command("push")
@click.argument("image", metavar="IMAGE")
@click.argument("target", required=False, metavar="[REGISTRY/]NAME[:TAG]")
@click.option("--tls-verify/--no-tls-verify", "tls_verify", default=True,
              help="Check the registry's TLS certificate (false: also allow plain HTTP).")
@click.option("--chunk-size", default="16MB", metavar="SIZE",
              help="Blobs larger than this are uploaded in chunks of this size.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the manifest digest.")
@click.pass_obj
def push_cmd(obj, image: str, target: str | None, tls_verify: bool, chunk_size: str,
             quiet: bool) -> None:
    """Push a local image to a registry (as TARGET, default IMAGE's own name)."""
    from rocker.images.registry import push
    from rocker.cgroups.limits import parse_bytes
    chunk = parse_bytes(chunk_size, "--chunk-size")
    if chunk <= 0:
        raise InvalidInput("--chunk-size must be more than 0")
    ref, digest = push(_store(obj), image, target, tls_verify=tls_verify, chunk=chunk,
                       say=_say(quiet), tty=sys.stderr.isatty() and not quiet)
    click.echo(digest if quiet else f"Pushed {ref}: digest: {digest}")


@click.command("login")
@click.argument("registry")
@click.option("-u", "--username", default=None)
@click.option("-p", "--password", default=None, help="(visible to other users: prefer "
                                                     "--password-stdin)")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--tls-verify/--no-tls-verify", "tls_verify", default=True)
def login_cmd(registry: str, username: str | None, password: str | None,
              password_stdin: bool, tls_verify: bool) -> None:
    """Log in to a registry: the credentials are checked, then kept (mode 0600)."""
    from rocker.images.refs import parse_reference
    from rocker.images.registry import login
    reg = parse_reference(f"{registry.split('://')[-1].rstrip('/')}/x").registry
    if password_stdin:
        if password is not None:
            raise InvalidInput("--password and --password-stdin exclude each other")
        password = sys.stdin.readline().rstrip("\r\n")
    if username is None:
        if not sys.stdin.isatty():
            raise InvalidInput("a user name is needed: -u USER")
        username = click.prompt("Username")
    if password is None:
        if not sys.stdin.isatty():
            raise InvalidInput("a password is needed: --password-stdin")
        password = click.prompt("Password", hide_input=True)
    path = login(reg, username, password, tls_verify=tls_verify)
    click.echo(f"Login Succeeded (credentials in {path})")


@click.command("logout")
@click.argument("registry")
def logout_cmd(registry: str) -> None:
    """Forget the credentials rocker keeps for a registry."""
    from rocker.images.auth import remove, rocker_auth_file
    from rocker.images.refs import parse_reference
    reg = parse_reference(f"{registry.split('://')[-1].rstrip('/')}/x").registry
    if not remove(reg):
        raise NotFound(f"not logged in to {reg} (in {rocker_auth_file()})")
    click.echo(f"Removed login credentials for {reg}")


@click.command("load")
@click.option("-i", "--input", "source", default="-", metavar="FILE|DIR",
              help="The archive (docker-archive, oci-archive) or OCI layout folder; "
                   "default stdin.")
@click.option("--platform", default=None, metavar="OS/ARCH",
              help="For an archive holding an image index.")
@click.option("-q", "--quiet", is_flag=True, help="Say less.")
@click.pass_obj
def load_cmd(obj, source: str, platform: str | None, quiet: bool) -> None:
    """Load images from an archive made by save (rocker, docker, podman, skopeo)."""
    from rocker.images.archive import load
    if source == "-" and sys.stdin.isatty():
        raise InvalidInput("no archive given: rocker load -i FILE (or pipe one into stdin)")
    src = sys.stdin.buffer if source == "-" else source
    for item in load(_store(obj), src, say=_say(quiet), platform=platform,
                     tty=sys.stderr.isatty() and not quiet):
        if item.refs:
            for r in item.refs:
                click.echo(f"Loaded image: {r}")
        else:
            click.echo(f"Loaded image ID: {item.image_id}")


@click.command("save")
@click.option("-o", "--output", default="-", metavar="FILE", help="Default: stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Say nothing.")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.pass_obj
def save_cmd(obj, output: str, quiet: bool, images: tuple[str, ...]) -> None:
    """Save images to one tar that docker/podman load and OCI tools read."""
    from rocker.images.archive import save
    store = _store(obj)
    for name in images:
        store.resolve(name)       # every name is checked before anything is written
    _write_archive(output, lambda f: save(store, list(images), f, say=_say(quiet),
                                          tty=sys.stderr.isatty() and not quiet))


def _write_archive(output: str, write) -> None:
    """`write(binary file)` to stdout (`-`, never a terminal) or to a temporary file beside
    `output` renamed into place, so a failure leaves no half archive."""
    if output == "-":
        if sys.stdout.isatty():
            raise InvalidInput("refusing to write an archive to a terminal: -o FILE")
        write(sys.stdout.buffer)
        return
    tmp = f"{output}.rocker-tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.rename(tmp, output)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@click.command("export")
@click.option("-o", "--output", default="-", metavar="FILE", help="Default: stdout.")
@click.argument("container")
@click.pass_obj
def export_cmd(obj, output: str, container: str) -> None:
    """Write a container's filesystem (image layers and its changes) as one tar."""
    from rocker.containers import records
    from rocker.images.export import write_merged_tar
    rec = records.load(obj.paths, records.resolve(obj.paths, container))
    root = rec.get("rootfs") or {}
    dirs = [root["upper"]] + list(root.get("lower") or [])
    _write_archive(output, lambda f: write_merged_tar(dirs, f))


@click.command("history")
@click.option("-q", "--quiet", is_flag=True, help="Only the image ID.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("image")
@click.pass_obj
def history_cmd(obj, quiet: bool, fmt: str, image: str) -> None:
    """Show how an image was made: one row per history entry, newest first."""
    from rocker.util.units import format_size
    store = _store(obj)
    img = store.resolve(image)
    if quiet:
        click.echo(img.short_id)
        return
    rows = []
    layers = list(img.layers)
    li = 0
    for h in img.history:
        if not isinstance(h, dict):
            continue
        size = 0
        if not h.get("empty_layer") and li < len(layers):
            try:
                size = int(store.layer_info(layers[li]).get("size") or 0)
            except RockerError:
                size = 0
            li += 1
        rows.append({"Created": h.get("created", ""), "CreatedBy": h.get("created_by", ""),
                     "Size": size, "Comment": h.get("comment", "")})
    rows.reverse()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    table = [("IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT")]
    for i, r in enumerate(rows):
        by = r["CreatedBy"] if len(r["CreatedBy"]) <= 45 else r["CreatedBy"][:44] + "…"
        table.append((img.short_id if i == 0 else "<missing>", r["Created"][:19], by,
                      format_size(r["Size"]), r["Comment"]))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        click.echo("   ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "   " + row[4])


@click.command("prune")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Remove every image no container uses, not only the unnamed ones.")
@click.option("-f", "--force", is_flag=True, help="(accepted for Docker's sake; never asks)")
@click.pass_obj
def prune_cmd(obj, all_: bool, force: bool) -> None:
    """Remove unnamed images (`<none>`) no container uses; with -a every unused image; and
    layers no image uses, and leftover downloads."""
    from rocker.util.units import format_size
    store = _store(obj)
    in_use = _in_use(obj.paths)
    freed = 0
    for img in store.images():
        if img.refs and not all_:
            continue
        if in_use(img.id):
            continue
        before = store.usage()["layers_bytes"]
        for action, what in store.remove(img.id, force=True, in_use=in_use):
            click.echo(f"{action}: {what}")
        freed += max(0, before - store.usage()["layers_bytes"])
    for diff_id, size in store.prune_layers():
        click.echo(f"Deleted: {diff_id} (a layer no image uses)")
        freed += size
    freed += store.prune_downloads()
    click.echo(f"Total reclaimed space: {format_size(freed)}")


@click.group("system")
def system_group() -> None:
    """System-wide information: df."""


@system_group.command("df")
@click.pass_obj
def df_cmd(obj) -> None:
    """Disk usage of images and containers."""
    from rocker.containers.records import containers_using_image
    from rocker.util.units import format_size
    store = _store(obj)
    images = store.images()
    u = store.usage()
    active = [i for i in images if containers_using_image(obj.paths, i.id)]
    used_layers: set[str] = set()
    for i in active:
        used_layers.update(i.layers)
    reclaim = 0
    for d in {d for i in images for d in i.layers} - used_layers:
        try:
            reclaim += int(store.layer_info(d).get("size") or 0)
        except RockerError:
            pass
    click.echo(f"{'TYPE':<12}{'TOTAL':>7}{'ACTIVE':>8}{'SIZE':>12}{'RECLAIMABLE':>14}")
    click.echo(f"{'Images':<12}{len(images):>7}{len(active):>8}"
               f"{format_size(u['layers_bytes']):>12}{format_size(reclaim):>14}")
    click.echo(f"{'Blobs':<12}{u['blobs']:>7}{'':>8}{format_size(u['blobs_bytes']):>12}"
               f"{'':>14}")
    click.echo(f"{'Downloads':<12}{u['downloads']:>7}{'':>8}"
               f"{format_size(u['downloads_bytes']):>12}{format_size(u['downloads_bytes']):>14}")


image_group.add_command(pull_cmd, "pull")
image_group.add_command(push_cmd, "push")
image_group.add_command(load_cmd, "load")
image_group.add_command(save_cmd, "save")
image_group.add_command(history_cmd, "history")
image_group.add_command(prune_cmd, "prune")
