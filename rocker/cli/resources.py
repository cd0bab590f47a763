"""Resource commands: update (live limits), stats, top, pause, unpause (docs/resources.md)."""

from __future__ import annotations

import json
import os
import sys
import time

import click

from rocker.cli.options import limit_options
from rocker.containers import records
from rocker.containers import state as cstate
from rocker.errors import InvalidInput
from rocker import states
from rocker.states import UP


def _resolve(ctx, ref: str) -> str:
    return records.resolve(ctx.obj.paths, ref)


@click.command("update")
@limit_options
@click.option("--restart", help="New restart policy.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def update_cmd(ctx, containers, restart, **limits):
    """Change the limits (and restart policy) of containers in place; they keep running."""
    from rocker.runtime import lifecycle
    given = {k: v for k, v in limits.items() if v is not None}
    if not given and restart is None:
        raise InvalidInput("nothing to update: give at least one limit or --restart")
    cids = [_resolve(ctx, ref) for ref in containers]  # all names valid before changing any
    for ref, cid in zip(containers, cids):
        _, warnings = lifecycle.update(ctx.obj.paths, cid, limits=given or None,
                                       restart=restart)
        for w in warnings:
            click.echo(f"rocker: warning: {w}", err=True)
        click.echo(ref)


def _human(n: float | None) -> str:
    from rocker.util.units import format_size
    return "--" if n is None else format_size(n, binary=True)


def _host_memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _targets(ctx, containers) -> list[tuple[str, dict]]:
    paths = ctx.obj.paths
    out = []
    if containers:
        for ref in containers:
            cid = _resolve(ctx, ref)
            out.append((cid, records.load(paths, cid)))
    else:
        for cid, rec, err in records.iter_records(paths):
            if rec is not None and cstate.observed(rec["state"])["status"] in UP:
                out.append((cid, rec))
    return out


def _sample(cids: list[str]) -> dict:
    from rocker.cgroups import manager_for
    out = {}
    for cid in cids:
        m = manager_for(cid)
        if m.exists():
            try:
                out[cid] = m.stats()
            except Exception:  # noqa: BLE001 - it stopped between listing and sampling
                pass
    return out


def stats_rows(ctx, containers, interval: float = 0.5) -> list[dict]:
    targets = _targets(ctx, containers)
    cids = [cid for cid, _ in targets]
    first = _sample(cids)
    t0 = time.monotonic()
    time.sleep(interval)
    second = _sample(cids)
    dt = time.monotonic() - t0
    host_mem = _host_memory()
    rows = []
    for cid, rec in targets:
        a, b = first.get(cid), second.get(cid)
        if b is None:
            rows.append({"ID": cid[:12], "Name": rec["name"], "CPUPerc": 0.0, "MemUsage": 0,
                         "MemLimit": None, "MemPerc": 0.0, "PIDs": 0, "Running": False})
            continue
        cpu = 0.0
        if a is not None and dt > 0:
            cpu = max(0, b.cpu_usage_ns - a.cpu_usage_ns) / (dt * 1e9) * 100
        usage = max(0, b.memory_usage - b.memory_inactive_file)
        limit = b.memory_limit or host_mem
        rows.append({"ID": cid[:12], "Name": rec["name"], "CPUPerc": round(cpu, 2),
                     "MemUsage": usage, "MemLimit": limit,
                     "MemPerc": round(usage / limit * 100, 2) if limit else 0.0,
                     "PIDs": b.pids_current, "Running": True})
    return rows


@click.command("stats")
@click.option("--no-stream", is_flag=True, help="Print one sample and exit.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("containers", nargs=-1)
@click.pass_context
def stats_cmd(ctx, no_stream, fmt, containers):
    """Live CPU %, memory usage and limit, and PIDs of running containers."""
    from rocker.cli.containers import print_table
    while True:
        rows = stats_rows(ctx, containers, interval=0.5 if no_stream else 1.0)
        if fmt == "json":
            click.echo(json.dumps(rows, indent=2))
        else:
            if not no_stream and sys.stdout.isatty():
                click.echo("\x1b[2J\x1b[H", nl=False)
            print_table(["ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"],
                        [[r["ID"], r["Name"], f"{r['CPUPerc']:.2f}%",
                          f"{_human(r['MemUsage'])} / {_human(r['MemLimit'])}",
                          f"{r['MemPerc']:.2f}%", r["PIDs"]] for r in rows])
        if no_stream:
            return
        sys.stdout.flush()


def _proc_row(pid: int, clk: int, boot: float) -> list[str] | None:
    stat = cstate.read_stat(pid)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        st = os.stat(f"/proc/{pid}")
    except OSError:
        return None
    if stat is None:
        return None
    comm, rest = stat
    ppid = int(rest[1])
    cpu = (int(rest[11]) + int(rest[12])) // clk
    start = boot + int(rest[19]) / clk
    return [str(st.st_uid), str(pid), str(ppid), time.strftime("%H:%M:%S", time.localtime(start)),
            f"{cpu // 3600:02d}:{cpu // 60 % 60:02d}:{cpu % 60:02d}", cmd or f"[{comm}]"]


@click.command("top")
@click.argument("container")
@click.pass_context
def top_cmd(ctx, container):
    """The container's processes, as the host's `ps` sees them (host PIDs)."""
    from rocker.cgroups import manager_for
    from rocker.cli.containers import print_table
    cid = _resolve(ctx, container)
    rec = records.load(ctx.obj.paths, cid)
    states.guard("top", cstate.observed(rec["state"])["status"], rec["name"])
    clk = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        boot = next(int(ln.split()[1]) for ln in f if ln.startswith("btime"))
    rows = [r for r in (_proc_row(p, clk, boot) for p in sorted(manager_for(cid).procs())) if r]
    print_table(["UID", "PID", "PPID", "STIME", "TIME", "CMD"], rows)


def _pause(ctx, containers, frozen: bool) -> None:
    from rocker.runtime import lifecycle
    for ref in containers:
        lifecycle.pause(ctx.obj.paths, _resolve(ctx, ref), frozen)
        click.echo(ref)


@click.command("pause")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def pause_cmd(ctx, containers):
    """Freeze every process of containers (cgroup freezer)."""
    _pause(ctx, containers, True)


@click.command("unpause")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def unpause_cmd(ctx, containers):
    """Thaw paused containers."""
    _pause(ctx, containers, False)
