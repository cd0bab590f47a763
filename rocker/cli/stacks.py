"""Stack commands: diff, apply, delete (alias down), status, spec schema, spec dump.

Each parses, calls rocker.stackfile (load), rocker.observe (snapshot), rocker.plan (decide) and
rocker.apply (act), and renders. pydantic and PyYAML are imported only inside these commands.
Exit codes of `diff`: 0 no changes, 2 changes, 1 error (Terraform's -detailed-exitcode).
"""

from __future__ import annotations

import json
import os
import sys

import click

from rocker.errors import InvalidInput, UsageError

FILE_OPT = click.option("-f", "--file", "file", required=True, metavar="FILE",
                        type=click.Path(dir_okay=False),
                        help="Stack file (.yaml, .yml or .toml).")


def _load(file: str, paths=None):
    """The DesiredState of a stack file (from the parse cache when nothing changed)."""
    import os

    from rocker.stackfile.cache import load_desired_cached
    cache = os.path.join(paths.stacks, ".spec-cache") if paths is not None else None
    return load_desired_cached(file, file, cache, paths)


def _color(stream=None) -> bool:
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _plan(paths, desired, adopt: bool, prune_volumes: bool = False):
    from rocker.observe import observe
    from rocker.plan import plan
    observed = observe(paths, desired)
    return plan(desired, observed, adopt=adopt, prune_volumes=prune_volumes), observed


PRUNE_VOLUMES = click.option("--prune-volumes", is_flag=True,
                             help="Remove the volumes the stack owns and no longer declares "
                                  "(their data goes with them).")


# ---------------------------------------------------------------------------------------------
# diff


@click.command("diff")
@FILE_OPT
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--adopt", is_flag=True, help="Plan as `apply --adopt` would.")
@PRUNE_VOLUMES
@click.pass_context
def diff_cmd(ctx, file, output, adopt, prune_volumes):
    """Show what `apply` would do. Exit 0: no changes, 2: changes, 1: error."""
    from rocker.plan.render import render_json, render_text
    desired = _load(file, ctx.obj.paths)
    p, _ = _plan(ctx.obj.paths, desired, adopt, prune_volumes)
    if output == "json":
        click.echo(render_json(p), nl=False)
    else:
        click.echo(render_text(p, color=_color()), nl=False)
    return 0 if p.is_empty() else 2


# ---------------------------------------------------------------------------------------------
# apply


def _confirm(yes: bool, what: str, verb: str) -> None:
    """Ask on a terminal; "no" is an answer, not an interruption: Cancelled (exit 1), with
    Terraform's words ("Apply cancelled."). Ctrl-C at the prompt stays an Abort (130)."""
    if yes or not sys.stdin.isatty():
        return
    if not click.confirm(f"Do you want to {what}?", default=False):
        from rocker.errors import Cancelled
        raise Cancelled(f"{verb} cancelled.")


@click.command("apply")
@FILE_OPT
@click.option("--dry-run", is_flag=True, help="Print the plan and stop (same as diff).")
@click.option("--wait", is_flag=True,
              help="Wait until every member is up (healthy when it has a healthcheck).")
@click.option("--timeout", default=None, metavar="S",
              help="Seconds to wait for each dependency / member, more than 0 and at most "
                   "604800 [default: 120].")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation on a terminal.")
@click.option("--adopt", is_flag=True,
              help="Take over same-named containers the stack does not own.")
@PRUNE_VOLUMES
@click.pass_context
def apply_cmd(ctx, file, dry_run, wait, timeout, yes, adopt, prune_volumes):
    """Make the host match the stack file: print the plan, then carry it out."""
    from rocker.apply import DEFAULT_TIMEOUT, execute, stack_lock
    from rocker.plan.render import render_text
    paths = ctx.obj.paths
    timeout = _apply_timeout(timeout)
    desired = _load(file, ctx.obj.paths)
    color = _color()
    if dry_run:
        p, _ = _plan(paths, desired, adopt, prune_volumes)
        click.echo(render_text(p, color=color), nl=False)
        return 0
    with stack_lock(paths, desired.stack):
        p, _ = _plan(paths, desired, adopt, prune_volumes)
        click.echo(render_text(p, color=color), nl=False)
        if p.is_empty():
            if wait:
                execute(paths, p, desired, wait=True, timeout=timeout or DEFAULT_TIMEOUT,
                        progress=_progress)
            return 0
        _confirm(yes, "apply these changes", "Apply")
        click.echo("")
        n = execute(paths, p, desired, wait=wait, timeout=timeout or DEFAULT_TIMEOUT,
                    progress=_progress)
    add, change, replace, remove = p.summary()
    click.echo(f"\nApply complete: {add} added, {change} changed, {replace} replaced, "
               f"{remove} removed ({n} actions).")
    _print_status(paths, desired.stack, desired)
    return 0


