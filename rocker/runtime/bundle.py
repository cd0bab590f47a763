"""The OCI bundle of a container: ROOT/containers/<id>/config.json, written by every start.

The config follows the OCI runtime-spec and is all rocker's launcher reads
(rocker.launcher.ocispec): process (numeric user, resolved here in the image's own passwd and
group files, capabilities, noNewPrivileges), root (the overlay mount point
RUNROOT/containers/<id>/rootfs), hostname, mounts (the kernel filesystems, cgroups read-only,
the user's volumes, binds and tmpfs mounts, rocker's /etc files unless the user binds over
them), root.readonly (--read-only), linux (namespaces, resources, cgroupsPath, maskedPaths,
readonlyPaths, devices, seccomp, sysctl, rlimits, rootfsPropagation when a bind asks for slave
or shared propagation) and the annotations for the overlay and the volumes' copy-up. `runc run`
of a copy whose root.path points at an unpacked image runs the same process with the same
isolation.
"""

from __future__ import annotations

import errno
import json
import os
import stat

from rocker.launcher import ocispec
from rocker.paths import Paths

NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]


def config_path(paths: Paths, cid: str) -> str:
    return os.path.join(paths.container_dir(cid), ocispec.CONFIG)


def _layer_file(dirs: list[str], rel: str) -> str:
    """The text of `rel` as the container's overlay shows it: the first layer (upper first)
    that has it, never following a symlink (a whiteout or a symlink: not there)."""
    parts = rel.split("/")
    for d in dirs:
        try:
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            for name in parts[:-1]:
                nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=fd)
                os.close(fd)
                fd = nfd
            try:
                st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return ""  # an overlay whiteout: deleted in this layer
            if not stat.S_ISREG(st.st_mode) or st.st_size > (8 << 20):
                return ""
            ffd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            with os.fdopen(ffd, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                continue
            raise
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
    return ""


def _user(rec: dict) -> dict:
    from rocker.launcher.users import resolve_user
    dirs = [rec["rootfs"]["upper"], *rec["rootfs"]["lower"]]
    files = {n: _layer_file(dirs, f"etc/{n}") for n in ("passwd", "group")}
    uid, gid, groups, home = resolve_user(rec["process"].get("user") or "0", files=files)
    return {"uid": uid, "gid": gid, "additionalGids": groups, "home": home}


def _device_rule(rule: str) -> dict:
    """A devices-cgroup rule ("c 136:* rwm") as an OCI linux.resources.devices entry."""
    kind, numbers, access = rule.split()
    major, minor = numbers.split(":")
    return {"allow": True, "type": kind, "major": int(major),
            **({"minor": int(minor)} if minor != "*" else {}), "access": access}


def _resources(limits: dict) -> dict:
    from rocker.cgroups import Limits
    from rocker.cgroups.limits import CFS_PERIOD, cpus_to_quota
    from rocker.cgroups.v1 import DEVICE_RULES
    lim = Limits.from_dict(limits or {}).effective()
    out: dict = {"devices": [{"allow": False, "access": "rwm"}] +
                 [_device_rule(r) for r in DEVICE_RULES]}
    mem = {k: v for k, v in (("limit", lim.memory), ("swap", lim.memory_swap),
                             ("reservation", lim.memory_reservation)) if v is not None}
    if mem:
        out["memory"] = mem
    cpu = {}
    if lim.cpu_shares is not None:
        cpu["shares"] = lim.cpu_shares
    if lim.cpus is not None:
        cpu["quota"], cpu["period"] = cpus_to_quota(lim.cpus), CFS_PERIOD
    if lim.cpuset_cpus is not None:
        cpu["cpus"] = str(lim.cpuset_cpus)
    if lim.cpuset_mems is not None:
        cpu["mems"] = str(lim.cpuset_mems)
    if cpu:
        out["cpu"] = cpu
    if lim.pids_limit is not None:
        out["pids"] = {"limit": lim.pids_limit}
    return out


def build(paths: Paths, rec: dict, layout, net_peer: tuple[str, int] | None = None) -> dict:
    """The config.json of `rec` on this host (`layout`: its cgroup layout). `net_peer`: the
    (id, pid) of the running container whose network namespace `--network container:X` joins
    (its /etc files and hostname too, as in Docker)."""
    from rocker.launcher import seccomp
    cid, cfg, proc = rec["id"], rec["config"], rec["process"]
    rundir = paths.container_rundir(cid)
    mode = cfg.get("network_mode") or "bridge"
    # resolved: the launcher opens bind sources without following any symlink (the default
    # runroot /var/run/rocker is one, /var/run -> /run)
    etc_dir = os.path.realpath(paths.container_rundir(net_peer[0]) if net_peer else rundir)
    namespaces = []
    for t in ocispec.NAMESPACE_TYPES:
        if t == "network" and mode == "host":
            continue  # the host's own
        if t == "network" and net_peer:
            namespaces.append({"type": t, "path": f"/proc/{net_peer[1]}/ns/net"})
        else:
            namespaces.append({"type": t})
    user = _user(rec)
    env = list(proc["env"])
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={user['home']}")
    caps = ocispec.cap_names(ocispec.default_cap_mask(layout.version))
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": NOSUID_NOEXEC_NODEV},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": NOSUID_NOEXEC_NODEV + ["mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": NOSUID_NOEXEC_NODEV},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": NOSUID_NOEXEC_NODEV + ["ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup2" if layout.version == 2 else "cgroup",
         "source": "cgroup", "options": NOSUID_NOEXEC_NODEV + ["relatime", "ro"]},
    ]
    user_mounts = oci_mounts(rec.get("mounts") or [])
    mine = {m["destination"] for m in user_mounts}
    # a bind of the user's over /etc/hosts, /etc/hostname or /etc/resolv.conf wins (Docker)
    mounts += user_mounts + [
        {"destination": f"/etc/{n}", "type": "bind", "source": os.path.join(etc_dir, n),
         "options": ["rbind", "rprivate"]} for n in ("hostname", "hosts", "resolv.conf")
        if f"/etc/{n}" not in mine]
    ann = {ocispec.OVERLAY_LOWER: ":".join(rec["rootfs"]["lower"]),
           ocispec.OVERLAY_UPPER: rec["rootfs"]["upper"],
           ocispec.OVERLAY_WORK: rec["rootfs"]["work"]}
    copy_up = [m["target"] for m in rec.get("mounts") or () if m.get("copy_up")]
    if copy_up:
        ann[ocispec.COPY_UP] = json.dumps(copy_up)
    if layout.version == 1:
        ann[ocispec.CGROUP_V1] = json.dumps(
            {os.path.basename(mnt): ctrls for mnt, ctrls in layout.hierarchies().items()},
            sort_keys=True)
    root_user = user["uid"] == 0
    return {
        "ociVersion": ocispec.OCI_VERSION,
        "process": {
            "terminal": bool(cfg.get("tty")),
            "user": {"uid": user["uid"], "gid": user["gid"],
                     **({"additionalGids": user["additionalGids"]}
                        if user["additionalGids"] else {})},
            "args": list(proc["args"]),
            "env": env,
            "cwd": proc.get("cwd") or "/",
            "capabilities": {"bounding": caps, "effective": caps if root_user else [],
                             "permitted": caps if root_user else [], "inheritable": [],
                             "ambient": []},
            "rlimits": [],
            "noNewPrivileges": True,
        },
        "root": {"path": os.path.join(rundir, "rootfs"),
                 "readonly": bool(cfg.get("read_only"))},
        "hostname": hostname_of(paths, rec, net_peer),
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": f"/rocker/{cid}",
            "resources": _resources(cfg.get("limits") or {}),
            "devices": [{"path": f"/dev/{n}", "type": "c", "major": ma, "minor": mi,
                         "fileMode": 0o666, "uid": 0, "gid": 0} for n, ma, mi in ocispec.DEVICES],
            "maskedPaths": list(ocispec.MASKED_PATHS),
            "readonlyPaths": list(ocispec.READONLY_PATHS),
            "seccomp": seccomp.default_profile(),
            "sysctl": {},
            **({"rootfsPropagation": "rslave"} if any(
                m.get("propagation") in SLAVE_OR_SHARED for m in rec.get("mounts") or ())
               else {}),
        },
        "annotations": ann,
    }


