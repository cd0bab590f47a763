"""Human-readable sizes and image dates, formatted as the original rocker did.

Sizes are base 1024 with one decimal above a kilobyte: `500B`, `2.0KB`, `2.5MB`, `1.0GB`.
Image dates are stored as RFC 3339 UTC strings with nanoseconds (like Docker) and shown in
local time as `%Y-%m-%d %H:%M:%S`.
"""

from __future__ import annotations

import time

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def format_size(n: int | float) -> str:
    """`500B`, `2.0KB`, `2.5MB`, `1.0GB` (base 1024, one decimal)."""
    n = max(0, int(n))
    if n < 1024:
        return f"{n}B"
    value = float(n)
    unit = 0
    while unit < len(_UNITS) - 1 and round(value, 1) >= 1024:
        value /= 1024
        unit += 1
    return f"{value:.1f}{_UNITS[unit]}"


def now_rfc3339() -> str:
    """The current time as `2024-01-01T12:00:00.123456789Z`."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_rfc3339(value: str) -> float:
    """Seconds since the epoch of an RFC 3339 date (fractions and offsets allowed); 0 if bad."""
    from datetime import datetime

    if not isinstance(value, str) or not value:
        return 0.0
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # datetime.fromisoformat takes at most 6 fractional digits.
    if "." in s:
        head, rest = s.split(".", 1)
        digits = ""
        for ch in rest:
            if not ch.isdigit():
                break
            digits += ch
        s = head + ("." + digits[:6] if digits else "") + rest[len(digits):]
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return 0.0
    if dt.tzinfo is None:
        from datetime import timezone
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def format_created(value: str) -> str:
    """An RFC 3339 date as local `%Y-%m-%d %H:%M:%S` (empty for a date that cannot be read)."""
    ts = parse_rfc3339(value)
    if not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