def _apply_timeout(value: str | None) -> float | None:
    """`apply --timeout`: seconds, more than 0 and at most a week (not nan, inf or negative)."""
    if value is None:
        return None
    from rocker.containers.config import MAX_TIMEOUT
    from rocker.util.durations import parse_duration
    try:
        n = parse_duration(value, "--timeout")
    except InvalidInput:
        n = -1.0
    if not 0 < n <= MAX_TIMEOUT:
        raise InvalidInput(f"invalid --timeout {value!r}: use a number of seconds, more than 0 "
                           f"and at most {MAX_TIMEOUT}")
    return n


def _progress(line: str) -> None:
    click.echo(f"  {line}")


# ---------------------------------------------------------------------------------------------
# delete / down


def stack_name(file: str | None, stack: str | None) -> str:
    """The stack named by --stack NAME or by the file of -f/--file FILE (one of them)."""
    if bool(file) == bool(stack):
        raise UsageError("give either -f/--file FILE or --stack NAME")
    if stack:
        return stack
    import os

    from rocker.stackfile.loader import load_spec
    spec, _lines, _fmt = load_spec(file, file)
    return spec.name or os.path.basename(os.path.dirname(os.path.abspath(file)))


def _delete(ctx, file, stack, yes, volumes=False):
    import dataclasses

    from rocker.apply import execute, stack_lock
    from rocker.observe import observe_stack
    from rocker.plan import DesiredState, plan
    from rocker.plan.render import render_text
    paths = ctx.obj.paths
    name = stack_name(file, stack)
    desired = DesiredState(stack=name, source=file or "")
    with stack_lock(paths, name):
        p = plan(desired, observe_stack(paths, name), prune_volumes=volumes)
        p = dataclasses.replace(p, actions=tuple(
            dataclasses.replace(a, reason=f"stack {name} is deleted") for a in p.actions))
        if p.is_empty():
            click.echo(f"Nothing to delete: stack {name} owns no containers.")
            for n in p.notes:
                click.echo(f"Note: {n}")
            return 0
        click.echo(render_text(p, color=_color()), nl=False)
        _confirm(yes, f"remove everything stack {name} owns", "Delete")
        click.echo("")
        execute(paths, p, desired, progress=_progress, volumes=volumes)
    from rocker.plan.model import NETWORK_ACTIONS, VOLUME_ACTIONS
    nets = sum(isinstance(a, NETWORK_ACTIONS) for a in p.actions)
    vols = sum(isinstance(a, VOLUME_ACTIONS) for a in p.actions)
    click.echo(f"\nStack {name} deleted: {len(p.actions) - nets - vols} container(s)"
               + (f", {nets} network(s)" if nets else "")
               + (f", {vols} volume(s)" if vols else "") + " removed.")
    return 0


_DELETE_OPTS = [
    click.option("-f", "--file", "file", default=None, metavar="FILE",
                 type=click.Path(dir_okay=False), help="Stack file (for its name)."),
    click.option("--stack", default=None, metavar="NAME", help="Stack name."),
    click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation."),
]


def _with_delete_opts(f):
    for o in reversed(_DELETE_OPTS):
        f = o(f)
    return f


@click.command("delete")
@_with_delete_opts
@click.option("-v", "--volumes", is_flag=True, help="Remove the stack's volumes too (their "
                                                    "data goes with them).")
@click.pass_context
def delete_cmd(ctx, file, stack, yes, volumes):
    """Remove every container and network the stack owns (images are kept; volumes with
    --volumes)."""
    return _delete(ctx, file, stack, yes, volumes)


@click.command("down")
@_with_delete_opts
@click.option("-v", "--volumes", is_flag=True, help="Remove the stack's volumes too.")
@click.pass_context
def down_cmd(ctx, file, stack, yes, volumes):
    """Alias of `delete`."""
    return _delete(ctx, file, stack, yes, volumes)


# ---------------------------------------------------------------------------------------------
# status


