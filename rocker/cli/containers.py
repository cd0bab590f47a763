"""Container commands: run, create, start, attach, ps, logs, stop, kill, restart, wait, rm, exec,
commit, inspect. Each parses, calls rocker.runtime.lifecycle (or a sibling), and renders."""

from __future__ import annotations

import json
import os
import sys

import click

from rocker.cli.options import RUN_CONTEXT, config_from_options, container_options
from rocker.containers import records
from rocker.containers import state as cstate
from rocker.errors import InvalidInput
from rocker.util.timefmt import local_time
from rocker import states
from rocker.states import LIVE


def _resolve(ctx, ref: str) -> str:
    return records.resolve(ctx.obj.paths, ref)


def _foreground(paths, cid: str, tty: bool, stdin: bool) -> int:
    """Start `cid` with this terminal attached; returns its exit code."""
    import socket
    from rocker.runtime import lifecycle
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lifecycle.start(paths, cid, attach_sock=theirs)
    finally:
        theirs.close()
    # loaded once the container runs, beside its monitor (the output waits in the socket)
    from rocker.attach.client import relay
    try:
        code = relay(mine, tty=tty, stdin=stdin)
    finally:
        mine.close()
    if code is None:
        code = lifecycle.wait(paths, cid)
    if code is None:
        click.echo("rocker: the container's exit status is unknown (its monitor is gone)",
                   err=True)
        return 125
    return code


