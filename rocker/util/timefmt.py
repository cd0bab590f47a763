"""Timestamps: the one RFC 3339 formatter and parser, and local display times.

rocker writes RFC 3339 UTC with nanoseconds, as Docker does (`2026-11-28T23:47:38.123456789Z`):
log lines, image dates, `inspect`. Formatting imports neither re nor datetime (the monitor uses
it); parsing takes fractions and offsets and imports datetime only when it runs.
"""

import time


def rfc3339(ts: float) -> str:
    """Epoch seconds -> '2026-11-28T23:47:38.123456789Z'."""
    sec = int(ts)
    frac = int(round((ts - sec) * 1e9))
    if frac >= 1_000_000_000:
        sec, frac = sec + 1, frac - 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


def now_rfc3339() -> str:
    """The current time, to the nanosecond."""
    secs, frac = divmod(time.time_ns(), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_rfc3339(value: str) -> float:
    """Epoch seconds of an RFC 3339 date (fractions and offsets allowed; no offset means UTC);
    0.0 for anything that is not one."""
    from datetime import datetime, timezone

    if not isinstance(value, str) or not value:
        return 0.0
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    if "." in s:  # datetime.fromisoformat takes at most 6 fractional digits
        head, rest = s.split(".", 1)
        n = 0
        while n < len(rest) and rest[n].isdigit():
            n += 1
        s = head + ("." + rest[:min(n, 6)] if n else "") + rest[n:]
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return 0.0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def local_time(ts: float | str | None) -> str:
    """Epoch seconds or an RFC 3339 date as local `%Y-%m-%d %H:%M:%S`; empty if unknown."""
    if isinstance(ts, str):
        ts = parse_rfc3339(ts)
    if not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
