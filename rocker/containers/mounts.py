"""A container's mounts as the user writes them: `-v`, `--mount`, `--tmpfs` and the stack file's
`volumes:` (short and long syntax) and `tmpfs:`, parsed and checked into one normal form.

Pure (no disk): a bind source's existence is checked when the container is created
(rocker.runtime.volumes), not here. The normal form, one dict per mount:

    {"type": "volume" | "bind" | "tmpfs", "source": str, "target": str, "readonly": bool}
    + only when set: "propagation" (binds), "create_host_path" (binds from -v: a missing host
      folder is made, as Docker does), "nonrecursive" (binds), "nocopy" (volumes: no copy-up),
      "labels" (volumes created by this mount), "tmpfs_size" (bytes), "tmpfs_mode" (int)

An anonymous volume has the source "". Targets are cleaned (`/a//b/` is `/a/b`) and must be
absolute; `/`, `/proc`, `/sys`, `/dev` and anything below /proc are refused, as is a target
given twice ("duplicate mount point", Docker's words).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rocker.errors import InvalidInput

PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
MAX_MOUNTS = 128
MAX_TEXT = 4096
FORBIDDEN = ("/", "/proc", "/sys", "/dev")
TMPFS_WORDS = ("rw", "ro", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "relatime",
               "noatime", "strictatime", "nodiratime")
TMPFS_KEYS = ("size", "mode", "uid", "gid", "nr_inodes")


def check_volume_name(name: str) -> str:
    from rocker.volumes.store import NAME_RE
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(f"invalid volume name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]+ "
                           "(a host folder must be an absolute path)")
    return name


def clean_target(target: Any, what: str = "mount") -> str:
    if not isinstance(target, str) or not target:
        raise InvalidInput(f"invalid {what}: a target (the path in the container) is required")
    if len(target) > MAX_TEXT or "\0" in target:
        raise InvalidInput(f"invalid {what} target {target[:80]!r}")
    if not target.startswith("/"):
        raise InvalidInput(f"invalid {what} target {target!r}: it must be an absolute path")
    parts: list[str] = []
    for p in target.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
            continue
        parts.append(p)
    norm = "/" + "/".join(parts)
    if norm in FORBIDDEN or norm.startswith("/proc/"):
        raise InvalidInput(f"invalid {what} target {target!r}: mounting over "
                           f"{norm} is not allowed")
    return norm


def _host_path(path: str, what: str) -> str:
    if len(path) > MAX_TEXT or "\0" in path:
        raise InvalidInput(f"invalid {what} source {path[:80]!r}")
    if not path.startswith("/"):
        raise InvalidInput(f"invalid {what} source {path!r}: a host path must be absolute")
    return path


def _bool(value: str, key: str) -> bool:
    v = value.strip().lower()
    if v in ("", "1", "true", "yes"):
        return True
    if v in ("0", "false", "no"):
        return False
    raise InvalidInput(f"invalid --mount {key}={value!r}: use true or false")


def _mode(value: Any, what: str) -> int:
    text = str(value).strip()
    if not re.match(r"^0?[0-7]{1,4}\Z", text):
        raise InvalidInput(f"invalid {what} {value!r}: an octal mode such as 1777")
    return int(text, 8)


def _size(value: Any, what: str) -> int:
    from rocker.cgroups.limits import parse_bytes
    return parse_bytes(value, what)


def parse_volume(text: str) -> dict:
    """`-v [SRC:]DST[:OPTS]`: SRC an absolute host path (a bind; a missing folder is made) or a
    volume name; no SRC: an anonymous volume. OPTS: ro, rw, nocopy, z, Z and a propagation."""
    if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
        raise InvalidInput(f"invalid volume spec {str(text)[:80]!r}")
    parts = text.split(":")
    if len(parts) > 3:
        raise InvalidInput(f"invalid volume spec {text!r}: use [SOURCE:]TARGET[:OPTIONS]")
    if len(parts) == 1:
        return {"type": "volume", "source": "", "target": clean_target(parts[0], "volume"),
                "readonly": False}
    src, dst = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 else []
    if not src:
        raise InvalidInput(f"invalid volume spec {text!r}: empty source")
    bind = src.startswith("/")
    m: dict = {"type": "bind" if bind else "volume",
               "source": _host_path(src, "volume") if bind else check_volume_name(src),
               "target": clean_target(dst, "volume"), "readonly": False}
    if bind:
        m["create_host_path"] = True
    seen_rw = seen_prop = False
    for o in opts:
        if o in ("ro", "rw"):
            if seen_rw:
                raise InvalidInput(f"invalid volume spec {text!r}: ro and rw given twice")
            seen_rw, m["readonly"] = True, o == "ro"
        elif o in ("z", "Z"):
            continue   # SELinux relabelling: nothing to do without SELinux
        elif o == "nocopy" and not bind:
            m["nocopy"] = True
        elif o in PROPAGATIONS and bind:
            if seen_prop:
                raise InvalidInput(f"invalid volume spec {text!r}: two propagation modes")
            seen_prop, m["propagation"] = True, o
        else:
            raise InvalidInput(f"invalid mode {o!r} in volume spec {text!r}")
    return m


MOUNT_KEYS = {
    "type", "source", "src", "target", "destination", "dst", "readonly", "ro",
    "bind-propagation", "bind-nonrecursive", "volume-nocopy", "volume-label", "volume-driver",
    "tmpfs-size", "tmpfs-mode", "consistency",
}


def parse_mount(text: str) -> dict:
    """`--mount type=bind|volume|tmpfs,source=..,target=..,readonly,...` (Docker's long form,
    CSV: a field may be quoted). A bind's source must exist (checked at create)."""
    if not isinstance(text, str) or not text or len(text) > MAX_TEXT or "\n" in text \
            or "\r" in text:
        raise InvalidInput(f"invalid --mount {str(text)[:80]!r}")
    try:
        import csv  # only for --mount's CSV
        fields = next(csv.reader([text]))
    except (csv.Error, StopIteration):
        raise InvalidInput(f"invalid --mount {text!r}: not comma-separated key=value "
                           "fields") from None
    kv: dict[str, str] = {}
    labels: dict[str, str] = {}
    for f in fields:
        key, eq, value = f.partition("=")
        key = key.strip().lower()
        if key not in MOUNT_KEYS:
            raise InvalidInput(f"invalid --mount field {f!r}: unexpected key {key!r}")
        if not eq and key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
            raise InvalidInput(f"invalid --mount field {f!r}: expected key=value")
        if key == "volume-label":
            k, _, v = value.partition("=")
            if not k:
                raise InvalidInput(f"invalid --mount field {f!r}: volume-label=KEY=VALUE")
            labels[k] = v
            continue
        key = {"src": "source", "destination": "target", "dst": "target",
               "ro": "readonly"}.get(key, key)
        if key in kv:
            raise InvalidInput(f"invalid --mount {text!r}: {key} is given twice")
        kv[key] = value
    return _from_fields(kv, labels, text)


