"""`rocker spec dump`: container records -> a stack file (YAML or TOML), so ad-hoc containers
can be adopted into a stack (`rocker apply --adopt` then takes them over unchanged: the dumped
file builds the very same ContainerConfig, hence the same spec hash).

Members of a stack are grouped back by service (replicas = how many); other containers get a
service each, named after the container. Images are referenced as the containers recorded them
(they are in the store already), so the file has no `images:` section.
"""

from __future__ import annotations

from typing import Any, Iterable

from rocker import fields


def _duration(seconds: float) -> str:
    s = float(seconds)
    if s.is_integer():
        return f"{int(s)}s"
    return f"{int(round(s * 1000))}ms"


def _healthcheck(hc: dict) -> dict:
    return {"test": list(hc["test"]), "interval": _duration(hc["interval"]),
            "timeout": _duration(hc["timeout"]), "retries": hc["retries"],
            "start_period": _duration(hc["start_period"])}


def _stack_value(row: fields.Field, value: Any) -> Any:
    """A recorded value -> how the stack file writes it (lists and maps copied)."""
    if row.kind == "healthcheck":
        return _healthcheck(value)
    if isinstance(value, (list, dict)):
        return type(value)(value)
    return value


def _port(m: dict) -> str:
    """A recorded port mapping -> the file's short form, [IP:][HOST:]CONTAINER/PROTO."""
    host = f"{m['HostPort']}:" if m.get("HostPort") else ""
    if m.get("HostIp"):
        host = f"{m['HostIp']}:{host or ':'}"
    return f"{host}{m['ContainerPort']}/{m['Protocol']}"


def network_key(name: str, stack: str | None) -> str:
    """A host network's key in the stack file: `<stack>_back` -> back; others by name."""
    return name[len(stack) + 1:] if stack and name.startswith(stack + "_") else name


def _networks(atts: list[dict], stack: str | None) -> Any:
    """Recorded attachments -> the member's `networks:` (None: the stack's default alone)."""
    keys = [network_key(a["name"], stack) for a in atts]
    if not any(a.get("aliases") or a.get("ip") for a in atts):
        return None if keys == ["default"] else keys
    out: dict[str, Any] = {}
    for k, a in zip(keys, atts):
        one = {}
        if a.get("aliases"):
            one["aliases"] = list(a["aliases"])
        if a.get("ip"):
            one["ipv4_address"] = a["ip"]
        out[k] = one or None
    return out


def container_spec(config: dict, stack: str | None = None) -> dict[str, Any]:
    """A recorded ContainerConfig dict -> the fields of a ContainerSpec (defaults left out),
    every field of rocker.fields with a stack key, by that key; network names relative to
    `stack`."""
    out: dict[str, Any] = {"image": config["image"]}
    limits = config.get("limits") or {}
    for row in fields.ROWS:
        if not row.stack or not row.stored or row.kind == "image":
            continue
        value = limits.get(row.name) if row.group else config.get(row.name)
        if row.kind == "networks":
            if (config.get("network_mode") or "bridge") != "bridge":
                continue
            # a container of no stack on rocker's default network says so (a stack member
            # with no networks joins the stack's own)
            value = _networks(value or [{"name": "bridge"}], stack)
            if value is not None:
                out[row.stack] = value
            continue
        if value is None or value == row.default or (value == {} and row.default is None):
            continue
        if row.kind == "ports":
            value = [_port(m) for m in value]
        if row.kind == "mounts":
            value = [_mount(m, stack) for m in value]
        if row.kind == "tmpfs":
            value = [f"{t}:{o}" if o else t for t, o in value.items()]
        out[row.stack] = _stack_value(row, value)
    return out


def volume_key(name: str, stack: str | None) -> str:
    """A host volume's key in the stack file: `<stack>_data` -> data; others by name."""
    return name[len(stack) + 1:] if stack and name.startswith(stack + "_") else name


def _mount(m: dict, stack: str | None) -> Any:
    """A recorded mount -> the file's short form where it says the same (a -v bind makes a
    missing folder, as the short form does), else the long form."""
    ro = ":ro" if m.get("readonly") else ""
    if m["type"] == "volume" and not m.get("labels"):
        src = volume_key(m["source"], stack) if m["source"] else ""
        opts = ",".join(o for o in (ro[1:], "nocopy" if m.get("nocopy") else "") if o)
        return f"{src}:{m['target']}" + (f":{opts}" if opts else "") if src else \
            (m["target"] if not opts else {"type": "volume", "target": m["target"],
                                           "read_only": bool(ro),
                                           "volume": {"nocopy": bool(m.get("nocopy"))}})
    if m["type"] == "bind" and m.get("create_host_path") and not m.get("nonrecursive"):
        opts = ",".join(o for o in (ro[1:], m.get("propagation") or "") if o)
        return f"{m['source']}:{m['target']}" + (f":{opts}" if opts else "")
    out: dict[str, Any] = {"type": m["type"], "target": m["target"]}
    if m.get("source"):
        out["source"] = volume_key(m["source"], stack) if m["type"] == "volume" else m["source"]
    if m.get("readonly"):
        out["read_only"] = True
    if m.get("propagation"):
        out["bind"] = {"propagation": m["propagation"]}
    if m.get("nocopy"):
        out["volume"] = {"nocopy": True}
    if m.get("tmpfs_size") is not None or m.get("tmpfs_mode") is not None:
        out["tmpfs"] = {k: (v if k == "size" else format(v, "o"))
                        for k, v in (("size", m.get("tmpfs_size")), ("mode", m.get("tmpfs_mode")))
                        if v is not None}
    return out


