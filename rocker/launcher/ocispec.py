"""The launcher's input: an OCI runtime-spec config.json (the bundle rocker writes for every
container, rocker.runtime.bundle), read into what rootfs and init do.

Plain dicts and a few helpers, no model library (this runs on every start, in the monitor).
What rocker's launcher takes from the config: process (terminal, user uid/gid/additionalGids,
args, env, cwd, capabilities.bounding, noNewPrivileges), root.path, hostname,
linux.namespaces (made, or joined where a path is given), mounts (the standard kernel
filesystems are recognised by destination and type; binds and tmpfs mounts are made by
rocker.launcher.mounts, resolved inside the root), root.readonly, linux.rootfsPropagation,
linux.maskedPaths / readonlyPaths, linux.seccomp (compiled by rocker.launcher.seccomp), and
what other callers of an OCI runtime use (rocker.ociruntime): a user namespace with its
uid/gid mappings, other filesystems (mqueue, a second proc, ...) mounted as given,
process.rlimits, oomScoreAdj, the five capability sets, umask, linux.sysctl, linux.devices
and the hooks that run inside the container (createContainer, startContainer). A root
without the overlay annotations is used as it is (bind-mounted).
Three annotations describe what the OCI spec cannot: the volumes to fill from the image when
they are empty (Docker's copy-up), the overlay root rocker mounts inside the container's own
mount namespace (so the host's mount table never changes) and, on cgroup v1, the hierarchies
to show read-only at /sys/fs/cgroup. runc ignores them and runs the bundle on whatever
root.path holds.
"""

from __future__ import annotations

import json

from rocker.errors import ContainerStartError

OCI_VERSION = "1.2.0"
CONFIG = "config.json"  # in the container's folder: ROOT/containers/<id>/config.json
OVERLAY_LOWER = "io.rocker.overlay.lowerdir"    # colon-separated, top first
OVERLAY_UPPER = "io.rocker.overlay.upperdir"
OVERLAY_WORK = "io.rocker.overlay.workdir"
CGROUP_V1 = "io.rocker.cgroup.v1-hierarchies"  # JSON {mount name: controllers}
COPY_UP = "io.rocker.volumes.copy-up"  # JSON [target]: volumes filled from the image if empty

CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
"""Capability names by number (linux/capability.h)."""

# what runc and Docker mask and make read-only by default
# (../shared/reference/runtime-defaults.md)
MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
    "/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
DEVICES = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0)]
"""The device nodes every container gets in /dev: name, major, minor (runtime-defaults.md)."""

# Docker's default capability set (CapEff 00000000a80425fb); less CAP_MKNOD on cgroup v2, where
# no device cgroup guards device nodes (its device controller is an eBPF program rocker does
# not load)
DEFAULT_CAP_MASK = 0xA80425FB
NO_MKNOD_CAP_MASK = DEFAULT_CAP_MASK & ~(1 << 27)


def default_cap_mask(cgroup_version: int) -> int:
    return DEFAULT_CAP_MASK if cgroup_version == 1 else NO_MKNOD_CAP_MASK


STANDARD = {"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs",
            "/dev/mqueue": "mqueue", "/sys": "sysfs", "/sys/fs/cgroup": ("cgroup", "cgroup2")}
"""Mounts rocker's launcher makes itself, with its checks (rocker.launcher.rootfs)."""


def cap_names(mask: int) -> list[str]:
    return [name for bit, name in enumerate(CAPS) if mask >> bit & 1]


def cap_mask(names) -> int:
    mask = 0
    for name in names or []:
        try:
            mask |= 1 << CAPS.index(name)
        except ValueError:
            raise ContainerStartError(f"config.json: unknown capability {name!r}") from None
    return mask


def load(path: str) -> dict:
    with open(path, "rb") as f:
        return json.load(f)


NAMESPACE_TYPES = ("pid", "network", "ipc", "uts", "mount", "cgroup")
"""The linux.namespaces types of rocker's own containers (rocker.runtime.bundle)."""
LAUNCHER_NAMESPACES = NAMESPACE_TYPES + ("user",)
"""The types rocker's launcher makes or joins (a user namespace: rocker-runtime bundles)."""