def _from_fields(kv: dict[str, str], labels: dict[str, str], text: str) -> dict:
    kind = kv.get("type", "volume")
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidInput(f"invalid --mount type {kind!r}: bind, volume or tmpfs")
    if kv.get("volume-driver", "local") != "local":
        raise InvalidInput(f"volume driver {kv['volume-driver']!r} is not supported (only "
                           "local)")
    m: dict = {"type": kind, "source": "", "target": clean_target(kv.get("target"), "mount"),
               "readonly": _bool(kv["readonly"], "readonly") if "readonly" in kv else False}

    def only(allowed: str, *keys: str) -> None:
        for k in keys:
            if k in kv or (k == "volume-label" and labels):
                raise InvalidInput(f"invalid --mount {text!r}: {k} is not allowed for type "
                                   f"{kind} (only {allowed})")
    if kind == "bind":
        only("bind-*", "volume-nocopy", "volume-label", "tmpfs-size", "tmpfs-mode")
        if not kv.get("source"):
            raise InvalidInput(f"invalid --mount {text!r}: a bind needs a source")
        m["source"] = _host_path(kv["source"], "bind")
        prop = kv.get("bind-propagation")
        if prop is not None:
            if prop not in PROPAGATIONS:
                raise InvalidInput(f"invalid bind-propagation {prop!r}: "
                                   f"{', '.join(PROPAGATIONS)}")
            m["propagation"] = prop
        if "bind-nonrecursive" in kv and _bool(kv["bind-nonrecursive"], "bind-nonrecursive"):
            m["nonrecursive"] = True
    elif kind == "volume":
        only("volume-*", "bind-propagation", "bind-nonrecursive", "tmpfs-size", "tmpfs-mode")
        if kv.get("source"):
            m["source"] = check_volume_name(kv["source"])
        if "volume-nocopy" in kv and _bool(kv["volume-nocopy"], "volume-nocopy"):
            m["nocopy"] = True
        if labels:
            m["labels"] = labels
    else:
        only("tmpfs-*", "bind-propagation", "bind-nonrecursive", "volume-nocopy",
             "volume-label")
        if kv.get("source"):
            raise InvalidInput(f"invalid --mount {text!r}: a tmpfs has no source")
        if "tmpfs-size" in kv:
            m["tmpfs_size"] = _size(kv["tmpfs-size"], "tmpfs-size")
        if "tmpfs-mode" in kv:
            m["tmpfs_mode"] = _mode(kv["tmpfs-mode"], "tmpfs-mode")
    return m


