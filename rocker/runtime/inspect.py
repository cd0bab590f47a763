"""`rocker inspect`: a container's configuration and live state as Docker-like JSON."""

from __future__ import annotations

import os

from rocker.containers import records
from rocker.containers import state as cstate
from rocker.runtime.bundle import config_path
from rocker.util.timefmt import rfc3339
from rocker.states import PAUSED, RESTARTING, UP


def _t(ts):
    return rfc3339(ts) if ts else "0001-01-01T00:00:00Z"


def inspect_container(paths, cid: str) -> dict:
    rec = records.load(paths, cid)
    obs = cstate.observed(rec.get("state", {}))
    cfg = rec["config"]
    proc = rec.get("process", {})
    status = obs.get("status")
    mounts = [{"Type": "overlay", "Destination": "/", "Source": rec["rootfs"]["upper"],
               "Lower": rec["rootfs"]["lower"], "RW": True}]
    for name in ("hostname", "hosts", "resolv.conf"):
        mounts.append({"Type": "bind", "Destination": f"/etc/{name}",
                       "Source": os.path.join(paths.container_rundir(cid), name), "RW": True})
    limits = {}
    try:
        from rocker.cgroups import manager_for
        m = manager_for(cid)
        if obs.get("alive") and m.exists():
            limits = {k: v for k, v in m.read_limits().to_dict().items() if v is not None}
    except Exception:  # noqa: BLE001 - inspect shows what it can
        pass
    return {
        "Id": rec["id"],
        "Name": rec.get("name"),
        "Created": _t(rec.get("created")),
        "Path": (proc.get("args") or [""])[0],
        "Args": (proc.get("args") or [])[1:],
        "State": {
            "Status": status,
            "Running": status in UP,
            "Paused": status == PAUSED,
            "Restarting": status == RESTARTING,
            "OOMKilled": bool(obs.get("oom_killed")),
            "Dead": False,
            "Pid": obs.get("pid") if obs.get("alive") else 0,
            "ExitCode": obs.get("exit_code"),
            "Error": obs.get("error") or obs.get("evidence") or "",
            "StartedAt": _t(obs.get("started_at")),
            "FinishedAt": _t(obs.get("finished_at")),
            "Health": obs.get("health"),
            "MonitorPid": obs.get("monitor_pid") if obs.get("monitor_alive") else 0,
        },
        "Image": rec.get("image_id"),
        "ImageName": rec.get("image"),
        "RestartCount": obs.get("restart_count", 0),
        "Config": {
            "Hostname": cfg.get("hostname") or rec["id"][:12],
            "User": proc.get("user"),
            "Env": proc.get("env"),
            "Cmd": cfg.get("command"),
            "Entrypoint": cfg.get("entrypoint"),
            "WorkingDir": proc.get("cwd"),
            "Tty": cfg.get("tty"),
            "OpenStdin": cfg.get("interactive"),
            "Labels": rec.get("labels", {}),
            "StopSignal": cfg.get("stop_signal"),
            "StopTimeout": cfg.get("stop_timeout"),
            "Healthcheck": cfg.get("healthcheck"),
        },
        "HostConfig": {
            "AutoRemove": cfg.get("auto_remove"),
            "RestartPolicy": cfg.get("restart"),
            "RestartOnUnhealthy": cfg.get("restart_on_unhealthy"),
            "Resources": cfg.get("limits", {}),
            "ResourcesInForce": limits,
        },
        "Mounts": mounts,
        "Stack": rec.get("stack"),
        "LogPath": os.path.join(paths.container_dir(cid), "container.log"),
        "LogLinesDropped": obs.get("log_dropped") or 0,
        "OCIConfigPath": config_path(paths, cid),
    }
