"""linux.resources and linux.cgroupsPath of an OCI config, onto rocker's cgroup managers.

Where: `cgroupsPath` is the caller's choice and is honoured as given (containerd picks
`/<namespace>/<id>`, podman `/libpod_parent/libpod-<id>`), below each hierarchy root (v1) or
the unified root (v2); a relative path is taken below the roots too. Only the container's own
directory is ever removed, never the folders above it, which are the caller's. Without a
cgroupsPath a container gets `rocker/rt-<id>`, beside rocker's own containers.

What: every field of linux.resources is written to its interface file (the v1 names, or
their v2 equivalents); a field the host cannot honour is an error naming it, except the
kernel-memory limits, which newer kernels refuse and runc ignores (a warning). Device rules
(v1 devices cgroup): the config's rules in order, then the nodes every container needs, as
runc does. The writes go through rocker.cgroups.fs, like every other cgroup write of rocker.
"""

from __future__ import annotations

import os

from rocker.cgroups import fs, manager_for
from rocker.cgroups.manager import PARENT
from rocker.errors import InvalidInput

DEFAULT_DEVICE_RULES = ("c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                        "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm")
"""null, zero, full, random, urandom, tty, console, ptmx, the ptys, tun (runc's defaults)."""


def location(cgroups_path: str | None, cid: str) -> tuple[str, str]:
    """(parent, name) of the container's cgroup below each hierarchy root."""
    if not cgroups_path:
        return PARENT, f"rt-{cid}"
    if ":" in cgroups_path and not cgroups_path.startswith("/"):
        raise InvalidInput(f"cgroupsPath {cgroups_path!r} is a systemd slice: rocker-runtime "
                           "has no systemd cgroup driver (use cgroupfs paths)")
    parts = [p for p in cgroups_path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise InvalidInput(f"invalid cgroupsPath {cgroups_path!r}")
    return "/".join(parts[:-1]), parts[-1]


def manager(parent: str, name: str, layout=None):
    return manager_for(name, layout, parent)


def _w(path: str | None, value, what: str) -> None:
    if path is None:
        raise InvalidInput(f"cannot set {what}: its cgroup controller is not mounted")
    fs.write(path, value, option=what)


def _v1(mgr, controller: str, name: str) -> str | None:
    d = mgr.dir(controller)
    return None if d is None else os.path.join(d, name)


def apply(mgr, res: dict | None) -> list[str]:
    """Write linux.resources into the container's cgroup; returns warnings."""
    res = res or {}
    _unsupported(mgr, res)
    return (_apply_v2 if mgr.version == 2 else _apply_v1)(mgr, res)


def _unsupported(mgr, res: dict) -> None:
    """What rocker's cgroups do not manage (no cgroup there): an error, never ignored."""
    net = res.get("network") or {}
    if net.get("classID") is not None or net.get("priorities"):
        raise InvalidInput("linux.resources.network: the net_cls/net_prio controllers are not "
                           "managed by rocker-runtime (no such cgroup for the container)")
    if res.get("hugepageLimits"):
        raise InvalidInput("linux.resources.hugepageLimits: the hugetlb controller is not "
                           "managed by rocker-runtime")
    if res.get("rdma"):
        raise InvalidInput("linux.resources.rdma: the rdma controller is not managed by "
                           "rocker-runtime")


def _apply_v1(mgr, res: dict) -> list[str]:
    warnings = []
    mem = res.get("memory") or {}
    limit, swap = mem.get("limit"), mem.get("swap")
    if limit is not None or swap is not None:
        lim_f = _v1(mgr, "memory", "memory.limit_in_bytes")
        sw_f = _v1(mgr, "memory", "memory.memsw.limit_in_bytes")
        current = fs.read_int(lim_f) if lim_f else None
        order = [("swap", sw_f, swap), ("limit", lim_f, limit)]
        if not (swap is not None and (swap == -1 or (current is not None and current < swap))):
            order.reverse()  # the limit must stay <= the swap limit at every moment
        for what, f, value in order:
            if value is not None:
                _w(f, value, f"memory.{what}")
    for key, name in (("reservation", "memory.soft_limit_in_bytes"),
                      ("swappiness", "memory.swappiness")):
        if mem.get(key) is not None and not (key == "swappiness" and mem[key] < 0):
            _w(_v1(mgr, "memory", name), mem[key], f"memory.{key}")
    for key, name in (("kernel", "memory.kmem.limit_in_bytes"),
                      ("kernelTCP", "memory.kmem.tcp.limit_in_bytes")):
        if mem.get(key) is not None:
            try:
                _w(_v1(mgr, "memory", name), mem[key], f"memory.{key}")
            except Exception as e:  # noqa: BLE001 - refused by newer kernels; runc ignores it
                warnings.append(f"memory.{key} ignored: {e}")
    if mem.get("disableOOMKiller"):
        _w(_v1(mgr, "memory", "memory.oom_control"), 1, "memory.disableOOMKiller")
    cpu = res.get("cpu") or {}
    for key, ctl, name in (("shares", "cpu", "cpu.shares"), ("period", "cpu", "cpu.cfs_period_us"),
                           ("quota", "cpu", "cpu.cfs_quota_us"),
                           ("realtimePeriod", "cpu", "cpu.rt_period_us"),
                           ("realtimeRuntime", "cpu", "cpu.rt_runtime_us"),
                           ("cpus", "cpuset", "cpuset.cpus"), ("mems", "cpuset", "cpuset.mems")):
        if cpu.get(key) not in (None, "") and not (key == "shares" and cpu[key] == 0):
            _w(_v1(mgr, ctl, name), cpu[key], f"cpu.{key}")
    pids = res.get("pids") or {}
    if pids.get("limit") is not None and pids["limit"] != 0:
        _w(_v1(mgr, "pids", "pids.max"), "max" if pids["limit"] < 0 else pids["limit"],
           "pids.limit")
    blkio = res.get("blockIO") or {}
    for key, name in (("weight", "blkio.weight"), ("leafWeight", "blkio.leaf_weight")):
        if blkio.get(key):
            _w(_v1(mgr, "blkio", name), blkio[key], f"blockIO.{key}")
    for d in blkio.get("weightDevice") or []:
        if d.get("weight"):
            _w(_v1(mgr, "blkio", "blkio.weight_device"),
               f"{d['major']}:{d['minor']} {d['weight']}", "blockIO.weightDevice")
    for key, name in (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
                      ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
                      ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
                      ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device")):
        for d in blkio.get(key) or []:
            _w(_v1(mgr, "blkio", name), f"{d['major']}:{d['minor']} {d['rate']}",
               f"blockIO.{key}")
    return warnings


def _apply_v2(mgr, res: dict) -> list[str]:
    path = mgr.path

    def f(name):
        return os.path.join(path, name)

    mem = res.get("memory") or {}
    if mem.get("limit") is not None:
        _w(f("memory.max"), "max" if mem["limit"] < 0 else mem["limit"], "memory.limit")
    if mem.get("swap") is not None:
        swap = mem["swap"]
        if swap >= 0 and mem.get("limit") is not None and mem["limit"] >= 0:
            swap = max(swap - mem["limit"], 0)  # v2 counts swap alone
        _w(f("memory.swap.max"), "max" if swap < 0 else swap, "memory.swap")
    if mem.get("reservation") is not None:
        _w(f("memory.low"), mem["reservation"], "memory.reservation")
    cpu = res.get("cpu") or {}
    if cpu.get("shares"):
        _w(f("cpu.weight"), 1 + ((cpu["shares"] - 2) * 9999) // 262142, "cpu.shares")
    if cpu.get("quota") is not None or cpu.get("period"):
        quota = cpu.get("quota")
        _w(f("cpu.max"), f"{'max' if quota in (None, -1) else quota} {cpu.get('period') or 100000}",
           "cpu.quota")
    for key, name in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
        if cpu.get(key):
            _w(f(name), cpu[key], f"cpu.{key}")
    pids = res.get("pids") or {}
    if pids.get("limit") is not None and pids["limit"] != 0:
        _w(f("pids.max"), "max" if pids["limit"] < 0 else pids["limit"], "pids.limit")
    blkio = res.get("blockIO") or {}
    if blkio.get("weight"):
        _w(f("io.weight"), 1 + ((blkio["weight"] - 10) * 9999) // 990, "blockIO.weight")
    return []


def setup_devices(mgr, rules: list[dict] | None, devices: list[dict] | None) -> None:
    """The v1 devices cgroup: the config's rules in order, then what every container needs
    (nothing on v2, whose device controller is an eBPF program rocker does not load)."""
    if mgr.version == 2:
        return
    d = mgr.dir("devices")
    if d is None:
        return
    for rule in rules or []:
        kind = rule.get("type") or "a"
        major = "*" if rule.get("major") in (None, -1) else rule["major"]
        minor = "*" if rule.get("minor") in (None, -1) else rule["minor"]
        text = "a" if kind == "a" and major == "*" and minor == "*" else \
            f"{kind} {major}:{minor} {rule.get('access') or 'rwm'}"
        fs.write(os.path.join(d, "devices.allow" if rule.get("allow") else "devices.deny"),
                 text)
    for dev in devices or []:
        kind = "c" if dev["type"] == "u" else dev["type"]
        if kind != "p":
            fs.write(os.path.join(d, "devices.allow"), f"{kind} {dev['major']}:{dev['minor']} rwm")
    for rule in DEFAULT_DEVICE_RULES:
        fs.write(os.path.join(d, "devices.allow"), rule)
