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


def container_spec(config: dict) -> dict[str, Any]:
    """A recorded ContainerConfig dict -> the fields of a ContainerSpec (defaults left out),
    every field of rocker.fields with a stack key, by that key."""
    out: dict[str, Any] = {"image": config["image"]}
    limits = config.get("limits") or {}
    for row in fields.ROWS:
        if not row.stack or not row.stored or row.kind == "image":
            continue
        value = limits.get(row.name) if row.group else config.get(row.name)
        if value is None or value == row.default or (value == {} and row.default is None):
            continue
        out[row.stack] = _stack_value(row, value)
    return out


def stack_from_records(recs: Iterable[dict], name: str | None = None) -> dict[str, Any]:
    containers: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for rec in sorted(recs, key=lambda r: r.get("name") or ""):
        owner = rec.get("stack") or {}
        svc = owner.get("service") or rec.get("name") or rec["id"][:12]
        counts[svc] = counts.get(svc, 0) + 1
        if svc in containers:
            continue
        spec = container_spec(rec.get("config") or {})
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
    return data


def dump_text(data: dict, fmt: str = "yaml") -> str:
    if fmt == "toml":
        import tomli_w
        return tomli_w.dumps(data)
    import yaml
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
