"""Reading container logs: JSON lines {log, stream, time} written by the monitor.

`stream_logs` prints one or more containers' logs (interleaved by time, with a name prefix when
there are several), honours --tail and --since, and with --follow keeps reading until every
container has exited and its monitor has finished.

Lines the monitor could not write (a full disk) are counted in the container's state
(`log_dropped`); `stream_logs` says how many on stderr, after what it printed.
"""

from __future__ import annotations

import json
import os
import sys
import time

from rocker.containers import records
from rocker.containers import state as cstate
from rocker.util.timefmt import parse_rfc3339
from rocker.states import STOPPED


def log_path(paths, cid: str) -> str:
    return os.path.join(paths.container_dir(cid), "container.log")


def _parse(line: bytes) -> dict | None:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _emit(entry: dict, prefix: str | None, timestamps: bool) -> None:
    text = entry.get("log", "")
    if timestamps:
        text = f"{entry.get('time', '')} {text}"
    if prefix:
        text = f"{prefix} | {text}"
    out = sys.stderr if entry.get("stream") == "stderr" else sys.stdout
    out.write(text)


def _read_all(path: str) -> tuple[list[dict], int]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1
    entries = [e for e in (_parse(ln) for ln in data[:end].splitlines()) if e]
    return entries, end


def _say_dropped(paths, targets: list[tuple[str, str | None]]) -> None:
    for cid, name in targets:
        try:
            n = records.load(paths, cid)["state"].get("log_dropped") or 0
        except (OSError, ValueError):
            continue
        if n:
            who = f"{name}: " if name and len(targets) > 1 else ""
            sys.stderr.write(f"rocker: {who}{n} line{'s' if n != 1 else ''} of output "
                             "could not be logged (no space left on device)\n")


def stream_logs(paths, targets: list[tuple[str, str | None]], follow: bool = False,
                tail: int | None = None, since: float | None = None,
                timestamps: bool = False) -> None:
    width = max((len(n) for _, n in targets if n), default=0)
    merged: list[tuple[str, dict, str | None]] = []
    offsets: dict[str, int] = {}
    for cid, name in targets:
        entries, off = _read_all(log_path(paths, cid))
        offsets[cid] = off
        if since is not None:
            entries = [e for e in entries if parse_rfc3339(e.get("time", "1970-01-01T00:00:00Z"))
                       >= since]
        if tail is not None:
            entries = entries[-tail:] if tail > 0 else []
        prefix = name.ljust(width) if name and len(targets) > 1 else None
        merged.extend((e.get("time", ""), e, prefix) for e in entries)
    merged.sort(key=lambda t: t[0])
    for _, e, prefix in merged:
        _emit(e, prefix, timestamps)
    sys.stdout.flush()
    _say_dropped(paths, targets)
    sys.stderr.flush()
    if not follow:
        return
    names = {cid: (name.ljust(width) if name and len(targets) > 1 else None)
             for cid, name in targets}
    live = set(names)
    while live:
        time.sleep(0.1)
        for cid in list(live):
            try:
                rec = records.load(paths, cid)
                obs = cstate.observed(rec["state"])
                done = obs["status"] in STOPPED and not obs.get("monitor_alive")
            except FileNotFoundError:
                done = True
            path = log_path(paths, cid)
            try:
                with open(path, "rb") as f:
                    f.seek(offsets[cid])
                    data = f.read()
            except FileNotFoundError:
                data = b""
            end = data.rfind(b"\n") + 1
            if end:
                offsets[cid] += end
                for ln in data[:end].splitlines():
                    e = _parse(ln)
                    if e:
                        _emit(e, names[cid], timestamps)
                sys.stdout.flush()
                sys.stderr.flush()
            if done:
                live.discard(cid)
