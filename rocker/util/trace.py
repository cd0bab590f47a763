"""Start-up tracing for benchmarks: ROCKER_TRACE=FILE appends "pid time label" lines."""

import os
import time

_FILE = os.environ.get("ROCKER_TRACE")


def mark(label: str) -> None:
    if _FILE:
        with open(_FILE, "a") as f:
            f.write(f"{os.getpid()} {time.time():.6f} {label}\n")