def _print_status(paths, name: str, desired=None, observed=None) -> None:
    from rocker.containers import records
    from rocker.containers import state as cstate
    from rocker.observe import observe, observe_stack
    from rocker.plan import plan
    pending: dict[str, str] = {}
    if observed is None:
        observed = observe(paths, desired) if desired is not None else observe_stack(paths, name)
    if desired is not None:
        try:
            for a in plan(desired, observed, adopt=True).actions:
                if not getattr(a, "interrupted", False):
                    pending.setdefault(a.name, a.kind)
        except Exception:  # noqa: BLE001 - status shows what it can
            pass
    names = [c.name for c in desired.containers] if desired is not None else []
    names += sorted(n for n, o in observed.containers.items()
                    if o.stack == name and n not in names)
    rows = [("NAME", "SERVICE", "ID", "PID", "STATUS", "HEALTH", "PLAN")]
    for n in names:
        o = observed.containers.get(n)
        svc = desired.container(n).service if desired is not None and desired.container(n) \
            else (o.service if o else "")
        if o is None:
            rows.append((n, svc, "-", "-", "missing", "-", pending.get(n, "create")))
            continue
        try:
            st = cstate.observed(records.load(paths, o.id)["state"])
            text = cstate.status_text(st)
            pid = str(st.get("pid")) if st.get("alive") else "-"
        except (FileNotFoundError, OSError):
            text, pid = o.status, "-"
        owner = "" if o.stack == name else f" (owned by {o.stack or 'no stack'})"
        rows.append((n, svc or "", o.id[:12], pid, text + owner, o.health or "-",
                     pending.get(n, "ok")))
    _echo_table(rows)
    nets = [("NETWORK", "SUBNET", "GATEWAY", "BRIDGE", "CONTAINERS", "PLAN")]
    wanted = [n.name for n in desired.networks] if desired is not None else []
    for n in wanted + sorted(set(observed.networks) - set(wanted)):
        o = observed.networks.get(n)
        if o is None:
            nets.append((n, "-", "-", "-", "-", pending.get(n, "create")))
            continue
        if o.stack != name and n not in wanted:
            continue
        bridge = o.bridge if o.bridge_present else "- (made on first use)"
        nets.append((n, o.subnet, o.gateway, bridge, str(len(o.users)), pending.get(n, "ok")))
    if len(nets) > 1:
        click.echo()
        _echo_table(nets)


def _echo_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("   ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


@click.command("status")
@click.option("-f", "--file", "file", default=None, metavar="FILE",
              type=click.Path(dir_okay=False), help="Stack file.")
@click.option("--stack", default=None, metavar="NAME", help="Stack name (without a file).")
@click.pass_context
def status_cmd(ctx, file, stack):
    """Each member's state, health, and what apply would do to it (PLAN)."""
    if bool(file) == bool(stack):
        raise UsageError("give either -f/--file FILE or --stack NAME")
    if file:
        desired = _load(file, ctx.obj.paths)
        _print_status(ctx.obj.paths, desired.stack, desired)
    else:
        _print_status(ctx.obj.paths, stack)
    return 0


# ---------------------------------------------------------------------------------------------
# spec


@click.group("spec")
def spec_group():
    """Stack file helpers: the JSON Schema, and dumping containers as a stack file."""


@spec_group.command("schema")
def spec_schema_cmd():
    """Print the JSON Schema of stack files (committed as specs/stack.schema.json)."""
    from rocker.stackfile.models import json_schema
    click.echo(json.dumps(json_schema(), indent=2))


@spec_group.command("dump")
@click.argument("containers", nargs=-1)
@click.option("--stack", default=None, metavar="NAME", help="Dump a stack's members.")
@click.option("--name", "stack_name", default=None, help="Name of the dumped stack.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "toml"]), default="yaml",
              show_default=True)
@click.pass_context
def spec_dump_cmd(ctx, containers, stack, stack_name, fmt):
    """Write running containers (or a stack) as a stack file on stdout."""
    from rocker.containers import records
    from rocker.stackfile.dump import dump_text, stack_from_records
    paths = ctx.obj.paths
    if bool(containers) == bool(stack):
        raise UsageError("give CONTAINER... or --stack NAME")
    recs = []
    if stack:
        for cid, rec, _err in records.iter_records(paths):
            if rec is not None and (rec.get("stack") or {}).get("name") == stack:
                recs.append(rec)
        if not recs:
            raise InvalidInput(f"stack {stack} owns no containers")
    else:
        for ref in containers:
            recs.append(records.load(paths, records.resolve(paths, ref)))
    from rocker.network import store
    nets = store.snapshot(paths)["networks"] if os.path.exists(
        os.path.join(store.folder(paths), "state.json")) else {}
    from rocker.volumes import store as volume_store
    vols = {v["Name"]: v for v in volume_store.list_all(paths)}
    data = stack_from_records(recs, name=stack_name or stack, networks=nets, volumes=vols)
    click.echo(dump_text(data, fmt), nl=False)
    return 0