RLIMITS = {"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
           "RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
           "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11,
           "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15}
"""process.rlimits types -> resource numbers (linux/resource.h)."""

MOUNT_OPTIONS = {
    "ro": (1, True), "rw": (1, False), "nosuid": (2, True), "suid": (2, False),
    "nodev": (4, True), "dev": (4, False), "noexec": (8, True), "exec": (8, False),
    "sync": (16, True), "async": (16, False), "remount": (32, True), "mand": (64, True),
    "nomand": (64, False), "dirsync": (128, True), "noatime": (1024, True),
    "atime": (1024, False), "nodiratime": (2048, True), "diratime": (2048, False),
    "bind": (4096, True), "rbind": (4096 | 16384, True), "relatime": (1 << 21, True),
    "norelatime": (1 << 21, False), "strictatime": (1 << 24, True),
    "nostrictatime": (1 << 24, False),
}
"""Mount options that are flags (mount(8)); anything else is filesystem data."""
PROPAGATION = {"shared": 1 << 20, "rshared": 1 << 20 | 16384, "slave": 1 << 19,
               "rslave": 1 << 19 | 16384, "private": 1 << 18, "rprivate": 1 << 18 | 16384,
               "unbindable": 1 << 17, "runbindable": 1 << 17 | 16384}


def mount_flags(options) -> tuple[int, str, int]:
    """OCI mount options -> (flags, data, propagation flags)."""
    flags, data, prop = 0, [], 0
    for opt in options or []:
        if opt in MOUNT_OPTIONS:
            bit, on = MOUNT_OPTIONS[opt]
            flags = flags | bit if on else flags & ~bit
        elif opt in PROPAGATION:
            prop |= PROPAGATION[opt]
        else:
            data.append(opt)
    return flags, ",".join(data), prop


def _mappings(items) -> list[tuple[int, int, int]]:
    return [(int(m["containerID"]), int(m["hostID"]), int(m["size"])) for m in items or []]


def _rlimits(items) -> list[tuple[int, int, int]]:
    out = []
    for r in items or []:
        if r["type"] not in RLIMITS:
            raise ContainerStartError(f"config.json: unknown rlimit {r['type']!r}")
        out.append((RLIMITS[r["type"]], int(r["soft"]), int(r["hard"])))
    return out


def _devices(items) -> list[dict]:
    out = []
    for d in items or []:
        kind = d["type"]
        if kind not in ("c", "u", "b", "p"):
            raise ContainerStartError(f"config.json: device {d['path']}: type {kind!r} is not "
                                      "c, u, b or p")
        out.append({"path": d["path"], "type": kind, "major": int(d.get("major") or 0),
                    "minor": int(d.get("minor") or 0),
                    "mode": int(d["fileMode"]) if d.get("fileMode") is not None else 0o666,
                    "uid": int(d.get("uid") or 0), "gid": int(d.get("gid") or 0)})
    return out


def hooks_of(items) -> list[dict]:
    return [{"path": h["path"], "args": list(h.get("args") or [h["path"]]),
             "env": list(h.get("env") or []), "timeout": h.get("timeout")}
            for h in items or []]


def _caps(caps: dict) -> dict:
    return {k: cap_mask(caps.get(k)) for k in
            ("bounding", "effective", "permitted", "inheritable", "ambient")}


def namespaces(linux: dict) -> list[dict]:
    """linux.namespaces, checked: known types, each once. A path means: join that namespace.
    Without a mount namespace of its own the container's root is only chroot'ed into (no
    mount is made: they would be another namespace's)."""
    out, seen = [], set()
    for ns in linux.get("namespaces") or []:
        kind, path = ns["type"], ns.get("path") or ""
        if kind not in LAUNCHER_NAMESPACES:
            raise ContainerStartError(f"config.json: namespace {kind!r} is not supported by "
                                      "rocker's launcher")
        if kind in seen:
            raise ContainerStartError(f"config.json: namespace {kind!r} is listed twice")
        if path and not path.startswith("/"):
            raise ContainerStartError(f"config.json: the {kind} namespace path {path!r} is not "
                                      "absolute")
        seen.add(kind)
        out.append({"type": kind, "path": path})
    return out


PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable",
                "runbindable")
TMPFS_FLAGS = ("nosuid", "nodev", "noexec", "ro")
TMPFS_KEEP = ("rw", "suid", "dev", "exec", "relatime", "noatime", "strictatime", "nodiratime")
FORBIDDEN_TARGETS = ("/", "/proc", "/sys", "/dev")


def user_mount(m: dict) -> dict:
    """A mount of config.json other than the kernel filesystems rocker makes itself, as the
    launcher makes it (rocker.launcher.mounts): a bind ({kind, source, target, readonly,
    recursive, propagation}) or a tmpfs ({kind, target, flags, data})."""
    dest, kind, opts = m["destination"], m.get("type"), list(m.get("options") or [])
    if not isinstance(dest, str) or not dest.startswith("/") or "\0" in dest:
        raise ContainerStartError(f"config.json: mount destination {dest!r} is not absolute")
    norm = "/" + "/".join(p for p in dest.split("/") if p not in ("", "."))
    if norm in FORBIDDEN_TARGETS or norm.startswith("/proc/") or ".." in norm.split("/"):
        raise ContainerStartError(f"config.json: refusing to mount over {dest}")
    if kind == "bind" or "bind" in opts or "rbind" in opts:
        props = [o for o in opts if o in PROPAGATIONS]
        bind = {"kind": "bind", "source": m["source"], "target": norm,
                "readonly": "ro" in opts, "recursive": "bind" not in opts,
                "propagation": props[-1] if props else ""}
        flags = [o for o in opts if o in ("nosuid", "nodev", "noexec")]
        if flags:  # an OCI bundle's bind options
            bind["flags"] = flags
        return bind
    if kind == "tmpfs":
        flags, data, prop = [], {}, ""
        for o in opts:
            key, eq, value = o.partition("=")
            if o in TMPFS_FLAGS:
                flags.append(o)
            elif o in PROPAGATIONS:
                prop = o
            elif eq and key in ("size", "mode", "uid", "gid", "nr_inodes"):
                data[key] = value
            elif o not in TMPFS_KEEP:
                raise ContainerStartError(f"config.json: tmpfs option {o!r} at {dest} is not "
                                          "supported by rocker's launcher")
        tmpfs = {"kind": "tmpfs", "target": norm, "flags": flags, "data": data}
        if prop:
            tmpfs["propagation"] = prop
        return tmpfs
    if not kind:
        raise ContainerStartError(f"config.json: the mount at {dest} has no type")
    # another filesystem (an OCI bundle's mqueue, proc, sysfs, ...): mounted as given
    flags, data, prop = mount_flags(opts)
    return {"kind": "other", "type": kind, "source": m.get("source") or kind, "target": norm,
            "flags": flags, "data": data, "propagation": prop}


