"""Truthful container state: liveness from the live kernel (the lifecycle's statuses and
transitions are rocker.states).

A container's process is alive only if /proc/PID exists, is not a zombie, has the start time
(field 22 of /proc/PID/stat) recorded when it started, and the machine has not rebooted since
(boot id). So a dead container never shows as running and a reused PID is never signalled.
"""

from __future__ import annotations

from rocker.states import EXITED, PAUSED, REMOVING, RESTARTING, UP
from rocker.util.procs import (  # noqa: F401 - the liveness primitives, re-exported
    boot_id,
    is_alive,
    proc_stat,
    read_stat,
    start_time,
)


def observed(state: dict) -> dict:
    """The record's state corrected by the live kernel. Adds 'alive', 'monitor_alive',
    'evidence' and, for a live process whose monitor is gone, 'unsupervised'."""
    st = dict(state)
    status = st.get("status", "created")
    alive = is_alive(st.get("pid"), st.get("pid_start"), st.get("boot_id"))
    monitor_alive = is_alive(st.get("monitor_pid"), st.get("monitor_start"), st.get("boot_id"))
    st["alive"] = alive
    st["monitor_alive"] = monitor_alive
    if status in UP and not alive:
        if monitor_alive and st.get("restarting"):
            st["status"] = RESTARTING
        else:
            st["status"] = EXITED
            if st.get("boot_id") and st.get("boot_id") != boot_id():
                st["evidence"] = "the machine rebooted"
            else:
                st["evidence"] = f"process {st.get('pid')} is gone"
    elif status == RESTARTING and not monitor_alive:
        st["status"] = EXITED
        st["evidence"] = "the monitor is gone"
    elif status in UP and st.get("monitor_pid") and not monitor_alive:
        # the process runs, but nothing supervises it: no logs, restarts, healthchecks
        st["unsupervised"] = True
        st["evidence"] = f"monitor {st.get('monitor_pid')} is gone"
    return st


def container_running(paths, cid: str) -> bool:
    """Is container `cid`'s process alive (by the record's pid, start time and boot id)?"""
    from rocker.containers import records
    try:
        st = records.load(paths, cid)["state"]
    except Exception:  # noqa: BLE001 - gone or broken: not running
        return False
    return is_alive(st.get("pid"), st.get("pid_start"), st.get("boot_id"))


def status_text(st: dict, now: float | None = None) -> str:
    """Docker-like status column: 'Up 3 minutes', 'Exited (0) 2 minutes ago', 'Created'."""
    import time
    from rocker.util.durations import human_ago
    now = now or time.time()
    s = st.get("status")
    if s in UP:
        up = human_ago(st.get("started_at"), now).replace(" ago", "")
        extra = ""
        health = (st.get("health") or {}).get("status")
        if health:
            extra = f" ({health})"
        if s == PAUSED:
            extra += " (Paused)"
        if st.get("unsupervised"):
            extra += " (unsupervised)"
        return f"Up {up}{extra}"
    if s == RESTARTING:
        return f"Restarting ({st.get('exit_code')}) {human_ago(st.get('finished_at'), now)}"
    if s == EXITED:
        code = st.get("exit_code")
        code_s = "?" if code is None else str(code)
        oom = " (OOMKilled)" if st.get("oom_killed") else ""
        ago = human_ago(st.get("finished_at"), now)
        return f"Exited ({code_s}){oom}{(' ' + ago) if ago else ''}"
    if s == REMOVING:
        return "Removing"
    return "Created"
