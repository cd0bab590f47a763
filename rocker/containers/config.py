"""ContainerConfig: the one description of a container, built from `run` options or a stack spec.

`build_config()` is the single code path that validates user input for a container, whether it
comes from the command line (rocker.cli.containers) or from a stack file (rocker.stackfile). It is
pure: no kernel, no disk (except reading an env file). `resolve_process()` combines a config with
its image's defaults (Entrypoint, Cmd, Env, WorkingDir, User) into what the init process runs.
"""

from __future__ import annotations

import os
import re
import signal as _signal
from collections.abc import Iterable, Mapping
from typing import Any

from rocker import fields
from rocker.errors import InvalidInput

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_STOP_TIMEOUT = fields.DEFAULT_STOP_TIMEOUT
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
# \Z, not $: `$` also matches before a trailing newline ("web\n" is no name)
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}\Z")
USER_RE = re.compile(r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?\Z")
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}\Z")
MAX_ID = 2 ** 31 - 1
"""The largest uid or gid accepted (as runc and Docker: "uids and gids must be in range")."""
MAX_TIMEOUT = 7 * 24 * 3600
"""The longest stop timeout and healthcheck duration, in seconds (a week); `stop -t -1` waits
without a limit."""
MAX_COUNT = 2 ** 31 - 1
"""The largest count accepted (on-failure:N retries, healthcheck retries)."""


_FIELDS: dict[str, Any] = {f.name: f for f in fields.CONFIG}