def parse_tmpfs_options(target: str, text: str | None) -> str:
    """The options of `--tmpfs DST[:OPTS]` (mount options: size=, mode=, uid=, gid=,
    nr_inodes=, rw/ro, exec/noexec, suid/nosuid, dev/nodev, atime words), checked; the
    option text as Docker keeps it."""
    if not text:
        return ""
    out = []
    for o in text.split(","):
        key, eq, value = o.partition("=")
        if not eq and key in TMPFS_WORDS:
            out.append(key)
        elif eq and key == "size":
            out.append(f"size={_size(value, f'--tmpfs {target} size')}")
        elif eq and key == "mode":
            out.append(f"mode={_mode(value, f'--tmpfs {target} mode'):o}")
        elif eq and key in ("uid", "gid", "nr_inodes") and value.isascii() and value.isdigit() \
                and len(value) <= 10:
            out.append(f"{key}={int(value)}")
        else:
            raise InvalidInput(f"invalid --tmpfs option {o!r} for {target}: use size=, mode=, "
                               f"uid=, gid=, nr_inodes= or {', '.join(TMPFS_WORDS)}")
    return ",".join(out)


def _compose(item: Mapping) -> dict:
    """The stack file's long syntax: {type, source, target, read_only, bind: {propagation,
    create_host_path}, volume: {nocopy}, tmpfs: {size, mode}}."""
    unknown = set(item) - {"type", "source", "target", "read_only", "bind", "volume", "tmpfs",
                           "consistency"}
    if unknown:
        raise InvalidInput(f"invalid volume {dict(item)!r}: unknown key(s) "
                           f"{', '.join(sorted(map(str, unknown)))}")
    kind = str(item.get("type") or "volume")
    kv: dict[str, str] = {"type": kind, "target": item.get("target") or ""}
    if item.get("source"):
        kv["source"] = str(item["source"])
    if item.get("read_only"):
        kv["readonly"] = "true"
    sub = {k: item.get(k) or {} for k in ("bind", "volume", "tmpfs")}
    for k, v in sub.items():
        if not isinstance(v, Mapping):
            raise InvalidInput(f"invalid volume {dict(item)!r}: {k} must be a mapping")
    create = False
    for k, v in sub["bind"].items():
        if k == "propagation":
            kv["bind-propagation"] = str(v)
        elif k == "create_host_path":
            create = bool(v)
        else:
            raise InvalidInput(f"invalid volume bind option {k!r} (propagation, "
                               "create_host_path)")
    for k, v in sub["volume"].items():
        if k != "nocopy":
            raise InvalidInput(f"invalid volume option {k!r} (nocopy)")
        kv["volume-nocopy"] = "true" if v else "false"
    for k, v in sub["tmpfs"].items():
        if k not in ("size", "mode"):
            raise InvalidInput(f"invalid tmpfs option {k!r} (size, mode)")
        kv[f"tmpfs-{k}"] = str(v)   # a mode as its digits: 1777 means 0o1777
    m = _from_fields(kv, {}, str(dict(item)))
    if create and m["type"] == "bind":
        m["create_host_path"] = True
    return m


