"""The one exception tree of rocker, and the exit code each error maps to.

    RockerError (1)                      any error rocker expects and explains in one line
    ├── UsageError (2)                   a command line that makes no sense
    ├── InvalidInput (1)                 a bad value, spec or file given by the user
    │   └── SpecError (1)                a stack file that does not validate (file, path, line)
    ├── NotFound (1)                     no such image / container / stack
    ├── Conflict (1)                     name taken, object in use, wrong state for the verb
    ├── UnsafeArchive (1)                an image tar entry that would escape the layer folder
    ├── CorruptRecord (1)                a state record that cannot be read
    ├── LockTimeout (1)                  another rocker holds a lock for too long
    ├── HostError (1)                    a privileged call failed (mount, cgroup write, netlink)
    ├── Cancelled (1)                    the user answered "no" to a confirmation prompt
    └── ContainerStartError (125)        the container could not be started
        ├── CommandNotExecutable (126)   the command exists but cannot be executed
        └── CommandNotFound (127)        the command does not exist in the container

Anything else that escapes a command is a bug: the CLI prints one line and exits 70, and
`--debug` shows the traceback.

The code an error maps to depends on the command too, and `exit_code_for()` is the one place
that says how: `run`, `create` and `exec` exit 125 for every failure of rocker itself (bad
options and values, unknown objects, bugs), as Docker's do, so that it is never mistaken for
the command's own exit code; `diff` keeps 2 for "the plan has changes" (usage errors exit 1).
Exit codes are documented in docs/errors.md.
"""

from __future__ import annotations


class RockerError(Exception):
    """Base of every error rocker expects; `str(err)` is the one line shown to the user."""

    exit_code = 1


class UsageError(RockerError):
    exit_code = 2


class InvalidInput(RockerError):
    pass


class SpecError(InvalidInput):
    pass


class NotFound(RockerError):
    pass


class ContainerGone(NotFound):
    """The container was removed by another command while this one worked on it."""


class Conflict(RockerError):
    pass


class UnsafeArchive(RockerError):
    pass


class CorruptRecord(RockerError):
    pass


class LockTimeout(RockerError):
    pass


class HostError(RockerError):
    pass


class Cancelled(RockerError):
    pass


class ContainerStartError(RockerError):
    exit_code = 125


class CommandNotExecutable(ContainerStartError):
    exit_code = 126


class CommandNotFound(ContainerStartError):
    exit_code = 127


INTERNAL_ERROR_EXIT = 70


RUN_VERBS = frozenset({"run", "create", "exec"})
"""The commands whose own failures all exit 125, as `docker run/create/exec` do."""

KEPT_BY_RUN_VERBS = frozenset({126, 127, 130, 141})
"""Codes run/create/exec keep: the command cannot be executed / was not found, rocker itself
was interrupted (SIGINT), its output pipe was closed (SIGPIPE)."""


def exit_code_for(command: str | None, code: int) -> int:
    """The exit code of `rocker COMMAND` failing with `code`: an error's exit_code, 2 for a
    usage error of click, INTERNAL_ERROR_EXIT for a bug. `command` is the sub-command's name
    (None when the command line failed before one was found)."""
    if command in RUN_VERBS:
        return code if code in KEPT_BY_RUN_VERBS else 125
    if command == "diff" and code == 2:
        return 1   # 2 is diff's "the plan has changes" (Terraform's -detailed-exitcode)
    return code
