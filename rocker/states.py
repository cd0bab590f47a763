"""The container lifecycle's vocabulary: the statuses, the groups verbs ask about, the one
transition table, and what each verb needs (pure: no I/O; the planner uses it too).

Statuses are plain strings in records (`state.status`) and in JSON output, as Docker's are;
code compares them only through the names here.
"""

from __future__ import annotations

from rocker.errors import Conflict

CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
RESTARTING = "restarting"
EXITED = "exited"
REMOVING = "removing"
ALL = (CREATED, RUNNING, PAUSED, RESTARTING, EXITED, REMOVING)

UP = frozenset({RUNNING, PAUSED})                 # its process exists
LIVE = frozenset({RUNNING, PAUSED, RESTARTING})   # supervised and not stopped
STOPPED = frozenset({CREATED, EXITED})            # may be started or removed

TRANSITIONS: dict[str, frozenset[str]] = {
    CREATED: frozenset({RUNNING, EXITED, REMOVING}),
    RUNNING: frozenset({EXITED, PAUSED, RESTARTING, REMOVING}),
    PAUSED: frozenset({RUNNING, EXITED, REMOVING}),
    RESTARTING: frozenset({RUNNING, EXITED, REMOVING}),
    EXITED: frozenset({RUNNING, REMOVING, RESTARTING}),
    REMOVING: frozenset(),
}
"""status -> the statuses it may move to."""

VERBS: dict[str, tuple[frozenset[str], str]] = {
    "kill": (UP, "container {name} is not running"),
    "exec": (frozenset({RUNNING}), "container {name} is not running"),
    "attach": (frozenset({RUNNING}), "container {name} is not running"),
    "top": (UP, "container {name} is not running"),
    "pause": (frozenset({RUNNING}), "container {name} is not running"),
    "unpause": (frozenset({PAUSED}), "container {name} is not paused"),
    "start": (STOPPED, "container {name} is already running"),
    "remove": (STOPPED, "cannot remove container {name}: it is {status}; stop it first or use -f"),
}
"""verb -> (the statuses it accepts, the error otherwise)."""


def check_transition(old: str, new: str) -> None:
    """An illegal move is an error naming both statuses."""
    if new not in TRANSITIONS.get(old, frozenset()):
        raise Conflict(f"cannot move a container from {old} to {new}")


def guard(verb: str, status: str, name: str) -> None:
    """Conflict (naming the container and its status) unless `verb` may act on `status`."""
    allowed, message = VERBS[verb]
    if status == REMOVING:
        raise Conflict(f"container {name} is being removed")
    if status not in allowed:
        if verb == "exec" and status == PAUSED:
            raise Conflict(f"container {name} is paused: unpause it first")
        raise Conflict(message.format(name=name, status=status))
