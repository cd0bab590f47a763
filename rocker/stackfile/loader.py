"""Loading a stack file: YAML or TOML -> StackSpec -> DesiredState, every error one line.

    load_spec(path)      parse and check the shape (pydantic); returns (StackSpec, lines)
    load_desired(path)   the DesiredState the planner compares with the host

Every problem raises rocker.errors.SpecError naming the file, the field path
(`containers.web.memroy`) and, for YAML, the line (mapped through the composed node tree):

    examples/web.yaml:14: containers.web.memroy: unknown field

Containers are built by rocker.containers.config.build_config(), the one code path `rocker run`
uses too; relative paths (`images.*.import`, `env_file`) are taken from the file's folder. No
kernel is touched; the tars are read (for their digest) and the env files (for their values).
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from rocker import fields
from rocker.errors import InvalidInput, SpecError
from rocker.plan.model import (
    DesiredContainer,
    DesiredImage,
    DesiredNetwork,
    DesiredState,
    DesiredVolume,
)

YAML_SUFFIXES = (".yaml", ".yml")
TOML_SUFFIXES = (".toml",)

# ---------------------------------------------------------------------------------------------
# Parsing with line numbers


def _yaml_module():
    import yaml
    return yaml


_STR = "tag:yaml.org,2002:str"
_CORE_TAGS = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
              "tag:yaml.org,2002:timestamp")
_LOADER: list = []

# Fields whose plain scalars are text by nature: they keep their source text (`1.10`, `0755`,
# `on` stay as written), as the same value quoted in TOML would. `*` is any key or index.
# A container field's text parts follow from its kind (rocker.fields).
_TEXT_PARTS = {"image": ("",), "command": ("", ".*"), "entrypoint": ("", ".*"), "env": (".*",),
               "env_file": ("", ".*"), "abspath": ("",), "user": ("",), "hostname": ("",),
               "labels": (".*",), "restart": ("",), "cpuset": ("",),
               "healthcheck": (".test", ".test.*")}
_TEXT_FIELDS = [tuple(p.split(".")) for p in (
    "name", "images.*.import", "images.*.tag", "images.*.changes.*",
    "containers.*.depends_on.*",
    *(f"containers.*.{key}{part}" for row in fields.ROWS if row.stack
      for key in (row.stack, *row.aliases) for part in _TEXT_PARTS.get(row.kind, ())))]


def _is_text_field(parts: tuple[str, ...]) -> bool:
    """`parts` is the field's path as keys (a key may hold dots: `app.kubernetes.io/name`)."""
    return any(len(t) == len(parts) and all(a == "*" or a == b for a, b in zip(t, parts))
               for t in _TEXT_FIELDS)


def _core_loader():
    """A safe loader with the YAML 1.2 core schema's implicit types: only true/false are
    booleans (not yes/no/on/off), ints are decimal, 0o octal or 0x hex (`0755` is 755, `33:33`
    is a string, no sexagesimal), no timestamps. The C parser is used when available."""
    if _LOADER:
        return _LOADER[0]
    import re
    yaml = _yaml_module()
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class CoreLoader(base):  # type: ignore[misc, valid-type]
        pass

    CoreLoader.yaml_implicit_resolvers = {
        ch: [(tag, rx) for tag, rx in rs if tag not in _CORE_TAGS]
        for ch, rs in base.yaml_implicit_resolvers.items()}
    CoreLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"))
    CoreLoader.add_implicit_resolver(
        "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
        list("-+0123456789"))
    CoreLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float", re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))

    def core_bool(loader, node):
        value = loader.construct_scalar(node)
        if value in ("true", "True", "TRUE", "false", "False", "FALSE"):
            return value in ("true", "True", "TRUE")
        return yaml.SafeLoader.construct_yaml_bool(loader, node)   # an explicit !!bool

    def core_int(loader, node):
        value = loader.construct_scalar(node)
        try:
            if value.startswith("0o"):
                return int(value[2:], 8)
            if value.startswith("0x"):
                return int(value[2:], 16)
            return int(value, 10)
        except ValueError:
            pass
        try:
            return yaml.SafeLoader.construct_yaml_int(loader, node)  # an explicit !!int
        except ValueError:  # not an integer, or more digits than Python converts (4300)
            raise yaml.constructor.ConstructorError(
                None, None, f"not an integer, or too large: {value[:40]!r}"
                + ("..." if len(value) > 40 else ""), node.start_mark) from None

    CoreLoader.add_constructor("tag:yaml.org,2002:bool", core_bool)
    CoreLoader.add_constructor("tag:yaml.org,2002:int", core_int)
    _LOADER.append(CoreLoader)
    return CoreLoader