def _top_networks(containers: dict[str, dict], stack: str | None,
                  records: dict[str, dict]) -> dict[str, Any]:
    """The stack's `networks:` for what its members use: its own (subnet, internal, labels as
    recorded) and, as external, the others (`bridge` is implicit)."""
    out: dict[str, Any] = {}
    keys = [k for spec in containers.values() for k in spec.get("networks") or ["default"]]
    for key in keys:
        if key in out or key == "bridge":
            continue
        name = f"{stack}_{key}" if stack else key
        rec = records.get(name) or records.get(key)
        if rec is None or (rec.get("stack") != stack or not stack):
            if key != "default":
                out[key] = {"external": True}
            continue
        one: dict[str, Any] = {"subnet": rec["subnet"], "gateway": rec["gateway"]}
        if rec.get("internal"):
            one["internal"] = True
        if rec.get("labels"):
            one["labels"] = dict(rec["labels"])
        if rec["name"] != f"{stack}_{key}":
            one["name"] = rec["name"]
        if key == "default" and len(one) == 2:
            continue   # the stack's default network as any apply makes it
        out[key] = one
    return out


def stack_from_records(recs: Iterable[dict], name: str | None = None,
                       networks: dict[str, dict] | None = None,
                       volumes: dict[str, dict] | None = None) -> dict[str, Any]:
    """The stack file of these records; `networks` and `volumes` are the network and volume
    records by name."""
    recs = list(recs)
    containers: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for rec in sorted(recs, key=lambda r: r.get("name") or ""):
        owner = rec.get("stack") or {}
        svc = owner.get("service") or rec.get("name") or rec["id"][:12]
        counts[svc] = counts.get(svc, 0) + 1
        if svc in containers:
            continue
        spec = container_spec(rec.get("config") or {}, owner.get("name") or name)
        stack = owner.get("name") or name
        replica = owner.get("replica") or ""
        scoped = f"{stack}-{svc}-{replica.rsplit('-', 1)[-1]}" if replica else None
        if rec.get("name") and rec["name"] != scoped:
            # a container of no stack, or a member with a fixed name, keeps its name (so
            # `apply --adopt` takes a container of no stack over as is)
            spec["container_name"] = rec["name"]
        deps = owner.get("depends_on") or {}
        if deps:
            spec["depends_on"] = dict(deps)
        containers[svc] = spec
    for svc, n in counts.items():
        if n != 1 or (svc not in {r.get("name") for r in recs}):
            containers[svc]["replicas"] = n
    data: dict[str, Any] = {}
    if name:
        data["name"] = name
    data["containers"] = containers
    stacks = {(r.get("stack") or {}).get("name") for r in recs}
    owner_stack = stacks.pop() if len(stacks) == 1 else name
    nets = _top_networks(containers, owner_stack, networks or {})
    if nets:
        data["networks"] = nets
    vols = _top_volumes(recs, owner_stack, volumes or {})
    if vols:
        data["volumes"] = vols
    return data


def _top_volumes(recs: list[dict], stack: str | None, records: dict[str, dict]
                 ) -> dict[str, Any]:
    """The stack's `volumes:` for the named volumes its members mount: `<stack>_<key>` ones
    by key (with their labels as recorded), the others as external (made outside the
    stack)."""
    out: dict[str, Any] = {}
    for rec in recs:
        for m in (rec.get("config") or {}).get("mounts") or []:
            if m["type"] != "volume" or not m["source"]:
                continue
            key = volume_key(m["source"], stack)
            if key == m["source"]:
                out[key] = {"external": True}
                continue
            labels = (records.get(m["source"]) or {}).get("Labels") or {}
            out[key] = {"labels": dict(labels)} if labels else {}   # TOML has no null
    return out


def dump_text(data: dict, fmt: str = "yaml") -> str:
    if fmt == "toml":
        import tomli_w
        return tomli_w.dumps(data)
    import yaml
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