@click.command("run", context_settings=RUN_CONTEXT)
@container_options
@click.option("-d", "--detach", is_flag=True, help="Run in the background; print the ID.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_cmd(ctx, args, detach, **o):
    """Run a command in a new container: run [OPTIONS] IMAGE [COMMAND [ARG...]]."""
    from rocker.errors import ContainerStartError
    from rocker.runtime import lifecycle
    paths = ctx.obj.paths
    from rocker.util.trace import mark
    mark("cli: run parsed")
    cfg, name = config_from_options(o, args)
    if cfg.tty and cfg.interactive and not detach and not os.isatty(0):
        raise InvalidInput("the input device is not a TTY: drop -t, or run from a terminal")
    _pull_policy(paths, cfg, o)
    rec = lifecycle.create(paths, cfg, name=name)
    mark("cli: created")
    cid = rec["id"]
    try:
        if detach:
            lifecycle.start(paths, cid)
            click.echo(cid)
            return 0
        return _foreground(paths, cid, cfg.tty, cfg.interactive)
    except ContainerStartError:
        _discard(paths, cid)
        raise
    except BaseException:
        if detach:
            _discard(paths, cid)
        raise


def _discard(paths, cid: str) -> None:
    """A failed run leaves nothing behind."""
    from rocker.runtime import lifecycle
    try:
        lifecycle.remove(paths, cid, force=True, volumes=True)
    except Exception:  # noqa: BLE001 - already gone (--rm) or half-made
        from rocker.containers.teardown import remove_container
        remove_container(paths, cid)


@click.command("create", context_settings=RUN_CONTEXT)
@container_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def create_cmd(ctx, args, **o):
    """Create a container without starting it."""
    from rocker.runtime import lifecycle
    cfg, name = config_from_options(o, args)
    _pull_policy(ctx.obj.paths, cfg, o)
    rec = lifecycle.create(ctx.obj.paths, cfg, name=name)
    click.echo(rec["id"])


def _pull_policy(paths, cfg, o: dict) -> None:
    """--pull missing|always|never: the image is pulled before the container is made."""
    policy = o.get("pull_policy") or "missing"
    if policy == "never":
        return
    if policy == "missing":
        from rocker.errors import NotFound
        from rocker.images.refs import id_hex
        from rocker.images.store import ImageStore
        try:
            ImageStore(paths).resolve(cfg.image)
            return                       # the common case: no registry code loaded
        except NotFound:
            pass
        hexid = id_hex(cfg.image)
        if hexid is not None and len(hexid) >= 12 and "/" not in cfg.image:
            return   # an id: nothing to pull; create says it is missing
    from rocker.cli.images import ensure_image
    ensure_image(paths, cfg.image, policy, o.get("pull_platform"))


@click.command("start")
@click.option("-a", "--attach", is_flag=True, help="Attach output and wait for the exit.")
@click.option("-i", "--interactive", is_flag=True, help="Attach stdin.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def start_cmd(ctx, attach, interactive, containers):
    """Start one or more stopped containers."""
    from rocker.runtime import lifecycle
    paths = ctx.obj.paths
    if (attach or interactive) and len(containers) > 1:
        raise InvalidInput("you cannot attach to more than one container")
    for ref in containers:
        cid = _resolve(ctx, ref)
        if attach or interactive:
            rec = records.load(paths, cid)
            return _foreground(paths, cid, rec["config"].get("tty", False), interactive)
        lifecycle.start(paths, cid)
        click.echo(ref)


@click.command("attach")
@click.argument("container")
@click.pass_context
def attach_cmd(ctx, container):
    """Attach this terminal to a running container's output (and input with -i)."""
    from rocker.attach import frames
    from rocker.attach.client import relay
    from rocker.runtime import lifecycle
    paths = ctx.obj.paths
    cid = _resolve(ctx, container)
    rec = records.load(paths, cid)
    states.guard("attach", cstate.observed(rec["state"])["status"], rec["name"])
    sock = frames.connect(os.path.join(paths.container_rundir(cid), "attach.sock"))
    cfg = rec["config"]
    code = relay(sock, tty=cfg.get("tty", False), stdin=cfg.get("interactive", False),
                 hello=True)
    if code is None:
        code = lifecycle.wait(paths, cid)
    if code is None:
        click.echo("rocker: the container's exit status is unknown (its monitor is gone)",
                   err=True)
        return 125
    return code


def _row(rec: dict, obs: dict) -> dict:
    return {
        "ID": rec["id"][:12], "Id": rec["id"], "Name": rec.get("name", ""),
        "Image": rec.get("image", ""), "Pid": obs.get("pid") if obs.get("alive") else 0,
        "Status": cstate.status_text(obs), "State": obs.get("status"),
        "ExitCode": obs.get("exit_code"), "OOMKilled": bool(obs.get("oom_killed")),
        "Health": (obs.get("health") or {}).get("status"),
        "Command": " ".join(rec.get("process", {}).get("args", [])),
        "Created": local_time(rec.get("created")), "Labels": rec.get("labels", {}),
        "Stack": (rec.get("stack") or {}).get("name"),
        "Service": (rec.get("stack") or {}).get("service"),
        "Replica": (rec.get("stack") or {}).get("replica"),
    }


def _matches(row: dict, filters: list[tuple[str, str]]) -> bool:
    for key, val in filters:
        if key == "status" and row["State"] != val:
            return False
        if key == "name" and val not in row["Name"]:
            return False
        if key == "id" and not row["Id"].startswith(val):
            return False
        if key == "label":
            k, eq, v = val.partition("=")
            if k not in row["Labels"] or (eq and row["Labels"][k] != v):
                return False
        if key == "stack" and row["Stack"] != val:
            return False
        if key == "health" and row["Health"] != val:
            return False
        if key == "service" and val not in (row["Service"], row["Replica"]):
            return False
    return True


def list_rows(paths, all_: bool, filters: list[tuple[str, str]]) -> tuple[list[dict], list[str]]:
    rows, errors = [], []
    for cid, rec, err in records.iter_records(paths):
        if err is not None:
            errors.append(f"container {cid[:12]}: {err}")
            continue
        obs = cstate.observed(rec.get("state", {}))
        row = _row(rec, obs)
        if not all_ and row["State"] not in LIVE:
            continue
        if _matches(row, filters):
            rows.append(row)
    rows.sort(key=lambda r: r["Created"], reverse=True)
    return rows, errors


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(str(c)))
    fmt = "   ".join("{:<%d}" % w for w in widths[:-1]) + "   {}"
    click.echo(fmt.format(*headers).rstrip())
    for r in rows:
        click.echo(fmt.format(*[str(c) for c in r]).rstrip())


@click.command("ps")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers, not just running.")
@click.option("-q", "--quiet", is_flag=True, help="Only IDs.")
@click.option("-f", "--filter", "filters", multiple=True,
              help="status=, name=, label=K[=V], id=, stack=, service=, health=")
@click.option("--stack", help="Only members of this stack (implies -a).")
@click.option("--file", "file", metavar="FILE", help="Only members of this file's stack (as "
                                                     "--stack).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--no-trunc", is_flag=True, help="Do not truncate IDs and commands.")
@click.argument("services", nargs=-1)
@click.pass_context
def ps_cmd(ctx, all_, quiet, filters, stack, file, fmt, no_trunc, services):
    """List containers (status from the live kernel); with --stack or --file, SERVICES
    (names of the file: web, or a replica: worker-2) narrow the list."""
    parsed = []
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq or k not in ("status", "name", "label", "id", "stack", "service", "health"):
            raise InvalidInput(f"invalid filter {f!r}: use status=, name=, label=, id=, "
                               "stack=, service= or health=")
        parsed.append((k, v))
    if services and not (stack or file):
        raise InvalidInput("service names need --stack NAME or --file FILE")
    if stack or file:
        parsed.append(("stack", _stack_of(file, stack)))
        all_ = True
    if any(k == "status" for k, _ in parsed):
        all_ = True
    rows, errors = list_rows(ctx.obj.paths, all_, parsed)
    if services:
        rows = [r for r in rows if r["Service"] in services or r["Replica"] in services]
    for e in errors:
        click.echo(f"rocker: warning: {e}", err=True)
    if quiet:
        for r in rows:
            click.echo(r["Id"] if no_trunc else r["ID"])
        return
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    table = []
    for r in rows:
        cmd = r["Command"]
        if not no_trunc and len(cmd) > 40:
            cmd = cmd[:37] + "..."
        table.append([r["Id"] if no_trunc else r["ID"], r["Name"], r["Pid"] or "-",
                      r["Status"], cmd, r["Created"]])
    print_table(["ID", "NAME", "PID", "STATUS", "COMMAND", "CREATED"], table)


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow the log until the container exits.")
@click.option("-n", "--tail", default="all", help="Number of lines from the end (or all).")
@click.option("--since", help="Only lines since a time or duration ago (10m, RFC 3339).")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--stack", help="Interleave the logs of a stack's members (CONTAINER is then a "
                              "service or replica name: web, worker-2).")
