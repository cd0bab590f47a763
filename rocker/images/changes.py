"""Dockerfile-like changes applied to an image config (`rocker import -c`, `rocker commit -c`).

Each change is one instruction line, keyword case-insensitive:

    CMD ["sh", "-c", "echo hi"]  |  CMD echo hi        (shell form -> ["/bin/sh", "-c", "echo hi"])
    ENTRYPOINT ["/app"]          |  ENTRYPOINT /app --flag
    ENV K=V [K2="v 2" ...]       |  ENV K some value   (legacy form: one variable)
    WORKDIR /srv                 (relative paths are joined to the current WorkingDir)
    USER uid[:gid] | name[:group]
    LABEL k=v [k2="v 2" ...]
    EXPOSE 80 443/tcp 53/udp     (stored in ExposedPorts)
    VOLUME /data | VOLUME ["/a", "/b"]   (stored in Volumes)
    STOPSIGNAL SIGTERM

`parse_changes` validates everything first (so a bad change fails before any work), and
`apply_changes` returns a new config section; the input dict is never modified.
"""

from __future__ import annotations

import copy
import json
import posixpath
import shlex
from typing import Any

from rocker.errors import InvalidInput

KEYWORDS = ("CMD", "ENTRYPOINT", "ENV", "WORKDIR", "USER", "LABEL", "EXPOSE", "VOLUME",
            "STOPSIGNAL")

Change = tuple[str, Any]


def _exec_or_shell(keyword: str, rest: str, line: str) -> list[str]:
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError as e:
            raise InvalidInput(f"invalid change {line!r}: bad JSON array: {e}") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"invalid change {line!r}: {keyword} JSON form must be an array "
                               f"of strings")
        return value
    return ["/bin/sh", "-c", rest]


def _pairs(keyword: str, rest: str, line: str, allow_empty_value: bool = True) -> dict[str, str]:
    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise InvalidInput(f"invalid change {line!r}: {e}") from None
    if not words:
        raise InvalidInput(f"invalid change {line!r}: {keyword} needs KEY=VALUE")
    if "=" not in words[0]:
        # Legacy form `ENV KEY value with spaces`: one variable.
        key, _, value = rest.strip().partition(" ")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        return {_key(keyword, key, line): value}
    out: dict[str, str] = {}
    for w in words:
        key, eq, value = w.partition("=")
        if not eq:
            raise InvalidInput(f"invalid change {line!r}: {keyword} expects KEY=VALUE pairs, "
                               f"got {w!r}")
        out[_key(keyword, key, line)] = value
    return out


def _key(keyword: str, key: str, line: str) -> str:
    if not key or "=" in key or "\0" in key or (keyword == "ENV" and
                                                  any(c.isspace() for c in key)):
        raise InvalidInput(f"invalid change {line!r}: bad {keyword} name {key!r}")
    return key


def _ports(rest: str, line: str) -> list[str]:
    out = []
    for word in rest.split():
        port, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidInput(f"invalid change {line!r}: bad protocol {proto!r}")
        lo, dash, hi = port.partition("-")
        hi = hi if dash else lo
        # plain ASCII digits (int() also takes '8_0', '+80' and other scripts' digits)
        if not all(p.isascii() and p.isdigit() and len(p) <= 5 for p in (lo, hi)):
            raise InvalidInput(f"invalid change {line!r}: bad port {word!r}")
        a, b = int(lo), int(hi)
        if not (1 <= a <= b <= 65535) or b - a > 1024:
            raise InvalidInput(f"invalid change {line!r}: bad port {word!r}")
        out.extend(f"{p}/{proto}" for p in range(a, b + 1))
    if not out:
        raise InvalidInput(f"invalid change {line!r}: EXPOSE needs a port")
    return out


def _volumes(rest: str, line: str) -> list[str]:
    if rest.startswith("["):
        try:
            vols = json.loads(rest)
        except ValueError as e:
            raise InvalidInput(f"invalid change {line!r}: bad JSON array: {e}") from None
        if not isinstance(vols, list) or not all(isinstance(v, str) for v in vols):
            raise InvalidInput(f"invalid change {line!r}: VOLUME JSON form must be an array "
                               f"of strings")
    else:
        vols = rest.split()
    if not vols:
        raise InvalidInput(f"invalid change {line!r}: VOLUME needs a path")
    for v in vols:
        if not v.startswith("/"):
            raise InvalidInput(f"invalid change {line!r}: volume path {v!r} must be absolute")
    return [posixpath.normpath(v) for v in vols]


