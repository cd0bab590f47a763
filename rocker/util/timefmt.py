"""RFC 3339 timestamps with nanoseconds, without importing re or datetime (the monitor uses it)."""

import time


def rfc3339(ts: float) -> str:
    """Epoch -> '2026-11-28T23:47:38.123456789Z' (nanosecond field, like Docker's logs)."""
    sec = int(ts)
    frac = int(round((ts - sec) * 1e9))
    if frac >= 1_000_000_000:
        sec, frac = sec + 1, frac - 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"
