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
        out[row.stack] = _stack_value(row, value)
    return out


def _top_networks(containers: dict[str, dict], stack: str | None,
                  records: dict[str, dict]) -> dict[str, Any]:
    """The stack's `networks:` for what its members use: its own (subnet, internal, labels as
    recorded) and, as external, the others (`bridge` is implicit)."""
    out: dict[str, Any] = {}
    for spec in containers.values():
        nets = spec.get("networks") or []
        for key in nets:
            if key in out or key in ("default", "bridge"):
                continue
            name = f"{stack}_{key}" if stack else key
            rec = records.get(name)
            if rec is None or (rec.get("stack") != stack or not stack):
                out[key] = {"external": True}
                continue
            one: dict[str, Any] = {"subnet": rec["subnet"], "gateway": rec["gateway"]}
            if rec.get("internal"):
                one["internal"] = True
            if rec.get("labels"):
                one["labels"] = dict(rec["labels"])
            out[key] = one
    return out


def stack_from_records(recs: Iterable[dict], name: str | None = None,
                       networks: dict[str, dict] | None = None) -> dict[str, Any]:
    """The stack file of these records; `networks` are the network records by name."""
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
        if not owner.get("service") and rec.get("name"):
            # a container of no stack keeps its name, so `apply --adopt` takes it over as is
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
    nets = _top_networks(containers, stacks.pop() if len(stacks) == 1 else name,
                         networks or {})
    if nets:
        data["networks"] = nets
    return data


def dump_text(data: dict, fmt: str = "yaml") -> str:
    if fmt == "toml":
        import tomli_w
        return tomli_w.dumps(data)
    import yaml
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