def process_of(proc: dict, linux: dict | None = None) -> dict:
    """An OCI `process` object as the init (and exec, rocker.launcher.nsexec) runs it."""
    user = proc.get("user") or {}
    linux = linux or {}
    return {
        "args": list(proc["args"]),
        "env": list(proc.get("env") or []),
        "cwd": proc.get("cwd") or "/",
        "uid": int(user.get("uid", 0)),
        "gid": int(user.get("gid", 0)),
        "groups": [int(g) for g in user.get("additionalGids") or []],
        "tty": bool(proc.get("terminal")),
        "no_new_privs": bool(proc.get("noNewPrivileges")),
        "cap_mask": cap_mask((proc.get("capabilities") or {}).get("bounding")),
        "caps": _caps(proc.get("capabilities") or {}),
        "umask": user.get("umask"),
        "rlimits": _rlimits(proc.get("rlimits")),
        "oom_score_adj": proc.get("oomScoreAdj"),
        "seccomp": linux.get("seccomp"),
    }


def to_launch(cfg: dict) -> dict:
    """The config as the launcher's steps use it; ContainerStartError if it asks for what
    rocker's launcher does not do."""
    try:
        proc, ann, linux = cfg["process"], cfg.get("annotations") or {}, cfg.get("linux") or {}
        cgroup_mount = None
        mounts = []
        for m in cfg.get("mounts") or []:
            dest, kind = m["destination"], m.get("type")
            std = STANDARD.get(dest)
            if std is not None and kind in (std if isinstance(std, tuple) else (std,)) and \
                    (dest != "/dev/shm" or m.get("source") == "shm"):
                if dest == "/sys/fs/cgroup":
                    cgroup_mount = ({"version": 2} if kind == "cgroup2" else
                                    {"version": 1, "hierarchies": json.loads(
                                        ann.get(CGROUP_V1) or "{}")})
                continue
            mounts.append(user_mount(m))
        copy_up = json.loads(ann.get(COPY_UP) or "[]")
        ns = namespaces(linux)
        if cfg.get("hostname") and not any(n["type"] == "uts" for n in ns):
            raise ContainerStartError("config.json: a hostname needs a uts namespace")
        hooks = cfg.get("hooks") or {}
        prop = linux.get("rootfsPropagation") or ""
        if prop and prop not in PROPAGATION:
            raise ContainerStartError(f"config.json: unknown rootfsPropagation {prop!r}")
        overlay = ann.get(OVERLAY_LOWER) is not None
        return {
            "namespaces": ns,
            "new_network": any(n["type"] == "network" and not n["path"] for n in ns),
            "userns": any(n["type"] == "user" for n in ns),
            "own_mount_ns": any(n["type"] == "mount" and not n["path"] for n in ns),
            "uid_mappings": _mappings(linux.get("uidMappings")),
            "gid_mappings": _mappings(linux.get("gidMappings")),
            "rootfs": cfg["root"]["path"],
            "lower": ann[OVERLAY_LOWER].split(":") if overlay else None,
            "upper": ann[OVERLAY_UPPER] if overlay else None,
            "work": ann[OVERLAY_WORK] if overlay else None,
            "sysctl": dict(linux.get("sysctl") or {}),
            "devices": _devices(linux.get("devices")),
            "hooks": {"createContainer": hooks_of(hooks.get("createContainer")),
                      "startContainer": hooks_of(hooks.get("startContainer"))},
            "mounts": mounts,
            "copy_up": [str(t) for t in copy_up],
            "readonly_root": bool(cfg["root"].get("readonly")),
            "rootfs_propagation": linux.get("rootfsPropagation") or "",
            "hostname": cfg.get("hostname") or "",
            "tty": bool(proc.get("terminal")),
            "cgroup_mount": cgroup_mount,
            "masked_paths": list(linux.get("maskedPaths") or []),
            "readonly_paths": list(linux.get("readonlyPaths") or []),
            "process": process_of(proc, linux),
        }
    except (KeyError, TypeError, ValueError) as e:
        raise ContainerStartError(f"config.json: not a config rocker's launcher can run: "
                                  f"{type(e).__name__}: {e}") from None