def parse_mounts(raw: Any, tmpfs: Any = None) -> list[dict]:
    """The mounts field: from the command line {"volume": [-v...], "mount": [--mount...]}, or
    a stack file's list of short strings and long mappings. `tmpfs`: the raw tmpfs field, for
    the duplicate check."""
    if not raw:
        items: list = []
    elif isinstance(raw, Mapping) and set(raw) <= {"volume", "mount"}:
        items = [parse_volume(v) for v in raw.get("volume") or ()]
        items += [parse_mount(v) for v in raw.get("mount") or ()]
    elif isinstance(raw, (list, tuple)):
        items = []
        for v in raw:
            if isinstance(v, Mapping):
                items.append(_compose(v))
            elif isinstance(v, str):
                items.append(parse_volume(v))
            else:
                raise InvalidInput(f"invalid volume {v!r}: a string or a mapping")
    else:
        raise InvalidInput("volumes must be a list")
    if len(items) > MAX_MOUNTS:
        raise InvalidInput(f"too many mounts ({len(items)}; at most {MAX_MOUNTS})")
    seen = set(parse_tmpfs(tmpfs)) if tmpfs else set()
    for m in items:
        if m["target"] in seen:
            raise InvalidInput(f"duplicate mount point: {m['target']}")
        seen.add(m["target"])
    return items


def parse_tmpfs(raw: Any) -> dict[str, str]:
    """The tmpfs field: `--tmpfs DST[:OPTS]` strings (or a stack's list / one string, or a
    mapping target -> options) -> {target: options}."""
    if not raw:
        return {}
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, Mapping):
        pairs = [(str(k), "" if v is None else str(v)) for k, v in raw.items()]
    elif isinstance(raw, (list, tuple)):
        pairs = []
        for v in raw:
            if not isinstance(v, str):
                raise InvalidInput(f"invalid tmpfs {v!r}: TARGET[:OPTIONS]")
            t, _, o = v.partition(":")
            pairs.append((t, o))
    else:
        raise InvalidInput("tmpfs must be a list of TARGET[:OPTIONS]")
    if len(pairs) > MAX_MOUNTS:
        raise InvalidInput(f"too many tmpfs mounts ({len(pairs)}; at most {MAX_MOUNTS})")
    out: dict[str, str] = {}
    for t, o in pairs:
        target = clean_target(t, "--tmpfs")
        if target in out:
            raise InvalidInput(f"duplicate mount point: {target}")
        out[target] = parse_tmpfs_options(target, o)
    return out


def parse_volumes_from(raw: Any) -> list[str]:
    """`--volumes-from [container:]CONTAINER[:ro|rw]` -> the same strings, checked."""
    from rocker.containers.config import NAME_RE
    if not raw:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, (list, tuple)) or len(raw) > MAX_MOUNTS:
        raise InvalidInput("volumes_from must be a list of CONTAINER[:ro|rw]")
    out = []
    for item in raw:
        text = str(item)
        ref, _, mode = text.removeprefix("container:").partition(":")
        if not NAME_RE.match(ref) or mode not in ("", "ro", "rw"):
            raise InvalidInput(f"invalid --volumes-from {item!r}: CONTAINER[:ro|rw]")
        out.append(str(item))
    return out


def tmpfs_options(options: str, readonly: bool = False, size: int | None = None,
                  mode: int | None = None) -> list[str]:
    """The OCI options of a tmpfs: nosuid, nodev, noexec unless the options say otherwise
    (Docker's defaults), then size/mode/uid/gid."""
    flags = {"nosuid": True, "nodev": True, "noexec": True, "ro": readonly}
    data = []
    for o in (options.split(",") if options else []):
        if o in ("suid", "dev", "exec"):
            flags["no" + o] = False
        elif o in ("nosuid", "nodev", "noexec"):
            flags[o] = True
        elif o in ("ro", "rw"):
            flags["ro"] = o == "ro"
        elif "=" in o:
            data.append(o)
    if size is not None:
        data.append(f"size={size}")
    if mode is not None:
        data.append(f"mode={mode:o}")
    return [f for f, on in flags.items() if on] + data
