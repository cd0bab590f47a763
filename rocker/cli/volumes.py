"""Volume commands: the `volume` group (create, ls, inspect, rm, prune), and `cp` (files in
and out of a container's root and volumes). Parsing and rendering only; the work is done by
rocker.volumes.store, rocker.containers.volumes (which knows which containers use a volume)
and rocker.runtime.copy."""

from __future__ import annotations

import json

import click

from rocker.errors import InvalidInput, NotFound, RockerError


@click.group("volume")
def volume_group() -> None:
    """Manage volumes: create, ls, inspect, rm, prune."""


def _pairs(items, what: str) -> dict[str, str]:
    out = {}
    for item in items:
        k, eq, v = item.partition("=")
        if not k or not eq:
            raise InvalidInput(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[k] = v
    return out


def _shown(obj, rec: dict) -> dict:
    from rocker.volumes import store
    return {"CreatedAt": rec.get("CreatedAt", ""), "Driver": rec.get("Driver", "local"),
            "Labels": rec.get("Labels") or {}, "Mountpoint": store.data_path(obj.paths, rec),
            "Name": rec["Name"], "Options": rec.get("Options") or {}, "Scope": "local"}


@volume_group.command("create")
@click.option("-d", "--driver", default="local", show_default=True, help="Only local.")
@click.option("--label", "labels", multiple=True, metavar="K=V", help="Set a label.")
@click.option("-o", "--opt", "opts", multiple=True, metavar="K=V",
              help="A driver option: type=none, o=bind, device=/PATH (a host folder).")
@click.argument("name", required=False)
@click.pass_obj
def create_cmd(obj, driver, labels, opts, name) -> None:
    """Create a volume (a random name when none is given); an existing one is kept."""
    from rocker.volumes import store
    if driver != "local":
        raise InvalidInput(f"volume driver {driver!r} is not supported (only local)")
    with store.locked(obj.paths):
        rec, _made = store.create_locked(obj.paths, name, _pairs(labels, "label"),
                                         _pairs(opts, "--opt"))
    click.echo(rec["Name"])


def _filters(filters) -> list[tuple[str, str]]:
    out = []
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq or k not in ("name", "label", "dangling"):
            raise InvalidInput(f"invalid filter {f!r}: use name=, label=K[=V] or dangling=")
        if k == "dangling" and v not in ("true", "false", "1", "0"):
            raise InvalidInput(f"invalid filter {f!r}: dangling=true or dangling=false")
        out.append((k, v))
    return out


@volume_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only names.")
@click.option("-f", "--filter", "filters", multiple=True,
              help="name=, label=K[=V], dangling=true|false")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def ls_cmd(obj, quiet, filters, fmt) -> None:
    """List volumes."""
    from rocker.containers import records
    from rocker.volumes import store
    parsed = _filters(filters)
    used: set[str] | None = None
    rows = []
    for rec in store.list_all(obj.paths):
        ok = True
        for k, v in parsed:
            labels = rec.get("Labels") or {}
            if k == "name" and v not in rec["Name"]:
                ok = False
            elif k == "label":
                lk, eq, lv = v.partition("=")
                ok = ok and lk in labels and (not eq or labels[lk] == lv)
            elif k == "dangling":
                if used is None:
                    used = {m.get("name") for _c, r, _e in records.iter_records(obj.paths)
                            for m in (r or {}).get("mounts") or ()}
                ok = ok and ((rec["Name"] not in used) == (v in ("true", "1")))
        if ok:
            rows.append(_shown(obj, rec))
    if quiet:
        for r in rows:
            click.echo(r["Name"])
    elif fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo("DRIVER    VOLUME NAME")
        for r in rows:
            click.echo(f"{r['Driver']:<10}{r['Name']}")


@volume_group.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def inspect_cmd(obj, names) -> None:
    """Show volumes as JSON."""
    from rocker.volumes import store
    out, missing = [], None
    for n in names:
        try:
            out.append(_shown(obj, store.get(obj.paths, n)))
        except NotFound as e:
            missing = e
    click.echo(json.dumps(out, indent=2))
    if missing is not None:
        raise missing


@volume_group.command("rm")
@click.option("-f", "--force", is_flag=True, help="No error for a volume that does not exist.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def rm_cmd(obj, force, names) -> None:
    """Remove volumes no container uses (running or not)."""
    from rocker.containers import volumes
    failed: RockerError | None = None
    for n in names:
        try:
            volumes.remove(obj.paths, n)
            click.echo(n)
        except NotFound as e:
            if not force:
                click.echo(f"rocker: {e}", err=True)
                failed = e
        except RockerError as e:
            click.echo(f"rocker: {e}", err=True)
            failed = e
    if failed is not None:
        raise SystemExit(failed.exit_code)


@volume_group.command("prune")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Every unused volume, not only anonymous ones.")
@click.option("-f", "--force", is_flag=True, help="Do not ask (rocker never asks).")
@click.option("--filter", "filters", multiple=True, metavar="label=K[=V]",
              help="Only volumes with this label.")
@click.pass_obj
def prune_cmd(obj, all_, force, filters) -> None:
    """Remove unused anonymous volumes (with -a: every unused volume)."""
    from rocker.containers import volumes
    labels = []
    for f in filters:
        k, eq, v = f.partition("=")
        if k != "label" or not eq or not v:
            raise InvalidInput(f"invalid filter {f!r}: use label=K[=V]")
        lk, leq, lv = v.partition("=")
        labels.append((lk, lv, bool(leq)))
    gone = volumes.prune(obj.paths, all_, labels)
    if gone:
        click.echo("Deleted Volumes:")
        for n in gone:
            click.echo(n)


@click.command("cp")
@click.argument("src")
@click.argument("dst")
@click.pass_obj
def cp_cmd(obj, src, dst) -> None:
    """Copy files between a container and the host: cp CONTAINER:SRC DST | cp SRC CONTAINER:DST.

    Symlinks are copied as symlinks, never followed; owners, modes and times are kept."""
    from rocker.runtime.copy import copy
    copy(obj.paths, src, dst)
