"""The one fd-closing helper: close every descriptor from 3 up but the ones kept (what a forked
child does before it runs something else: the monitor, a container's init, an exec'd process)."""

import os


def close_fds_except(keep) -> None:
    """Close every fd >= 3 that is not in `keep` (any iterable of ints)."""
    lo = 3
    for fd in sorted(set(keep)):
        if fd < lo:
            continue
        os.closerange(lo, fd)
        lo = fd + 1
    try:
        hi = os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        hi = 65536
    os.closerange(lo, max(hi, 65536))