@click.option("--file", "file", metavar="FILE", help="The stack of this stack file (as --stack).")
@click.argument("container", required=False)
@click.pass_context
def logs_cmd(ctx, follow, tail, since, timestamps, stack, file, container):
    """Show a container's output (stdout and stderr, each to its own stream)."""
    from rocker.runtime.logs import stream_logs
    paths = ctx.obj.paths
    tail_n = _tail(tail)
    since_ts = None
    if since:
        from rocker.util.durations import parse_since
        since_ts = parse_since(since)
    if stack or file:
        rows = stack_members(paths, _stack_of(file, stack), container)
        targets = [(r["Id"], r["Name"]) for r in rows]
    elif container:
        cid = _resolve(ctx, container)
        targets = [(cid, None)]
    else:
        raise InvalidInput("a container (or --stack NAME) is required")
    stream_logs(paths, targets, follow=follow, tail=tail_n, since=since_ts,
                timestamps=timestamps)


def _stack_of(file: str | None, stack: str | None) -> str:
    from rocker.cli.stacks import stack_name
    return stack_name(file, stack)


def stack_members(paths, stack: str, member: str | None = None) -> list[dict]:
    """The rows of a stack's containers, by name; with `member`, those of that service (all
    its replicas), replica (worker-2) or container name (demo-worker-2)."""
    from rocker.errors import NotFound
    rows, _ = list_rows(paths, True, [("stack", stack)])
    if not rows:
        raise NotFound(f"no containers in stack {stack}")
    if member is not None:
        rows = [r for r in rows if member in (r["Service"], r["Replica"], r["Name"])]
        if not rows:
            raise NotFound(f"no service, replica or container {member!r} in stack {stack}")
    return sorted(rows, key=lambda r: r["Name"])


def _tail(tail: str) -> int | None:
    """`--tail`: 'all' (None) or a number of lines, 0 or more."""
    text = tail.strip()
    if text == "all":
        return None
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"invalid --tail {tail!r}: use 'all' or a number of lines, 0 or more")
    return int(text) if len(text.lstrip("0")) <= 18 else None  # more lines than a log can hold


def _stop_timeout(timeout: str | None) -> int | None:
    """`stop -t` / `restart -t`: -1 waits without a limit (as in Docker), else 0..a week."""
    if timeout is None:
        return None
    from rocker.containers.config import parse_timeout
    return parse_timeout(timeout, "-t/--time", unlimited=True)


def _for_each(ctx, refs, act) -> None:
    """Run `act(cid)` for every container named, like Docker: report each failure on one line,
    go on with the others, print the names that worked, and exit non-zero if any failed."""
    from rocker.errors import RockerError
    failed = None
    for ref in refs:
        try:
            act(_resolve(ctx, ref))
            click.echo(ref)
        except RockerError as e:
            failed = e
            click.echo(f"rocker: {e}", err=True)
    if failed is not None:
        sys.exit(failed.exit_code)


@click.command("stop")
@click.option("-t", "--time", "timeout", default=None, metavar="SECONDS",
              help="Seconds to wait before SIGKILL, -1 without a limit "
                   "[default: the container's stop timeout].")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def stop_cmd(ctx, timeout, containers):
    """Stop containers: stop signal, wait, then SIGKILL to every process."""
    from rocker.runtime import lifecycle
    timeout = _stop_timeout(timeout)
    _for_each(ctx, containers, lambda cid: lifecycle.stop(ctx.obj.paths, cid, timeout))


@click.command("kill")
@click.option("-s", "--signal", "sig", default="SIGKILL", show_default=True)
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def kill_cmd(ctx, sig, containers):
    """Send a signal to every process of running containers."""
    from rocker.containers.config import parse_signal
    from rocker.runtime import lifecycle
    signum = parse_signal(sig)
    _for_each(ctx, containers, lambda cid: lifecycle.kill(ctx.obj.paths, cid, signum))


