"""Durations and timestamps as users write them: `1.5s`, `2m`, `1h30m`, RFC 3339, epoch."""

from __future__ import annotations

import re
import time
from datetime import datetime

from rocker.errors import InvalidInput

_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h|d)", re.ASCII)
_NUMBER = re.compile(r"\d+(\.\d+)?", re.ASCII)
MAX_DURATION = 9223372036.854775807
"""The longest duration accepted, in seconds: Go's (and so Docker's) time.Duration, 2**63-1 ns,
about 292 years. Longer ones, and float overflow to infinity, are refused."""


def parse_duration(value: str | int | float, what: str = "duration") -> float:
    """'30s', '1m30s', '500ms', 2 (seconds) -> seconds as a float, 0..MAX_DURATION."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, int) and abs(value) > MAX_DURATION:
            total = float("inf")   # float(10**400) would raise OverflowError
        else:
            total = float(value)
        if total != total or abs(total) > MAX_DURATION:
            raise InvalidInput(f"invalid {what} {value!r}: not a duration of at most "
                               "292 years")
        return total
    s = str(value).strip()
    if _NUMBER.fullmatch(s):
        total = float(s)
    else:
        pos, total = 0, 0.0
        for m in _PART.finditer(s):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if pos != len(s) or not s:
            raise InvalidInput(f"invalid {what} {value!r}: use e.g. 500ms, 30s, 2m, 1h30m")
    if total > MAX_DURATION:  # inf included: float('9' * 400) is inf
        raise InvalidInput(f"invalid {what} {value!r}: too long (at most 292 years)")
    return total


def parse_since(value: str, now: float | None = None) -> float:
    """`--since`: a duration ago (10m), an RFC 3339 time, a date, or a Unix time -> epoch."""
    now = time.time() if now is None else now
    s = value.strip()
    if _NUMBER.fullmatch(s):   # a plain number is a Unix time, as in Docker (10 is not 10s)
        return float(s)
    try:
        return now - parse_duration(s, "--since")
    except InvalidInput:
        pass
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"invalid --since {value!r}: use a duration (10m), RFC 3339 time or "
                           "Unix time") from None
    if dt.tzinfo is None:
        dt = dt.astimezone()
    return dt.timestamp()


def human_ago(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return ""
    d = max(0, int((now or time.time()) - ts))
    for unit, n in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if d >= n:
            k = d // n
            return f"{k} {unit}{'s' if k > 1 else ''} ago"
    return f"{d} second{'s' if d != 1 else ''} ago"
