"""Rendering a Plan for people (Terraform-like text) and for tools (JSON). Pure.

Symbols (docs/stacks.md):

    +    create (an image import of a new reference is a `+` too)
    ~    update in place (limits, restart policy, labels; drift read from the cgroup; a
         record-only depends_on change); re-import of an image whose source changed
    -/+  replace (stop, remove, create, start), `# forces replacement` on each forcing field
    >    start (the container exists but is not running), with the evidence; restart (it runs
         unsupervised: its monitor is gone)
    =    adopt (take over an identical container the stack did not own)
    -    remove
Networks take the same symbols: + create, ~ update (labels, owner), -/+ replace (subnet,
gateway, internal changed), - remove; volumes + create, ~ update, - remove (only when asked:
a volume kept with its data is a `Note:` line under the plan).

Secret-looking environment values (the variable's name contains PASSWORD, TOKEN, SECRET or KEY,
any case) are shown as `(sensitive)` in both forms.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rocker import fields
from rocker.plan.model import (
    Action,
    Adopt,
    Change,
    Create,
    CreateNetwork,
    CreateVolume,
    ImportImage,
    Plan,
    Remove,
    RemoveNetwork,
    RemoveVolume,
    Replace,
    ReplaceNetwork,
    Start,
    Update,
    UpdateNetwork,
    UpdateVolume,
)
from rocker.plan.planner import config_changes

SENSITIVE = "(sensitive)"
_SECRET_RE = re.compile(r"PASSWORD|TOKEN|SECRET|KEY", re.IGNORECASE)

SYMBOL = {"import": "+", "reimport": "~", "pull": "+", "repull": "~", "create": "+",
          "update": "~", "replace": "-/+",
          "start": ">", "restart": ">", "adopt": "=", "remove": "-"}
VERB = {"import": "import image", "reimport": "re-import image", "pull": "pull image",
        "repull": "pull image", "create": "create",
        "update": "update in place", "replace": "replace", "start": "start",
        "restart": "restart", "adopt": "adopt", "remove": "remove"}
_COLOR = {"+": "32", "~": "33", "-/+": "35", ">": "36", "=": "34", "-": "31"}

CONFIG_DEFAULTS: dict[str, Any] = fields.DEFAULTS


def is_secret(path: str) -> bool:
    """`env.DB_PASSWORD` -> True."""
    return path.startswith("env.") and bool(_SECRET_RE.search(path[4:]))


def mask(path: str, value: Any) -> Any:
    if value is None or not is_secret(path):
        return value
    return SENSITIVE


def fmt(value: Any) -> str:
    if value is None:
        return "(unset)"
    if value == SENSITIVE:
        return value
    if isinstance(value, (bool, int, float)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _paint(text: str, symbol: str, color: bool) -> str:
    if not color:
        return text
    return f"\033[{_COLOR.get(symbol, '0')}m{text}\033[0m"


def _bold(text: str, color: bool) -> str:
    # 22 = normal intensity: ends the bold only, so an enclosing colour goes on
    return f"\033[1m{text}\033[22m" if color else text


def created_fields(config: dict) -> list[Change]:
    """The fields of a new container that differ from the defaults (what `+ create` lists)."""
    # a mapping set where the default is None (healthcheck) is listed leaf by leaf
    base = {k: {} if isinstance(v, dict) and CONFIG_DEFAULTS.get(k) is None
            else CONFIG_DEFAULTS.get(k) for k, v in config.items()}
    return config_changes(base, config)


def _change_line(ch: Change, width: int) -> str:
    old, new = mask(ch.path, ch.old), mask(ch.path, ch.new)
    left = f"{ch.path}:".ljust(width + 1)
    line = f"{left} {fmt(old)}{' (live)' if ch.live else ''} -> {fmt(new)}"
    if ch.forces_replacement:
        line += "   # forces replacement"
    return line


def _style(a: Action) -> str:
    """The symbol / verb key: a re-import (the reference exists) is a change, shown `~`."""
    if isinstance(a, ImportImage) and a.old_id is not None:
        return "repull" if a.kind == "pull" else "reimport"
    return a.kind


def render_action(a: Action, color: bool = False) -> list[str]:
    style = _style(a)
    sym = SYMBOL[style]
    kind, what = a.target.split(" ", 1)
    head = (f"{sym} {VERB[style]} {kind + ' ' if kind in ('network', 'volume') else ''}"
            f"{_bold(what, color)}")
    lines: list[str] = []
    ind = "      "
    if isinstance(a, ImportImage):
        img = a.image
        head += f"  ({a.reason})"
        lines.append(f"{ind}from:   {img.source}")
        moved = a.old_digest and a.old_digest != img.digest
        lines.append(f"{ind}digest: {_short(a.old_digest) + ' -> ' if moved else ''}"
                     f"{_short(img.digest)}")
        if img.changes:
            lines.append(f"{ind}changes: {fmt(list(img.changes))}")
    elif isinstance(a, CreateNetwork):
        for k, v in _network_fields(a.network):
            lines.append(f"{ind}{(k + ':').ljust(9)} {fmt(v)}")
    elif isinstance(a, (RemoveNetwork, RemoveVolume)):
        head += f"  ({a.reason})"
    elif isinstance(a, CreateVolume):
        for k, v in sorted(a.volume.labels.items()):
            lines.append(f"{ind}labels.{k}: {fmt(v)}")
    elif isinstance(a, Create):
        changes = created_fields(dict(a.container.config))
        w = max([len(c.path) for c in changes] + [10 if a.container.depends_on else 0])
        for ch in changes:
            lines.append(f"{ind}{(ch.path + ':').ljust(w + 1)} {fmt(mask(ch.path, ch.new))}")
        if a.container.depends_on:
            deps = ", ".join(f"{s} ({c})" for s, c in a.container.depends_on)
            lines.append(f"{ind}{'depends_on:'.ljust(w + 1)} {deps}")
    elif isinstance(a, (Replace, Update, ReplaceNetwork, UpdateNetwork, UpdateVolume)):
        head += f"  ({a.reason})"
        w = max((len(c.path) for c in a.changes), default=0)
        for ch in a.changes:
            lines.append(ind + _change_line(ch, w))
    elif isinstance(a, Start):   # and Restart
        head += f"  ({a.evidence})"
    elif isinstance(a, (Adopt, Remove)):
        head += f"  ({a.reason})"
    return ["  " + _paint(head, sym, color)] + lines


def _network_fields(n) -> list[tuple[str, Any]]:
    """What a new network has: its subnet (or that one is picked), gateway, flags, labels."""
    out: list[tuple[str, Any]] = [("subnet", n.subnet or "(a free one)")]
    if n.gateway:
        out.append(("gateway", n.gateway))
    if n.internal:
        out.append(("internal", True))
    out += [(f"labels.{k}", v) for k, v in sorted(n.labels.items())]
    return out


def _short(digest: str | None) -> str:
    if not digest:
        return "(none)"
    return digest[:19] if digest.startswith("sha256:") else "sha256:" + digest[:12]


def summary_line(plan: Plan) -> str:
    if plan.is_empty():
        return f"No changes. Stack {plan.stack} matches the file."
    add, change, replace, remove = plan.summary()
    return (f"Plan: {add} to add, {change} to change, {replace} to replace, "
            f"{remove} to remove.")


def render_text(plan: Plan, color: bool = False) -> str:
    notes = [f"Note: {n}" for n in plan.notes]
    if plan.is_empty():
        return "\n".join([summary_line(plan)] + notes) + "\n"
    src = f" ({plan.source})" if plan.source else ""
    out = [f"Stack {plan.stack}{src}:", ""]
    for a in plan.actions:
        out.extend(render_action(a, color))
    out += [""] + notes + [_bold(summary_line(plan), color)]
    return "\n".join(out) + "\n"


def _change_json(ch: Change) -> dict:
    return {"field": ch.path, "old": mask(ch.path, ch.old), "new": mask(ch.path, ch.new),
            "forces_replacement": ch.forces_replacement, "live": ch.live}


def action_json(a: Action) -> dict:
    d: dict[str, Any] = {"action": a.kind, "object": a.target.split(" ", 1)[0], "name": a.name,
                         "reason": a.reason}
    if isinstance(a, ImportImage):
        d.update(source=a.image.source, digest=a.image.digest, old_id=a.old_id,
                 old_digest=a.old_digest, changes=list(a.image.changes))
    elif isinstance(a, CreateNetwork):
        d["fields"] = [{"field": k, "value": v} for k, v in _network_fields(a.network)]
    elif isinstance(a, (ReplaceNetwork, UpdateNetwork)):
        d["id"] = a.id
        d["changes"] = [_change_json(c) for c in a.changes]
    elif isinstance(a, RemoveNetwork):
        d["id"] = a.id
    elif isinstance(a, CreateVolume):
        d["fields"] = [{"field": f"labels.{k}", "value": v}
                       for k, v in sorted(a.volume.labels.items())]
    elif isinstance(a, UpdateVolume):
        d["changes"] = [_change_json(c) for c in a.changes]
    elif isinstance(a, Create):
        d["service"] = a.container.service
        d["fields"] = [{"field": c.path, "value": mask(c.path, c.new)}
                       for c in created_fields(dict(a.container.config))]
        d["depends_on"] = {s: c for s, c in a.container.depends_on}
    elif isinstance(a, (Replace, Update)):
        d["id"] = a.id
        d["changes"] = [_change_json(c) for c in a.changes]
        if isinstance(a, Replace):
            d["forced_by"] = list(a.forced_by)
        else:
            d["live"] = a.live
            d["record_only"] = a.record_only
    elif isinstance(a, Start):
        d.update(id=a.id, evidence=a.evidence, exit_code=a.exit_code, oom_killed=a.oom_killed)
    elif isinstance(a, Adopt):
        d.update(id=a.id, previous_owner=a.previous_owner)
    elif isinstance(a, Remove):
        d.update(id=a.id, service=a.service, running=a.running, interrupted=a.interrupted)
    return d


def to_json(plan: Plan) -> dict:
    add, change, replace, remove = plan.summary()
    return {"stack": plan.stack, "source": plan.source, "changes": not plan.is_empty(),
            "summary": {"add": add, "change": change, "replace": replace, "remove": remove},
            "notes": list(plan.notes),
            "actions": [action_json(a) for a in plan.actions]}


def render_json(plan: Plan) -> str:
    return json.dumps(to_json(plan), indent=2, ensure_ascii=False) + "\n"