SLAVE_OR_SHARED = ("slave", "rslave", "shared", "rshared")


def oci_mounts(mounts: list[dict]) -> list[dict]:
    """A record's resolved mounts (rocker.containers.volumes.prepare) as config.json mounts."""
    out = []
    for m in mounts:
        if m["type"] == "tmpfs":
            out.append({"destination": m["target"], "type": "tmpfs", "source": "tmpfs",
                        "options": list(m.get("options") or [])})
            continue
        opts = ["bind" if m.get("nonrecursive") else "rbind",
                m.get("propagation") or "rprivate"]
        if m.get("readonly"):
            opts.append("ro")
        out.append({"destination": m["target"], "type": "bind", "source": m["source"],
                    "options": opts})
    return out


def hostname_of(paths: Paths, rec: dict, net_peer: tuple[str, int] | None = None) -> str:
    """--hostname, else the host's with --network host, the peer's with container:X, else the
    short id (Docker's choices)."""
    cfg = rec["config"]
    if cfg.get("hostname"):
        return cfg["hostname"]
    if net_peer:
        try:
            with open(os.path.join(paths.container_rundir(net_peer[0]), "hostname")) as f:
                return f.read().strip() or rec["id"][:12]
        except OSError:
            pass
    if (cfg.get("network_mode") or "bridge") == "host":
        return os.uname().nodename
    return rec["id"][:12]


def write(paths: Paths, rec: dict, layout, net_peer: tuple[str, int] | None = None) -> str:
    """Build and write the config (atomically); its path."""
    from rocker.state.store import atomic_write
    path = config_path(paths, rec["id"])
    data = json.dumps(build(paths, rec, layout, net_peer),
                      separators=(",", ":")).encode()  # C encoder
    atomic_write(path, data, durable=False)  # written again before every start
    return path