def parse_change(line: str) -> Change:
    """One instruction line -> (KEYWORD, value); raises InvalidInput naming the line."""
    if not isinstance(line, str) or not line.strip():
        raise InvalidInput("invalid change: empty instruction")
    text = line.strip()
    keyword, _, rest = text.partition(" ")
    if "\t" in keyword:
        keyword, _, more = keyword.partition("\t")
        rest = more + " " + rest
    keyword = keyword.upper()
    rest = rest.strip()
    if keyword not in KEYWORDS:
        raise InvalidInput(f"invalid change {line!r}: unknown instruction {keyword!r} "
                           f"(supported: {', '.join(KEYWORDS)})")
    if not rest and keyword not in ("CMD", "ENTRYPOINT"):
        raise InvalidInput(f"invalid change {line!r}: {keyword} needs a value")
    if keyword in ("CMD", "ENTRYPOINT"):
        if not rest:
            raise InvalidInput(f"invalid change {line!r}: {keyword} needs a command "
                               f"(use {keyword} [] to clear it)")
        return keyword, _exec_or_shell(keyword, rest, line)
    if keyword in ("ENV", "LABEL"):
        return keyword, _pairs(keyword, rest, line)
    if keyword == "WORKDIR":
        if "\0" in rest:
            raise InvalidInput(f"invalid change {line!r}: bad path")
        return keyword, rest
    if keyword == "USER":
        if any(c.isspace() for c in rest) or rest.startswith(":") or rest.endswith(":"):
            raise InvalidInput(f"invalid change {line!r}: USER takes one user[:group]")
        return keyword, rest
    if keyword == "EXPOSE":
        return keyword, _ports(rest, line)
    if keyword == "VOLUME":
        return keyword, _volumes(rest, line)
    # STOPSIGNAL
    if any(c.isspace() for c in rest):
        raise InvalidInput(f"invalid change {line!r}: STOPSIGNAL takes one signal")
    return keyword, rest


def parse_changes(lines: list[str] | tuple[str, ...] | None) -> list[Change]:
    return [parse_change(line) for line in (lines or [])]


def _set_env(env: list[str], key: str, value: str) -> list[str]:
    prefix = key + "="
    out = [e for e in env if not e.startswith(prefix) and e != key]
    out.append(prefix + value)
    return out


def apply_changes(config: dict | None, changes: list[str] | list[Change] | None) -> dict:
    """A new config section: `config` with `changes` (lines or parsed tuples) applied in order."""
    cfg = copy.deepcopy(config) if config else {}
    for change in changes or []:
        keyword, value = parse_change(change) if isinstance(change, str) else change
        if keyword in ("CMD", "ENTRYPOINT"):
            cfg["Cmd" if keyword == "CMD" else "Entrypoint"] = list(value)
        elif keyword == "ENV":
            env = list(cfg.get("Env") or [])
            for k, v in value.items():
                env = _set_env(env, k, v)
            cfg["Env"] = env
        elif keyword == "WORKDIR":
            base = cfg.get("WorkingDir") or "/"
            cfg["WorkingDir"] = posixpath.normpath(posixpath.join(base, value))
        elif keyword == "USER":
            cfg["User"] = value
        elif keyword == "LABEL":
            labels = dict(cfg.get("Labels") or {})
            labels.update(value)
            cfg["Labels"] = labels
        elif keyword == "EXPOSE":
            ports = dict(cfg.get("ExposedPorts") or {})
            ports.update({p: {} for p in value})
            cfg["ExposedPorts"] = ports
        elif keyword == "VOLUME":
            vols = dict(cfg.get("Volumes") or {})
            vols.update({v: {} for v in value})
            cfg["Volumes"] = vols
        elif keyword == "STOPSIGNAL":
            cfg["StopSignal"] = value
    return cfg
