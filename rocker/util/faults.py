"""Crash points for tests: `crash_point(NAME)` kills this process with SIGKILL when the
environment says ROCKER_TEST_CRASH_AT=NAME (a comma-separated list is allowed).

The crash tests (tests/integration/test_crash_points.py) use it to stop a command at the exact
moment a real crash would hurt most (a name claimed but its folder not renamed yet, a record
marked "removing" but its folder still there), then check that the next command finishes or
undoes the work. Without the variable it costs one dictionary look-up. Documented in
docs/containers.md ("Test knobs")."""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    want = os.environ.get("ROCKER_TEST_CRASH_AT")
    if want and name in want.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
