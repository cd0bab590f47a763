"""The one exception tree of rocker, and the exit code each error maps to.

    RockerError (1)                      any error rocker expects and explains in one line
    ├── UsageError (2)                   a command line that makes no sense
    ├── InvalidInput (1)                 a bad value, spec or file given by the user
    │   └── SpecError (1)                a stack file that does not validate (names file, path, line)
    ├── NotFound (1)                     no such image / container / stack
    ├── Conflict (1)                     name taken, object in use, wrong state for the verb
    ├── UnsafeArchive (1)                an image tar entry that would escape the layer folder
    ├── CorruptRecord (1)                a state record that cannot be read
    ├── LockTimeout (1)                  another rocker holds a lock for too long
    ├── HostError (1)                    a privileged call failed (mount, cgroup write, netlink)
    └── ContainerStartError (125)        the container could not be started
        ├── CommandNotExecutable (126)   the command exists but cannot be executed
        └── CommandNotFound (127)        the command does not exist in the container

Anything else that escapes a command is a bug: the CLI prints one line and exits 70, and
`--debug` shows the traceback. Exit codes are documented in docs/errors.md.
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


class ContainerStartError(RockerError):
    exit_code = 125


class CommandNotExecutable(ContainerStartError):
    exit_code = 126


class CommandNotFound(ContainerStartError):
    exit_code = 127


INTERNAL_ERROR_EXIT = 70