@click.command("restart")
@click.option("-t", "--time", "timeout", default=None, metavar="SECONDS",
              help="Seconds to wait before SIGKILL, -1 without a limit "
                   "[default: the container's stop timeout].")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def restart_cmd(ctx, timeout, containers):
    """Stop (if running) and start containers again."""
    from rocker.runtime import lifecycle
    timeout = _stop_timeout(timeout)

    def restart(cid):
        lifecycle.stop(ctx.obj.paths, cid, timeout)
        lifecycle.start(ctx.obj.paths, cid)
    _for_each(ctx, containers, restart)


@click.command("wait")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def wait_cmd(ctx, containers):
    """Wait for containers to exit and print their exit codes."""
    from rocker.runtime import lifecycle
    for ref in containers:
        code = lifecycle.wait(ctx.obj.paths, _resolve(ctx, ref))
        click.echo("-1" if code is None else code)


@click.command("rm")
@click.option("-f", "--force", is_flag=True, help="Kill and remove running containers.")
@click.option("-v", "--volumes", is_flag=True, help="Remove their anonymous volumes too.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def rm_cmd(ctx, force, volumes, containers):
    """Remove containers and everything they had (storage, cgroup, state, log)."""
    from rocker.runtime import lifecycle
    _for_each(ctx, containers, lambda cid: lifecycle.remove(ctx.obj.paths, cid, force=force,
                                                            volumes=volumes))


@click.command("exec", context_settings={"help_option_names": ["--help"],
                                         "allow_interspersed_args": False})
@click.option("-i", "--interactive", is_flag=True)
@click.option("-t", "--tty", is_flag=True)
@click.option("-d", "--detach", is_flag=True)
@click.option("-e", "--env", multiple=True, metavar="K=V")
@click.option("-w", "--workdir")
@click.option("-u", "--user")
@click.option("--stack", help="CONTAINER is a service or replica of this stack (web, worker-2).")
@click.option("--file", "file", metavar="FILE", help="The stack of this stack file (as --stack).")
@click.option("--index", type=click.IntRange(1), default=None,
              help="With --stack: which replica of the service (default 1).")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def exec_cmd(ctx, interactive, tty, detach, env, workdir, user, stack, file, index, container,
             command):
    """Run a command in a running container; exits with the command's code."""
    from rocker.containers.config import parse_env_list, parse_user
    from rocker.runtime.execution import exec_in
    if user is not None:
        parse_user(user)
    parse_env_list(env, {})  # the form of every -e, before the container is looked up
    if tty and interactive and not detach and not os.isatty(0):
        raise InvalidInput("the input device is not a TTY: drop -t, or run from a terminal")
    if stack or file:
        cid = _stack_member(ctx.obj.paths, _stack_of(file, stack), container, index)
    elif index is not None:
        raise InvalidInput("--index needs --stack NAME or --file FILE")
    else:
        cid = _resolve(ctx, container)
    return exec_in(ctx.obj.paths, cid, list(command), interactive=interactive, tty=tty,
                   detach=detach, env=list(env), workdir=workdir, user=user)


def _stack_member(paths, stack: str, member: str, index: int | None) -> str:
    """One container of a stack: a replica or container name, or a service's replica
    `index` (1 by default, as Compose's exec)."""
    from rocker.errors import NotFound
    rows = stack_members(paths, stack, member)
    exact = [r for r in rows if member in (r["Replica"], r["Name"])]
    if exact and index is None:
        return exact[0]["Id"]
    want = f"{member}-{index or 1}"
    for r in rows:
        if r["Replica"] == want:
            return r["Id"]
    raise NotFound(f"no replica {want} in stack {stack}")


@click.command("commit")
@click.option("-c", "--change", multiple=True, help="Dockerfile-like change (CMD, ENV, ...).")
@click.option("-m", "--message", help="Commit message.")
@click.option("-a", "--author", help="Author.")
@click.option("-p", "--pause/--no-pause", default=True, show_default=True,
              help="Freeze the container while committing (Docker's default).")
@click.argument("container")
@click.argument("image", required=False)
@click.pass_context
def commit_cmd(ctx, change, message, author, pause, container, image):
    """Create an image from a container's changes."""
    from rocker.runtime import lifecycle
    cid = _resolve(ctx, container)
    img = lifecycle.commit(ctx.obj.paths, cid, image, changes=list(change), message=message,
                           author=author, pause=pause)
    click.echo(img.id)


@click.command("inspect")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def inspect_cmd(ctx, containers):
    """Show containers' configuration and state as JSON."""
    from rocker.runtime.inspect import inspect_container
    out = [inspect_container(ctx.obj.paths, _resolve(ctx, ref)) for ref in containers]
    click.echo(json.dumps(out, indent=2))
