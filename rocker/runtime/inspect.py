"""`rocker inspect`: a container's configuration and live state as Docker-like JSON."""

from __future__ import annotations

import os

from rocker import fields
from rocker.containers import records
from rocker.containers import state as cstate
from rocker.runtime.bundle import config_path
from rocker.util.timefmt import rfc3339
from rocker.states import PAUSED, RESTARTING, UP


def _t(ts):
    return rfc3339(ts) if ts else "0001-01-01T00:00:00Z"


def _fields_shown(rec: dict, cfg: dict, proc: dict) -> dict:
    """The container fields where rocker.fields says inspect shows them ("Config.User"), each
    from the config or, where the row says so, from the resolved process or the record."""
    out: dict = {"Config": {}, "HostConfig": {}}
    sources = {"process": proc, "record": rec}
    for row in fields.ROWS:
        if not row.inspect:
            continue
        section, _, key = row.inspect.rpartition(".")
        src, _, name = row.shown.partition(".")
        value = sources[src].get(name) if row.shown else cfg.get(row.name)
        (out[section] if section else out)[key] = value
    return out


def _port_bindings(maps: list[dict]) -> dict:
    """Docker's PortBindings: "80/tcp" -> [{HostIp, HostPort}] ("" for a random port)."""
    out: dict = {}
    for m in maps:
        out.setdefault(f"{m['ContainerPort']}/{m['Protocol']}", []).append(
            {"HostIp": m.get("HostIp") or "", "HostPort": str(m["HostPort"] or "")})
    return out


def _network_settings(paths, rec: dict) -> dict:
    if not os.path.exists(os.path.join(paths.root, "networks", "state.json")):
        return {"Networks": {}, "Ports": {}, "IPAddress": "", "Gateway": "",
                "NetworkMode": rec["config"].get("network_mode")}
    from rocker.runtime.networks import settings
    return settings(paths, rec)


def mounts_shown(mounts: list[dict]) -> list[dict]:
    """`Mounts` as Docker shows them: volumes, binds and --mount tmpfs mounts (not --tmpfs
    ones, which are HostConfig.Tmpfs), in the order given."""
    out = []
    for m in mounts:
        rw = not m.get("readonly")
        if m["type"] == "volume":
            out.append({"Type": "volume", "Name": m["name"], "Source": m["source"],
                        "Destination": m["target"], "Driver": "local", "Mode": "",
                        "RW": rw, "Propagation": ""})
        elif m["type"] == "bind":
            out.append({"Type": "bind", "Source": m["source"], "Destination": m["target"],
                        "Mode": "", "RW": rw, "Propagation": m.get("propagation") or "rprivate"})
        elif m.get("shown"):
            out.append({"Type": "tmpfs", "Source": "", "Destination": m["target"], "Mode": "",
                        "RW": rw, "Propagation": ""})
    return out


def inspect_container(paths, cid: str) -> dict:
    rec = records.load(paths, cid)
    obs = cstate.observed(rec.get("state", {}))
    cfg = rec["config"]
    proc = rec.get("process", {})
    status = obs.get("status")
    rundir = paths.container_rundir(cid)
    limits = {}
    try:
        from rocker.cgroups import manager_for
        m = manager_for(cid)
        if obs.get("alive") and m.exists():
            limits = {k: v for k, v in m.read_limits().to_dict().items() if v is not None}
    except Exception:  # noqa: BLE001 - inspect shows what it can
        pass
    shown = _fields_shown(rec, cfg, proc)
    shown["Config"]["Hostname"] = shown["Config"]["Hostname"] or rec["id"][:12]
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
        "ImageName": shown["ImageName"],
        "RestartCount": obs.get("restart_count", 0),
        "Config": shown["Config"],
        "HostConfig": dict(shown["HostConfig"], ResourcesInForce=limits,
                           PortBindings=_port_bindings(cfg.get("publish") or [])),
        "NetworkSettings": _network_settings(paths, rec),
        "Mounts": mounts_shown(rec.get("mounts") or []),
        "GraphDriver": {"Name": "overlay", "Data": {
            "LowerDir": ":".join(rec["rootfs"]["lower"]), "UpperDir": rec["rootfs"]["upper"],
            "WorkDir": rec["rootfs"]["work"], "MergedDir": os.path.join(rundir, "rootfs")}},
        "HostnamePath": os.path.join(rundir, "hostname"),
        "HostsPath": os.path.join(rundir, "hosts"),
        "ResolvConfPath": os.path.join(rundir, "resolv.conf"),
        "Stack": rec.get("stack"),
        "LogPath": os.path.join(paths.container_dir(cid), "container.log"),
        "LogLinesDropped": obs.get("log_dropped") or 0,
        "OCIConfigPath": config_path(paths, cid),
    }