class ContainerConfig:
    """Everything the user asked for one container (validated by build_config).

    A plain class rather than a dataclass: `rocker run` imports it, and generating a
    dataclass costs milliseconds at every start.
    """

    __slots__ = tuple(_FIELDS)
    FIELDS = tuple(_FIELDS)

    def __init__(self, image: str, **kw: Any) -> None:
        unknown = set(kw) - set(_FIELDS)
        if unknown:
            raise TypeError(f"unknown ContainerConfig fields: {sorted(unknown)}")
        self.image = image
        for name, default in _FIELDS.items():
            if name != "image":
                setattr(self, name, kw[name] if name in kw else default.fresh_default())

    def to_dict(self) -> dict[str, Any]:
        import copy
        return {name: copy.deepcopy(getattr(self, name)) for name in _FIELDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ContainerConfig":
        kw = {k: v for k, v in d.items() if k in _FIELDS and k != "image"}
        return cls(d["image"], **kw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ContainerConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"ContainerConfig({self.to_dict()!r})"


def _digits(s: str) -> bool:
    """Plain ASCII digits only (str.isdigit also takes '²' and other scripts' digits)."""
    return s.isascii() and s.isdigit()


def whole_number(value: Any, option: str, lo: int, hi: int, hint: str = "") -> int:
    """An int, or a string of ASCII digits (a leading '-' allowed), within lo..hi; InvalidInput
    naming `option` and the range otherwise. Work bounded by the text's length: a number with
    more digits than `hi` has is refused without being converted."""
    allowed = hint or f"must be between {lo} and {hi}"
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidInput(f"invalid {option} {value!r}: expected a whole number ({allowed})")
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if not _digits(digits):
            raise InvalidInput(f"invalid {option} {value!r}: expected a whole number "
                               f"({allowed})")
        n = None if len(digits.lstrip("0")) > len(str(max(abs(lo), abs(hi)))) else int(text)
    else:
        n = value
    if n is None or not lo <= n <= hi:
        shown = value if isinstance(value, int) else repr(value)
        raise InvalidInput(f"invalid {option} {shown}: {allowed}")
    return n


def parse_timeout(value: Any, option: str, unlimited: bool = False) -> int:
    """Seconds to wait for a stop: 0..MAX_TIMEOUT, and -1 (no limit) where `unlimited`."""
    lo = -1 if unlimited else 0
    hint = (f"use -1 (wait without a limit) or 0 to {MAX_TIMEOUT} seconds" if unlimited
            else f"must be between 0 and {MAX_TIMEOUT} seconds")
    return whole_number(value, option, lo, MAX_TIMEOUT, hint)


def parse_user(value: str, option: str = "--user") -> str:
    """`uid[:gid]` or `name[:group]`: the form, and numeric ids within 0..MAX_ID."""
    if not isinstance(value, str) or not USER_RE.match(value):
        raise InvalidInput(f"invalid {option} {value!r}: use uid[:gid] or name[:group]")
    for part, what in zip(value.split(":"), ("uid", "gid")):
        if _digits(part) and (len(part.lstrip("0")) > 10 or int(part) > MAX_ID):
            raise InvalidInput(f"invalid {option} {value!r}: a {what} must be between 0 and "
                               f"{MAX_ID}")
    return value


def parse_signal(value: str | int) -> int:
    """'SIGTERM', 'TERM', 'term' or '15' -> 15."""
    s = str(value).strip()
    if _digits(s):
        if len(s) <= 2 and 1 <= int(s) <= 64:
            return int(s)
        raise InvalidInput(f"invalid signal: {value}")
    name = s.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    member = _signal.Signals.__members__.get(name)  # not getattr: SIG_IGN, SIG_BLOCK are no signals
    if member is None:
        raise InvalidInput(f"invalid signal: {value}")
    return int(member)


def signal_name(num: int) -> str:
    try:
        return _signal.Signals(num).name
    except ValueError:
        return str(num)


def parse_restart(value: str | None) -> str:
    """Validate a restart policy: no | always | unless-stopped | on-failure[:N]."""
    v = (value or "no").strip()
    name, _, count = v.partition(":")
    if name not in RESTART_POLICIES:
        raise InvalidInput(f"invalid restart policy {value!r}: use no, always, unless-stopped "
                           "or on-failure[:N]")
    if count:
        if name != "on-failure":
            raise InvalidInput(f"invalid restart policy {value!r}: only on-failure takes a count")
        if not _digits(count) or len(count.lstrip("0")) > 10 or int(count) > MAX_COUNT:
            raise InvalidInput(f"invalid restart policy {value!r}: the count must be a number "
                               f"from 0 to {MAX_COUNT}")
    return v


def env_name_problem(name: str) -> str | None:
    """Why `name` cannot be an environment variable's name (None if it can). Like Docker: not
    empty, no whitespace (Docker's env files refuse it; a shell cannot name it either), no '='
    and no NUL byte (execve cannot pass them)."""
    if not name:
        return "the variable name is empty"
    if any(c.isspace() for c in name):
        return f"the variable name {name!r} contains whitespace"
    if "=" in name or "\0" in name:
        return f"the variable name {name!r} contains '=' or a NUL byte"
    return None


def parse_env_list(items: Iterable[str], host_env: Mapping[str, str] | None = None,
                   what: str = "--env") -> dict[str, str]:
    """['K=V', 'K'] -> {'K': 'V', 'K': <host value>}; a bare K absent on the host is skipped."""
    host_env = os.environ if host_env is None else host_env
    out: dict[str, str] = {}
    for item in items:
        k, eq, v = item.partition("=")
        problem = env_name_problem(k) or ("the value contains a NUL byte" if "\0" in v else None)
        if problem:
            raise InvalidInput(f"invalid {what} {item!r}: {problem} (expected KEY=VALUE)")
        if eq:
            out[k] = v
        elif k in host_env:
            out[k] = host_env[k]
    return out


def read_env_file(path: str, host_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """An env file as Docker reads it: KEY=VALUE lines, `#` comments, bare KEY from the host."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InvalidInput(f"cannot read env file {path}: {e.strerror}") from None
    items = []
    for line in lines:
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        items.append(line.lstrip())
    return parse_env_list(items, host_env, what=f"line in {path}")


def parse_labels(items: Iterable[str] | Mapping[str, str]) -> dict[str, str]:
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        if not k:
            raise InvalidInput(f"invalid label {item!r}: expected KEY=VALUE")
        out[k] = v
    return out


def normalise_command(command: Iterable[str] | str | None) -> list[str] | None:
    """A lone argument with whitespace runs under `/bin/sh -c` (the original's `"ls -l"` form);
    several arguments are an exact argv, never re-split."""
    if command is None:
        return None
    if isinstance(command, str):
        command = [command]
    cmd = [str(c) for c in command]
    if not cmd:
        return None
    if len(cmd) == 1 and any(ch.isspace() for ch in cmd[0]):
        return ["/bin/sh", "-c", cmd[0]]
    return cmd


def canonical_image(ref: str) -> str:
    """`busybox` -> `busybox:latest`; an image ID or ID prefix stays as it is."""
    from rocker.images.refs import id_hex, normalize_reference
    if id_hex(ref) is not None:
        return ref
    return normalize_reference(ref)


def parse_healthcheck(hc: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not hc:
        return None
    from rocker.util.durations import parse_duration
    test = hc.get("test")
    if isinstance(test, str):
        test = ["/bin/sh", "-c", test]
    if not test or not isinstance(test, list):
        raise InvalidInput("healthcheck.test must be a command (list) or a shell string")
    if test[0] == "NONE":
        return None
    if test[0] == "CMD":
        test = test[1:]
    elif test[0] == "CMD-SHELL":
        test = ["/bin/sh", "-c", " ".join(test[1:])]
    out: dict[str, Any] = {"test": [str(t) for t in test]}
    for key, default in (("interval", "30s"), ("timeout", "30s"), ("start_period", "0s")):
        option = "--health-" + key.replace("_", "-")
        value = parse_duration(hc.get(key, default), option)
        if not (0 <= value <= MAX_TIMEOUT) or (value == 0 and key != "start_period"):
            low = "0" if key == "start_period" else "more than 0"
            raise InvalidInput(f"invalid {option} {hc.get(key)!r}: must be {low} and at most "
                               f"{MAX_TIMEOUT}s (a week)")
        out[key] = value
    out["retries"] = whole_number(hc.get("retries", 3), "--health-retries", 1, MAX_COUNT)
    return out


def _env(raw: Any, values: Mapping[str, Any]) -> dict[str, str]:
    merged: dict[str, str] = {}
    env_file = values.get("env_file")
    if env_file:
        try:
            for path in ([env_file] if isinstance(env_file, str) else env_file):
                merged.update(read_env_file(path))
        except InvalidInput as e:
            e.field = "env_file"
            raise
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            v = "" if v is None else str(v)
            problem = env_name_problem(str(k)) or ("the value contains a NUL byte"
                                                   if "\0" in v else None)
            if problem:
                raise InvalidInput(f"invalid environment variable {k!r}: {problem}")
            merged[str(k)] = v
    elif raw:
        merged.update(parse_env_list(raw))
    return merged


def _entrypoint(raw: Any, values: Mapping[str, Any]) -> list[str] | None:
    if isinstance(raw, str):
        return [raw] if raw else []
    return None if raw is None else [str(e) for e in raw]


def _hostname(raw: Any, values: Mapping[str, Any]) -> str | None:
    if raw is not None and not (isinstance(raw, str) and HOSTNAME_RE.match(raw)):
        raise InvalidInput(f"invalid hostname {raw!r}")
    return raw


def _abspath(raw: Any, values: Mapping[str, Any]) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.startswith("/"):
        raise InvalidInput(f"the working directory {raw!r} must be an absolute path")
    if "\0" in raw:
        raise InvalidInput(f"the working directory {raw!r} contains a NUL byte")
    return raw


def _limits(raw: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    if not raw:
        return {}
    from rocker.cgroups import parse_limits
    try:
        lim = parse_limits(**{k: v for k, v in raw.items() if v is not None}).to_dict()
    except InvalidInput as e:
        named = [f for f in fields.LIMITS if any(o.name in str(e) for o in f.options)]
        if named:  # "--memory-swap" also holds "--memory": the longest option named wins
            e.field = max(named, key=lambda f: len(f.options[0].name)).name
        raise
    return {k: v for k, v in lim.items() if v is not None}


MODES = ("bridge", "none", "host")
MAX_LIST = 256
"""The most entries a list field (networks, ports given, dns servers, hosts lines) may hold."""


def _strings(raw: Any, what: str) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, (str, int)):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        raise InvalidInput(f"{what} must be a list")
    if len(raw) > MAX_LIST:
        raise InvalidInput(f"too many {what} ({len(raw)}; at most {MAX_LIST})")
    return [str(v) for v in raw]


def parse_network_mode(raw: Any) -> str:
    """bridge | none | host | container:NAME (Docker's `--network` modes; `default` = bridge)."""
    if raw is None or raw in ("bridge", "default"):
        return "bridge"
    if raw in ("none", "host"):
        return raw
    if isinstance(raw, str) and raw.startswith("container:"):
        other = raw[len("container:"):]
        if not NAME_RE.match(other):
            raise InvalidInput(f"invalid network mode {raw!r}: container:NAME or container:ID")
        return raw
    raise InvalidInput(f"invalid network mode {raw!r}: bridge, none, host or container:NAME")


def _netmode(raw: Any, values: Mapping[str, Any]) -> str:
    mode = parse_network_mode(raw)
    if mode != "bridge":
        if values.get("networks"):
            raise InvalidInput(f"--network {mode} cannot be combined with other networks")
        if values.get("publish") or values.get("publish_all"):
            e = InvalidInput(f"ports cannot be published with --network {mode}")
            e.field = "publish"
            raise e
        if mode.startswith("container:") and (values.get("dns") or values.get("add_host")
                                              or values.get("hostname")):
            raise InvalidInput(f"--network {mode} shares that container's hostname, hosts and "
                               "resolv.conf: --hostname, --dns and --add-host do not apply")
    return mode


def _ipv4(value: Any, what: str) -> str:
    import ipaddress
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise InvalidInput(f"invalid {what} {value!r}: an IPv4 address") from None


def _networks(raw: Any, values: Mapping[str, Any]) -> list[dict]:
    """[{name, aliases, ip}]; [] = the default network. From the CLI: {names, aliases, ip};
    from a stack: a list of names or a mapping name -> {aliases, ipv4_address} (or null)."""
    if not raw:
        return []
    from rocker.network.store import DEFAULT, check_name
    out: list[dict] = []
    if isinstance(raw, dict) and "names" in raw:  # the command line
        names = _strings(raw.get("names"), "networks")
        aliases = _strings(raw.get("aliases"), "network aliases")
        ip = raw.get("ip")
        if not names:
            if aliases or ip:
                names = [DEFAULT]
            else:
                return []
        out = [{"name": n, "aliases": [], "ip": None} for n in names]
        out[0]["aliases"], out[0]["ip"] = aliases, ip
    elif isinstance(raw, dict):
        if len(raw) > MAX_LIST:
            raise InvalidInput(f"too many networks ({len(raw)})")
        for n, v in raw.items():
            v = v or {}
            if not isinstance(v, Mapping):
                raise InvalidInput(f"network {n!r}: expected aliases / ipv4_address")
            out.append({"name": str(n), "aliases": _strings(v.get("aliases"), "aliases"),
                        "ip": v.get("ipv4_address")})
    else:
        out = [{"name": n, "aliases": [], "ip": None} for n in _strings(raw, "networks")]
    seen = set()
    for a in out:
        if (a["name"] in MODES and a["name"] != DEFAULT) or a["name"].startswith("container:"):
            raise InvalidInput(f"--network {a['name']} cannot be combined with other networks")
        check_name(a["name"])
        if a["name"] in seen:
            raise InvalidInput(f"network {a['name']} is given twice")
        seen.add(a["name"])
        for al in a["aliases"]:
            if not HOSTNAME_RE.match(al):
                raise InvalidInput(f"invalid network alias {al!r}")
        if a["name"] == DEFAULT and a["aliases"]:
            raise InvalidInput("network aliases work only on user-defined networks (not "
                               f"{DEFAULT})")
        if a["ip"] is not None:
            a["ip"] = _ipv4(a["ip"], "--ip address")
    from rocker.network.store import MAX_ATTACHMENTS
    if len(out) > MAX_ATTACHMENTS:
        raise InvalidInput(f"at most {MAX_ATTACHMENTS} networks per container")
    if out == [{"name": DEFAULT, "aliases": [], "ip": None}]:
        return []
    return out


def parse_attachment(network: str, aliases: Iterable[str] = (), ip: str | None = None) -> dict:
    """One more network of a container (`network connect`), checked as `--network` is."""
    out = _networks({"names": [network], "aliases": list(aliases), "ip": ip}, {})
    return out[0] if out else {"name": network, "aliases": [], "ip": None}


def _ports(raw: Any, values: Mapping[str, Any]) -> list[dict]:
    """Port mappings as records hold them ({HostIp, HostPort, ContainerPort, Protocol})."""
    if not raw:
        return []
    from rocker.network import ports
    if not isinstance(raw, (list, tuple)):
        raw = [raw]
    if len(raw) > MAX_LIST:
        raise InvalidInput(f"too many port specs ({len(raw)}; at most {MAX_LIST})")
    out: list[dict] = []
    for item in raw:
        if isinstance(item, Mapping):  # the stack file's long form
            unknown = set(item) - {"target", "published", "host_ip", "protocol", "mode"}
            if unknown or "target" not in item:
                raise InvalidInput(f"invalid port {dict(item)!r}: target (and published, "
                                   "host_ip, protocol)")
            spec = str(item["target"])
            if item.get("published") not in (None, ""):
                spec = f"{item['published']}:{spec}"
                if item.get("host_ip"):
                    spec = f"{item['host_ip']}:{spec}"
            elif item.get("host_ip"):
                spec = f"{item['host_ip']}::{spec}"
            if item.get("protocol"):
                spec += f"/{item['protocol']}"
        else:
            spec = str(item)
        out += [ports.to_json(m) for m in ports.parse_publish(spec)]
    if len(out) > 65535:
        raise InvalidInput("too many published ports")
    seen = set()
    for m in out:
        key = (m["HostIp"], m["HostPort"], m["Protocol"])
        if m["HostPort"] and key in seen:
            raise InvalidInput(f"host port {m['HostPort']}/{m['Protocol']} is published twice")
        seen.add(key)
    return out


def _iplist(raw: Any, values: Mapping[str, Any]) -> list[str]:
    from rocker.network.iptext import canonical
    out = []
    for v in _strings(raw, "DNS servers"):
        try:
            out.append(canonical(v))
        except ValueError:
            raise InvalidInput(f"invalid DNS server {v!r}: an IP address") from None
    return out


def _domains(raw: Any, values: Mapping[str, Any]) -> list[str]:
    out = _strings(raw, "DNS search domains")
    for d in out:
        if d != "." and not all(HOSTNAME_RE.match(p) for p in d.rstrip(".").split(".")):
            raise InvalidInput(f"invalid DNS search domain {d!r}")
    return out


def _dnsopts(raw: Any, values: Mapping[str, Any]) -> list[str]:
    out = _strings(raw, "DNS options")
    for o in out:
        if not re.match(r"^[A-Za-z0-9_-]+(:[0-9]{1,4})?\Z", o):
            raise InvalidInput(f"invalid DNS option {o!r} (ndots:2, edns0, ...)")
    return out


def _hosts(raw: Any, values: Mapping[str, Any]) -> list[str]:
    if not raw:
        return []
    from rocker.network.hostsfile import parse_add_host
    if isinstance(raw, Mapping):
        raw = [f"{k}:{v}" for k, v in raw.items()]
    out = []
    for h in _strings(raw, "extra hosts"):
        name, ip = parse_add_host(h)
        out.append(f"{name}:{ip}")
    return out


def _mounts(raw: Any, values: Mapping[str, Any]) -> list[dict]:
    from rocker.containers.mounts import parse_mounts
    return parse_mounts(raw, values.get("tmpfs"))


def _tmpfs(raw: Any, values: Mapping[str, Any]) -> dict[str, str]:
    from rocker.containers.mounts import parse_tmpfs
    return parse_tmpfs(raw)


def _volumes_from(raw: Any) -> list[str]:
    from rocker.containers.mounts import parse_volumes_from
    return parse_volumes_from(raw)


KINDS: dict[str, Any] = {
    "image": lambda raw, values: canonical_image(raw),
    "command": lambda raw, values: normalise_command(raw),
    "entrypoint": _entrypoint,
    "env": _env,
    "abspath": _abspath,
    "user": lambda raw, values: None if raw is None else parse_user(raw),
    "hostname": _hostname,
    "bool": lambda raw, values: bool(raw),
    "labels": lambda raw, values: parse_labels(raw or {}),
    "restart": lambda raw, values: parse_restart(raw),
    "signal": lambda raw, values: signal_name(parse_signal(raw or "SIGTERM")),
    "timeout": lambda raw, values: (DEFAULT_STOP_TIMEOUT if raw is None
                                    else parse_timeout(raw, "--stop-timeout")),
    "limits": _limits,
    "healthcheck": lambda raw, values: parse_healthcheck(raw),
    "netmode": _netmode,
    "networks": _networks,
    "ports": _ports,
    "iplist": _iplist,
    "domains": _domains,
    "dnsopts": _dnsopts,
    "hosts": _hosts,
    "mounts": _mounts,
    "tmpfs": _tmpfs,
    "volumes_from": lambda raw, values: _volumes_from(raw),
}
"""Field kind (rocker.fields) -> its parser: (the value given or None, all values) -> the
validated, normalised value stored in the config."""

_INPUTS = frozenset(f.name for f in fields.ROWS if not f.group)


def build_config(image: str, command: Iterable[str] | str | None = None,
                 **values: Any) -> ContainerConfig:
    """Validate everything about a container before anything is created. `values` are the
    fields of rocker.fields by name (`env_file` feeds `env`; `limits` is a mapping of the limit
    fields); each is parsed by its kind. An InvalidInput carries the field it is about in
    `.field` (a stack file's error names the key)."""
    unknown = set(values) - _INPUTS
    if unknown:
        raise TypeError(f"unknown container fields: {sorted(unknown)}")
    if not image:
        raise InvalidInput("an image is required")
    values = {**values, "image": image, "command": command}
    out: dict[str, Any] = {}
    for f in fields.CONFIG:
        try:
            out[f.name] = KINDS[f.kind](values.get(f.name), values)
        except InvalidInput as e:
            if not getattr(e, "field", None):
                e.field = f.name
            raise
    if out["auto_remove"] and out["restart"] != "no":
        e = InvalidInput("--rm and a restart policy other than 'no' cannot be combined")
        e.field = "restart"
        raise e
    image = out.pop("image")
    return ContainerConfig(image, **out)


def resolve_process(cfg: ContainerConfig, image_config: Mapping[str, Any],
                    container_id: str) -> dict[str, Any]:
    """What init executes: argv, environment, cwd and user, from the config and image defaults."""
    img_ep = image_config.get("Entrypoint") or []
    img_cmd = image_config.get("Cmd") or []
    if cfg.entrypoint is not None:
        ep = cfg.entrypoint
        cmd = cfg.command or []
    else:
        ep = list(img_ep)
        cmd = cfg.command if cfg.command is not None else list(img_cmd)
    args = [*ep, *cmd]
    if not args:
        raise InvalidInput("no command given and the image has no default command (Cmd)")
    env: dict[str, str] = {"PATH": DEFAULT_PATH}
    for item in image_config.get("Env") or []:
        k, _, v = item.partition("=")
        env[k] = v
    env["HOSTNAME"] = cfg.hostname or container_id[:12]
    if cfg.tty:
        env.setdefault("TERM", "xterm")
    env.update(cfg.env)
    return {
        "args": args,
        "env": [f"{k}={v}" for k, v in env.items()],
        "cwd": cfg.workdir or image_config.get("WorkingDir") or "/",
        "user": cfg.user or image_config.get("User") or "0",
        "tty": cfg.tty,
        "stdin": cfg.interactive,
    }
