"""Reading and writing cgroup interface files: the one place where cgroup I/O errors are turned
into rocker errors.

Every write of both backends goes through `write()`: a failure becomes
`HostError("cannot write 200 to /sys/fs/cgroup/.../memory.limit_in_bytes: <strerror>")`,
except when the value came from the user (`option=` is given) and the kernel refuses it
(EBUSY, EINVAL, ERANGE...): that is the user's value, so it becomes InvalidInput naming the
option. Files are opened without O_CREAT, so writing a file the kernel does not provide fails
like it would on cgroupfs, also in the fake folders of the unit tests.
"""

from __future__ import annotations

import errno
import os

from rocker.errors import HostError, InvalidInput

_USER_ERRNOS = {errno.EBUSY, errno.EINVAL, errno.ERANGE, errno.EDOM, errno.ENOSPC}

UNLIMITED_V1 = 1 << 60
"""v1 memory files read 9223372036854771712 (PAGE_COUNTER_MAX pages) when unlimited: anything
this large is taken as unlimited."""


def _host_error(message: str, err: int | None) -> HostError:
    """A HostError that keeps the errno (create() retries when a cgroup vanished: ENOENT or
    ENODEV)."""
    e = HostError(message)
    e.errno = err  # type: ignore[attr-defined]
    return e


VANISHED = (errno.ENOENT, errno.ENODEV)
"""What reading or writing a file of a cgroup that was just removed fails with."""


def write(path: str, value, *, option: str | None = None, hint: str | None = None,
          undo: list | None = None) -> None:
    """Write `value` (str/int) to a cgroup file in one write(2).

    With `undo` (a list), the file's content before the write is read first and, once the
    write succeeded, `(path, old content)` is appended: `rollback(undo)` puts it back."""
    data = str(value)
    old = read_opt(path) if undo is not None else None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)
    except OSError as e:
        reason = e.strerror or os.strerror(e.errno or 0)
        if option is not None and e.errno in _USER_ERRNOS:
            raise InvalidInput(f"cannot set {option} {data}: "
                               f"{hint or 'the kernel refused it'} ({reason})") from None
        raise _host_error(f"cannot write {data} to {path}: {reason}", e.errno) from None
    if undo is not None and old is not None:
        undo.append((path, old))


def rollback(undo: list) -> None:
    """Write back, newest first, what `write(..., undo=undo)` replaced (best effort: a value
    the kernel no longer takes is skipped)."""
    while undo:
        path, old = undo.pop()
        try:
            write(path, old if old != "" else "\n")
        except HostError:
            pass


def read(path: str) -> str:
    """The content of a cgroup file, stripped. Raises HostError."""
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise _host_error(f"cannot read {path}: {e.strerror}", e.errno) from None


def read_opt(path: str) -> str | None:
    """The content, or None when the file does not exist (a controller or kernel feature absent)."""
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno in (errno.ENODEV, errno.ENOTSUP, errno.EOPNOTSUPP):
            return None
        raise _host_error(f"cannot read {path}: {e.strerror}", e.errno) from None


def read_int(path: str, default: int | None = None) -> int | None:
    """An integer file; "max" and missing files give `default`."""
    text = read_opt(path)
    if text is None or text == "" or text == "max":
        return default
    try:
        return int(text.split()[0])
    except ValueError:
        return default


def read_keyed(path: str) -> dict[str, int]:
    """A flat-keyed file ("key value" lines, like memory.stat or memory.events) as a dict."""
    out: dict[str, int] = {}
    text = read_opt(path)
    if not text:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def read_pids(path: str) -> list[int]:
    """The pids listed in a cgroup.procs file ([] when the cgroup is gone)."""
    try:
        with open(path) as f:
            return [int(x) for x in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []
    except OSError as e:
        if e.errno == errno.ENODEV:
            return []
        raise _host_error(f"cannot read {path}: {e.strerror}", e.errno) from None


def exists(path: str) -> bool:
    return os.path.exists(path)