def _parse_yaml(text: str, display: str) -> tuple[Any, dict[str, int]]:
    yaml = _yaml_module()
    loader = _core_loader()(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        if node is not None:
            _check_expansion(node, len(text), display)
            _index(node, "", lines, display)
            data = loader.construct_document(node)
        else:
            data = None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = e.problem or e.context or "syntax error"
        raise SpecError(f"{display}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{display}: invalid YAML: {e}") from None
    except (ValueError, TypeError, OverflowError) as e:  # an explicit tag's value (!!timestamp)
        raise SpecError(f"{display}: invalid YAML value: {e}") from None
    finally:
        loader.dispose()
    return data, lines


MAX_DEPTH = 64
"""The deepest nesting of a stack file (a real one needs 6: containers.web.healthcheck.test.0)."""

MAX_NODES = 100_000
"""The most values a YAML stack file may stand for once its aliases are expanded, past what its
own text holds (see _check_expansion)."""


def _check_expansion(root, text_len: int, display: str) -> None:
    """Refuse a document much larger than its text, or deeper than MAX_DEPTH.

    An alias is a shared node: a few lines of anchors can stand for a document exponentially
    larger than the text (a "billion laughs"), or an infinite one (an alias inside its own
    anchor). Everything after parsing (line index, pydantic, hashing) walks the expanded
    document, so it is measured first, without recursion, counting each value as it is
    reached: the work is bounded by MAX_NODES + the length of the text."""
    import yaml
    budget = MAX_NODES + text_len
    count = 1
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SpecError(f"{display}:{node.start_mark.line + 1}: nested deeper than "
                            f"{MAX_DEPTH} levels (or an alias inside its own anchor)")
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            continue
        count += len(children)
        if count > budget:
            raise SpecError(f"{display}: too large once its aliases are expanded (more than "
                            f"{budget} values)")
        stack.extend((child, depth + 1) for child in children)


def _index(node, path: str, lines: dict[str, int], display: str,
           parts: tuple[str, ...] = ()) -> None:
    """Record the line of every mapping key / sequence item; refuse duplicate keys; keys, and
    plain scalars of text fields (_TEXT_FIELDS), keep their source text."""
    import yaml
    if isinstance(node, yaml.ScalarNode):
        if not node.style and node.tag in _CORE_TAGS and _is_text_field(parts):
            node.tag = _STR
        return
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and not k.style and \
                    k.tag in _CORE_TAGS + ("tag:yaml.org,2002:null",):
                k.tag = _STR   # keys are names: `on:`, `1:`, `NULL:` stay as written
            key = str(k.value)
            sub = f"{path}.{key}" if path else key
            line = k.start_mark.line + 1
            if key in seen:
                raise SpecError(f"{display}:{line}: {sub}: duplicate key (first on line "
                                f"{seen[key]})")
            seen[key] = line
            lines[sub] = line
            _index(v, sub, lines, display, parts + (key,))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            sub = f"{path}.{i}" if path else str(i)
            lines[sub] = v.start_mark.line + 1
            _index(v, sub, lines, display, parts + (str(i),))


def _parse_toml(raw: bytes, display: str) -> Any:
    import tomllib
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise SpecError(f"{display}: not UTF-8 text: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{display}: invalid TOML: {e}") from None
    except ValueError:  # int(): more digits than Python converts (4300)
        raise SpecError(f"{display}: invalid TOML: an integer is too large") from None
    except RecursionError:   # tomllib recurses into nested arrays and inline tables
        raise SpecError(f"{display}: invalid TOML: nested too deeply") from None


def parse_file(path: str, display: str | None = None) -> tuple[Any, dict[str, int], str]:
    """(raw data, {field path: line}, format) of a stack file."""
    display = display or path
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise SpecError(f"{display}: no such file") from None
    except OSError as e:
        raise SpecError(f"{display}: cannot read: {e.strerror}") from None
    if path.endswith(TOML_SUFFIXES):
        return _parse_toml(raw, display), {}, "toml"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{display}: not UTF-8 text: {e}") from None
    data, lines = _parse_yaml(text, display)
    return data, lines, "yaml"


def where(display: str, lines: dict[str, int], path: str) -> str:
    """`file:line: path: ` (the line of the deepest known part of `path`)."""
    probe = path
    while probe:
        if probe in lines:
            return f"{display}:{lines[probe]}: {path}: "
        probe = probe.rpartition(".")[0]
    return f"{display}: {path}: " if path else f"{display}: "


# ---------------------------------------------------------------------------------------------
# Shape (pydantic)


def _clean_loc(loc: Iterable, data: Any, missing: bool) -> list[str]:
    """Pydantic's location without union tags ('list[str]', 'function-after[...]')."""
    out: list[str] = []
    cur = data
    items = list(loc)
    for i, item in enumerate(items):
        if isinstance(cur, dict) and item in cur:
            out.append(str(item))
            cur = cur[item]
        elif isinstance(cur, list) and isinstance(item, int) and 0 <= item < len(cur):
            out.append(str(item))
            cur = cur[item]
        elif missing and i == len(items) - 1:
            out.append(str(item))
        else:
            cur = cur  # a union member's tag: skip it
    return out


def _message(err: dict) -> str:
    t = err.get("type")
    if t == "extra_forbidden":
        return "unknown field"
    if t == "missing":
        return "required field is missing"
    msg = err.get("msg", "invalid value")
    return msg[0].lower() + msg[1:] if msg else msg


def _related(a: str, b: str) -> bool:
    """One field path is the other or inside it."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def validate(data: Any, lines: dict[str, int], display: str):
    from pydantic import ValidationError

    from rocker.stackfile.models import StackSpec
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{display}: a stack file must be a mapping (name, images, containers)")
    try:
        return StackSpec.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        first = errors[0]
        path = ".".join(_clean_loc(first["loc"], data, first.get("type") == "missing"))
        same = [err for err in errors
                if ".".join(_clean_loc(err["loc"], data, err.get("type") == "missing")) == path]
        msgs = list(dict.fromkeys(_message(err) for err in same))
        msg = msgs[0] if len(msgs) == 1 else " or ".join(
            m.removeprefix("input should be ") for m in msgs)
        if len(msgs) > 1:
            msg = "input should be " + msg
        # other errors, counted once per field: a union reports one error per branch, at
        # the field or inside it (`env` and `env.A`), which is one mistake, not several
        others = {".".join(_clean_loc(err["loc"], data, err.get("type") == "missing"))
                  for err in errors}
        extra = len({o for o in others if not _related(o, path)})
        more = f" (and {extra} more error{'s' if extra > 1 else ''})" if extra > 0 else ""
        raise SpecError(f"{where(display, lines, path)}{msg}{more}") from None


def load_spec(path: str, display: str | None = None):
    """(StackSpec, lines, format) of the file at `path`."""
    display = display or path
    data, lines, fmt = parse_file(path, display)
    return validate(data, lines, display), lines, fmt


# ---------------------------------------------------------------------------------------------
# Desired state


def container_name(stack: str, service: str, index: int) -> str:
    """A member's name, scoped to its stack as Compose does: `<stack>-<service>-<index>`."""
    return f"{stack}-{service}-{index}"


def replica_names(stack: str, service: str, replicas: int) -> list[str]:
    """`<stack>-<service>-1` .. `<stack>-<service>-N` (none for 0)."""
    return [container_name(stack, service, i) for i in range(1, replicas + 1)]


def network_name(stack: str, key: str) -> str:
    """A stack network's name on the host: `<stack>_<key>` (Compose's scheme)."""
    return f"{stack}_{key}"


DEFAULT_KEY = "default"


def _desired_networks(spec, stack: str, lines: dict[str, int], display: str
                      ) -> dict[str, DesiredNetwork]:
    """key -> DesiredNetwork of the file's `networks:` (checked: names, subnet, gateway)."""
    from rocker.containers.config import parse_labels
    from rocker.network import ipam
    from rocker.network.store import DEFAULT, MODES, check_name
    out: dict[str, DesiredNetwork] = {}
    for key, n in spec.networks.items():
        p = f"networks.{key}"
        try:
            check_name(key)
            if key in MODES + (DEFAULT,) and not (n is not None and n.external):
                raise InvalidInput(f"the key {key!r} names rocker's own network (mode) in "
                                   "`networks:` lists: use another key, or `external: true`")
        except InvalidInput as e:
            raise SpecError(f"{where(display, lines, p)}{e}") from None
        if n is None:
            out[key] = DesiredNetwork(name=network_name(stack, key), key=key)
            continue
        name = n.name or (key if n.external else network_name(stack, key))
        try:
            check_name(name)
            if name in MODES:
                raise InvalidInput(f"network name {name!r} is reserved (it is a network mode)")
            if name == DEFAULT and not n.external:
                raise InvalidInput(f"{DEFAULT!r} is rocker's default network: a stack cannot "
                                   "own it (use it with `external: true`)")
        except InvalidInput as e:
            raise SpecError(f"{where(display, lines, p + '.name')}{e}") from None
        if n.external:
            extra = [f for f in ("subnet", "gateway", "internal", "labels")
                     if f in n.model_fields_set]
            if extra:
                raise SpecError(f"{where(display, lines, p + '.' + extra[0])}an external "
                                "network is made outside the stack: it takes no "
                                f"{extra[0]}")
            out[key] = DesiredNetwork(name=name, key=key, external=True)
            continue
        subnet = gateway = None
        try:
            if n.subnet is not None:
                subnet = str(ipam.parse_subnet(n.subnet))
        except InvalidInput as e:
            raise SpecError(f"{where(display, lines, p + '.subnet')}{e}") from None
        try:
            if n.gateway is not None:
                if subnet is None:
                    raise InvalidInput("a gateway needs a subnet")
                gateway = str(ipam.gateway_for(ipam.parse_subnet(subnet), n.gateway))
        except InvalidInput as e:
            raise SpecError(f"{where(display, lines, p + '.gateway')}{e}") from None
        labels = n.labels if isinstance(n.labels, list) else \
            {k: _str(v) for k, v in n.labels.items()}
        try:
            labels = parse_labels(labels)
        except InvalidInput as e:
            raise SpecError(f"{where(display, lines, p + '.labels')}{e}") from None
        out[key] = DesiredNetwork(name=name, key=key, subnet=subnet, gateway=gateway,
                                  internal=n.internal, labels=labels)
    return out


def _desired_volumes(spec, stack: str, lines: dict[str, int], display: str
                     ) -> dict[str, DesiredVolume]:
    """key -> DesiredVolume of the file's `volumes:` (`<stack>_<key>` unless external)."""
    from rocker.containers.config import parse_labels
    from rocker.volumes.store import check_name
    out: dict[str, DesiredVolume] = {}
    for key, v in spec.volumes.items():
        p = f"volumes.{key}"
        name = (v.name if v is not None and v.name else
                key if v is not None and v.external else network_name(stack, key))
        try:
            check_name(key)
            check_name(name)
        except InvalidInput as e:
            raise SpecError(f"{where(display, lines, p)}{e}") from None
        if v is not None and v.external:
            if "labels" in v.model_fields_set:
                raise SpecError(f"{where(display, lines, p + '.labels')}an external volume is "
                                "made outside the stack: it takes no labels")
            out[key] = DesiredVolume(name=name, key=key, external=True)
            continue
        labels = {} if v is None else (v.labels if isinstance(v.labels, list) else
                                       {k: _str(x) for k, x in v.labels.items()})
        try:
            labels = parse_labels(labels)
        except InvalidInput as e:
            raise SpecError(f"{where(display, lines, p + '.labels')}{e}") from None
        out[key] = DesiredVolume(name=name, key=key, labels=labels)
    return out


def _member_volumes(config: dict, vols: dict[str, DesiredVolume], at) -> None:
    """A member's named volumes by their host names: the file's keys under `volumes:`
    (`data` -> `<stack>_data`); a name that is not declared there is an error (Compose's
    rule), anonymous volumes stay as they are."""
    for m in config.get("mounts") or []:
        if m["type"] != "volume" or not m["source"]:
            continue
        v = vols.get(m["source"])
        if v is None:
            raise SpecError(f"{at()}no volume {m['source']!r} under the stack's `volumes:` "
                            "(declare it there; `external: true` for one made outside)")
        m["source"] = v.name


def _member_volumes_from(config: dict, spec, stack: str, svc: str, at) -> list[str]:
    """A member's `volumes_from:` by container names: a service of the file is its first
    member (`<stack>-NAME-1`), `container:NAME` a container as named. -> the services it
    needs created first."""
    out, needs = [], []
    for item in config.get("volumes_from") or []:
        ref, sep, mode = item.partition(":")
        if ref == "container" and sep:
            ref, sep, mode = mode.partition(":")
        elif ref in spec.containers:
            if ref == svc:
                raise SpecError(f"{at()}a container cannot take volumes from itself")
            needs.append(ref)
            ref = spec.containers[ref].container_name or container_name(stack, ref, 1)
        else:
            raise SpecError(f"{at()}no service {ref!r} in this stack (container:NAME for "
                            "another container)")
        out.append(f"{ref}:{mode}" if mode else ref)
    config["volumes_from"] = out
    return needs


def _member_network_mode(raw: str | None, spec, stack: str, where_: str) -> tuple[
        str | None, str | None]:
    """(network_mode for build_config, the service it shares a namespace with). In a stack,
    `service:NAME` and `container:NAME` of a service of the file mean that service's first
    member (`<stack>-NAME-1`)."""
    if not isinstance(raw, str):
        return raw, None
    for prefix in ("service:", "container:"):
        if raw.startswith(prefix):
            other = raw[len(prefix):]
            if other in spec.containers:
                fixed = spec.containers[other].container_name
                return f"container:{fixed or container_name(stack, other, 1)}", other
            if prefix == "service:":
                raise SpecError(f"{where_}no service {other!r} in this stack")
    return raw, None


def _member_networks(config: dict, raw, nets: dict[str, DesiredNetwork], stack: str,
                     at: Any) -> list[dict]:
    """The member's attachments with the host's network names: the file's keys (`back`) ->
    `<stack>_back`; none listed -> the stack's default network (added to `nets` when a
    member joins it)."""
    from rocker.network.store import DEFAULT
    atts = [dict(a) for a in config.get("networks") or []]
    if not atts and raw:  # build_config folds a lone `bridge` into the default: not here
        atts = [{"name": DEFAULT, "aliases": [], "ip": None}]
    if not atts:
        atts = [{"name": DEFAULT_KEY, "aliases": [], "ip": None}]
    for a in atts:
        key = a["name"]
        if key == DEFAULT and key not in nets:   # rocker's own default network: used as is
            nets[key] = DesiredNetwork(name=DEFAULT, key=key, external=True)
        if key not in nets and key != DEFAULT_KEY:
            raise SpecError(f"{at(key)}no network {key!r} under the stack's "
                            "`networks:` (declare it there; `external: true` for one made "
                            "outside the stack)")
        if key not in nets:
            nets[key] = DesiredNetwork(name=network_name(stack, key), key=key)
        a["name"] = nets[key].name
    return atts


def file_digest(path: str) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _scalars(items) -> Any:
    if isinstance(items, list):
        return [_str(v) for v in items]
    return items


def _str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _prepared(row, value: Any, base_dir: str) -> Any:
    """A stack-file value -> what build_config takes for that field's kind."""
    if value is None:
        return None
    if row.kind in ("command", "entrypoint"):
        return _scalars(value)
    if row.kind in ("env", "labels") and isinstance(value, dict):
        return {k: (None if v is None else _str(v)) for k, v in value.items()}
    if row.kind == "env_file":
        return [os.path.join(base_dir, p) for p in ([value] if isinstance(value, str)
                                                    else value)]
    if row.kind == "healthcheck":
        hc = value.model_dump()
        hc["test"] = _scalars(hc["test"])
        return hc
    if row.kind == "cpuset":
        return str(value)
    if row.kind == "networks" and isinstance(value, dict):
        return {k: (v.model_dump() if v is not None else None) for k, v in value.items()}
    if row.kind == "ports":
        return [p.model_dump() if hasattr(p, "model_dump") else p for p in value]
    if row.kind == "mounts":
        return [_mount(m, base_dir) for m in value]
    return value


def _mount(m: Any, base_dir: str) -> Any:
    """A member's volume: a host path relative to the stack file (`./data`, `../x`) made
    absolute, in the short and the long syntax."""
    if isinstance(m, str):
        if m.startswith(("./", "../")) or m in (".", ".."):
            src, sep, rest = m.partition(":")
            return os.path.normpath(os.path.join(base_dir, src)) + sep + rest
        return m
    d = m.model_dump(exclude_none=True)
    d = {k: ({kk: vv for kk, vv in v.items() if vv is not None} if isinstance(v, dict) else v)
         for k, v in d.items()}
    src = d.get("source")
    if d.get("type") == "bind" and src and not src.startswith("/"):
        d["source"] = os.path.normpath(os.path.join(base_dir, src))
    return d


def container_config(spec, base_dir: str, image: str, overrides: dict | None = None):
    """A ContainerSpec -> ContainerConfig, through build_config (the one code path): every
    field of rocker.fields that has a stack key, by that key (`overrides`: field name ->
    value already prepared, e.g. the network mode a stack translated)."""
    from rocker.containers.config import build_config
    values: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    for row in fields.ROWS:
        if not row.stack or row.kind == "image":
            continue
        if overrides and row.name in overrides:
            values[row.name] = overrides[row.name]
            continue
        value = _prepared(row, getattr(spec, row.stack), base_dir)
        if row.group:
            if value is not None:
                limits[row.name] = value
        else:
            values[row.name] = value
    return build_config(image, values.pop("command"), limits=limits or None, **values)


def _error_key(e: InvalidInput) -> str | None:
    """The stack key a build_config error is about (its `.field`)."""
    name = getattr(e, "field", None)
    return fields.stack_key(name) if name in fields.BY_NAME else None


def _pulled_image(key: str, img, p: str, display: str, lines: dict[str, int],
                  paths) -> DesiredImage:
    """`images.KEY.pull: REF`: the reference (the tag, or the digest it names) and the digest
    pinned in the plan: the one the store has for the tag (pull_policy missing) or the one the
    registry has now (always, or when the store has none)."""
    from rocker.images.refs import parse_reference
    at = where(display, lines, p + ".pull")
    if img.tag is not None or img.changes:
        raise SpecError(f"{where(display, lines, p)}`tag` and `changes` go with `import`, not "
                        "with `pull`")
    try:
        r = parse_reference(img.pull)
    except InvalidInput as e:
        raise SpecError(f"{at}{e}") from None
    if r.tag is None:
        raise SpecError(f"{at}a stack names its images by tag: give one with the digest "
                        f"({r.name}:TAG@{r.digest})")
    ref = f"{r.name}:{r.tag}"
    digest = r.digest
    if digest is None and img.pull_policy == "missing":
        digest = _stored_digest(paths, ref)
    if digest is None:
        from rocker.errors import RockerError
        from rocker.images.registry import remote_digest
        try:
            digest = remote_digest(img.pull)
        except RockerError as e:
            raise SpecError(f"{at}cannot resolve {img.pull}: {e}") from None
    return DesiredImage(name=key, ref=ref, source=ref, digest=digest, pull=ref)


def _stored_digest(paths, ref: str) -> str | None:
    """The digest the image `ref` of the store was pulled by (its source identity)."""
    from rocker.errors import RockerError
    from rocker.images.store import ImageStore
    from rocker.paths import Paths
    try:
        store = ImageStore(paths or Paths.from_env())
        src = store.source_of(store.resolve(ref).id)
    except (RockerError, OSError, AttributeError):
        return None
    return src.get("digest") if src and not src.get("changes") else None


def desired_from_spec(spec, lines: dict[str, int], path: str,
                      display: str | None = None, paths=None) -> DesiredState:
    from rocker.containers.config import NAME_RE
    from rocker.images.refs import normalize_reference
    from rocker.plan.planner import service_order
    from rocker.stackfile.hashing import spec_hash
    display = display or path
    base_dir = os.path.dirname(os.path.abspath(path))
    name = spec.name or os.path.basename(base_dir)
    if not NAME_RE.match(name or ""):
        raise SpecError(f"{where(display, lines, 'name')}invalid stack name {name!r}: use "
                        "[a-zA-Z0-9][a-zA-Z0-9_.-]*")

    images: list[DesiredImage] = []
    by_key: dict[str, str] = {}
    for key, img in spec.images.items():
        p = f"images.{key}"
        if img.pull is not None:
            images.append(_pulled_image(key, img, p, display, lines, paths))
            by_key[key] = images[-1].ref
            continue
        if img.import_ is None:
            raise SpecError(f"{where(display, lines, p)}an image needs `import: TAR` or "
                            "`pull: REF`")
        try:
            ref = normalize_reference(f"{key}:{img.tag}" if img.tag else key)
        except InvalidInput as e:
            raise SpecError(f"{where(display, lines, p)}{e}") from None
        src = os.path.normpath(os.path.join(base_dir, img.import_))
        try:
            digest = file_digest(src)
        except FileNotFoundError:
            raise SpecError(f"{where(display, lines, p + '.import')}no such file: {src}") from None
        except OSError as e:
            raise SpecError(f"{where(display, lines, p + '.import')}cannot read {src}: "
                            f"{e.strerror}") from None
        try:
            from rocker.images.store import changes_key, source_changes
            key_of_changes = changes_key(source_changes(img.changes))
        except InvalidInput as e:
            raise SpecError(f"{where(display, lines, p + '.changes')}{e}") from None
        images.append(DesiredImage(name=key, ref=ref, source=src, digest=digest,
                                   changes=tuple(img.changes), changes_key=key_of_changes))
        by_key[key] = ref

    nets = _desired_networks(spec, name, lines, display)
    vols = _desired_volumes(spec, name, lines, display)
    containers: list[DesiredContainer] = []
    owner: dict[str, str] = {}
    for svc, c in spec.containers.items():
        p = f"containers.{svc}"
        if not NAME_RE.match(svc):
            raise SpecError(f"{where(display, lines, p)}invalid container name {svc!r}: use "
                            "[a-zA-Z0-9][a-zA-Z0-9_.-]*")
        names = replica_names(name, svc, c.replicas)
        if c.container_name is not None:
            at = where(display, lines, f"{p}.container_name")
            if not NAME_RE.match(c.container_name):
                raise SpecError(f"{at}invalid container name {c.container_name!r}: use "
                                "[a-zA-Z0-9][a-zA-Z0-9_.-]*")
            if c.replicas > 1:
                raise SpecError(f"{at}a fixed name allows one replica at most (replicas is "
                                f"{c.replicas})")
            names = names and [c.container_name]
        for n in names:
            # <stack>-<service>-<n> splits uniquely at its last '-'; a container_name may not
            if n in owner:
                raise SpecError(f"{where(display, lines, p)}duplicate container name {n!r} "
                                f"(also made by {owner[n]!r})")
            owner[n] = f"containers.{svc}"
        if c.image in by_key:
            image_ref = by_key[c.image]
        else:
            try:
                image_ref = normalize_reference(c.image)
            except InvalidInput as e:
                from rocker.images.refs import id_hex
                if id_hex(c.image) is None:
                    raise SpecError(f"{where(display, lines, p + '.image')}{e}") from None
                image_ref = c.image  # an image id or id prefix: the store resolves it
        for dep in c.depends_on:
            if dep not in spec.containers:
                raise SpecError(f"{where(display, lines, f'{p}.depends_on.{dep}')}no such "
                                f"container {dep!r} in this stack")
            if dep == svc:
                raise SpecError(f"{where(display, lines, f'{p}.depends_on.{dep}')}a container "
                                "cannot depend on itself")
        mode, shared = _member_network_mode(c.network_mode, spec, name,
                                            where(display, lines, f"{p}.network_mode"))
        if shared == svc:
            raise SpecError(f"{where(display, lines, f'{p}.network_mode')}a container cannot "
                            "share its own network namespace")
        try:
            cfg = container_config(c, base_dir, image_ref if c.image in by_key else c.image,
                                   {"network_mode": mode} if mode != c.network_mode else None)
        except InvalidInput as e:
            fld = _error_key(e)
            raise SpecError(f"{where(display, lines, f'{p}.{fld}' if fld else p)}{e}") from None
        config = cfg.to_dict()
        _member_volumes(config, vols, lambda: where(display, lines, f"{p}.volumes"))
        takes_from = _member_volumes_from(config, spec, name, svc,
                                          lambda: where(display, lines, f"{p}.volumes_from"))
        if config.get("network_mode") == "bridge":
            config["networks"] = _member_networks(
                config, c.networks, nets, name,
                lambda k: where(display, lines, f"{p}.networks.{k}"))
            fixed = [a for a in config["networks"] if a.get("ip")]
            if fixed and c.replicas > 1:
                raise SpecError(f"{where(display, lines, f'{p}.networks')}a fixed address "
                                f"({fixed[0]['ip']}) allows one replica at most (replicas is "
                                f"{c.replicas})")
        deps_map = dict(c.depends_on)
        if shared is not None:
            deps_map.setdefault(shared, "started")  # its namespace must exist first
        for other in takes_from:
            deps_map.setdefault(other, "started")   # its mounts must exist first
        h = spec_hash(config)
        deps = tuple(sorted(deps_map.items()))
        for i, n in enumerate(names, 1):
            containers.append(DesiredContainer(name=n, service=svc, config=config, spec_hash=h,
                                               image_ref=image_ref, depends_on=deps, index=i))
    _check_members(spec, containers, nets, lambda path: where(display, lines, path))
    used = {a["name"] for c in containers for a in c.config.get("networks") or []}
    if DEFAULT_KEY in nets and DEFAULT_KEY not in spec.networks and \
            nets[DEFAULT_KEY].name not in used:
        del nets[DEFAULT_KEY]   # only members with replicas: 0 would join it
    networks = tuple(nets[k] for k in sorted(nets, key=lambda k: (k != DEFAULT_KEY, k)))
    desired = DesiredState(stack=name, images=tuple(images), containers=tuple(containers),
                           networks=networks, volumes=tuple(vols[k] for k in sorted(vols)),
                           source=display, lines=lines)
    _check_cycles(spec, desired)
    service_order(desired)
    return desired


def _check_members(spec, containers: list[DesiredContainer], nets: dict[str, DesiredNetwork],
                   at) -> None:
    """What the file says about its members that no apply could carry out: a name that is
    both a service and another service's replica, a namespace shared with a service that has
    no member, fixed addresses outside their subnet or given twice, fixed host ports given
    twice (or to several replicas)."""
    import ipaddress
    replicas = {}
    for svc, c in spec.containers.items():
        for i in range(1, c.replicas + 1):
            replicas[f"{svc}-{i}"] = svc
    for svc, c in spec.containers.items():
        p = f"containers.{svc}"
        if svc in replicas:
            raise SpecError(f"{at(p)}{svc!r} is also the name of a replica of service "
                            f"{replicas[svc]!r}: the names between members would be ambiguous")
        mode = c.network_mode or ""
        other = mode.split(":", 1)[1] if mode.startswith(("service:", "container:")) else None
        if other in spec.containers and spec.containers[other].replicas == 0 and c.replicas:
            raise SpecError(f"{at(p + '.network_mode')}service {other!r} has replicas: 0: "
                            "there is no network namespace to share")
    by_net = {n.name: n for n in nets.values()}
    addresses: dict[tuple[str, str], str] = {}
    ports: dict[tuple[str, int, str], str] = {}
    for svc in spec.containers:
        mine = [c for c in containers if c.service == svc]
        if not mine:
            continue
        cfg = mine[0].config
        p = f"containers.{svc}"
        for a in cfg.get("networks") or []:
            if not a.get("ip"):
                continue
            n = by_net.get(a["name"])
            where_ = at(f"{p}.networks.{n.key if n else a['name']}.ipv4_address")
            if n is not None and not n.external:
                if n.subnet is None:
                    raise SpecError(f"{where_}a fixed address needs the network's subnet "
                                    f"(networks.{n.key}.subnet)")
                net = ipaddress.ip_network(n.subnet)
                ip = ipaddress.ip_address(a["ip"])
                gw = n.gateway or str(net.network_address + 1)
                if ip not in net or ip in (net.network_address, net.broadcast_address) or \
                        str(ip) == gw:
                    raise SpecError(f"{where_}{a['ip']} is not a free host address of "
                                    f"{n.subnet} (not its network, broadcast or gateway "
                                    f"{gw})")
            key = (a["name"], a["ip"])
            if key in addresses:
                raise SpecError(f"{where_}{a['ip']} is also the fixed address of "
                                f"{addresses[key]!r} on {a['name']}")
            addresses[key] = p
        for m in cfg.get("publish") or []:
            if not m.get("HostPort"):
                continue
            if len(mine) > 1:
                raise SpecError(f"{at(p + '.ports')}host port {m['HostPort']} is fixed: it "
                                f"allows one replica at most (replicas is {len(mine)})")
            ip = m.get("HostIp") or ""
            for (proto, port, other_ip), who in ports.items():
                if (proto, port) == (m["Protocol"], int(m["HostPort"])) and \
                        (ip == other_ip or "" in (ip, other_ip)):
                    raise SpecError(f"{at(p + '.ports')}host port {port}/{proto} is also "
                                    f"published by {who!r}")
            ports[(m["Protocol"], int(m["HostPort"]), ip)] = p


def _check_cycles(spec, desired: DesiredState) -> None:
    """Cycles over every service, even one with replicas 0."""
    from rocker.plan.planner import topological
    deps = {svc: set(c.depends_on) for svc, c in spec.containers.items()}
    topological(deps, desired)


def load_desired(path: str, display: str | None = None, paths=None) -> DesiredState:
    spec, lines, _fmt = load_spec(path, display)
    return desired_from_spec(spec, lines, path, display, paths)


def load_desired_with_deps(path: str, display: str | None = None, paths=None
                           ) -> tuple[DesiredState, list[str], bool]:
    """The desired state, every other file it was built from (env files, image tars), and
    whether it depends on nothing else (False when a bare `KEY` takes the host's value)."""
    spec, lines, _fmt = load_spec(path, display)
    desired = desired_from_spec(spec, lines, path, display, paths)
    base_dir = os.path.dirname(os.path.abspath(path))
    deps = [img.source for img in desired.images if not img.pull]
    pure = not any(img.pull for img in desired.images)   # a registry's tag moves: no cache
    for c in spec.containers.values():
        if isinstance(c.env, list) and any("=" not in e for e in c.env):
            pure = False
        if isinstance(c.env, dict) and any(v is None for v in c.env.values()):
            pure = False
        if c.env_file:
            files = [c.env_file] if isinstance(c.env_file, str) else c.env_file
            for f in files:
                full = os.path.join(base_dir, f)
                deps.append(full)
                try:
                    with open(full, encoding="utf-8") as fh:
                        for line in fh:
                            t = line.strip()
                            if t and not t.startswith("#") and "=" not in t:
                                pure = False
                except OSError:
                    pure = False
    return desired, deps, pure
