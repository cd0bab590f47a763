"""Atomic, locked JSON records: the only way rocker writes metadata.

Every record is written to a temporary file in the same folder, fsynced, then renamed over the
old one, so a reader sees the old record or the new one, never half of one. Read-modify-write
goes through `update()`, which holds an exclusive flock on a lock file beside the record for the
whole cycle.

A full disk must not cost a container its state (its exit code above all): a record may have
*reserve* files beside it, allocated in advance (`make_reserve`). When the ordinary write fails
with ENOSPC/EDQUOT, one reserve is renamed to the temporary name and overwritten in place: its
blocks are already allocated, so the write needs no new space (on ext4, xfs, tmpfs; not on
copy-on-write filesystems such as btrfs), and the rename keeps the write atomic. The caller
tops the reserves up once space is back.

A record that cannot be parsed raises CorruptRecord naming the file: listing code catches it
per object, so one bad record never hides the others.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator

from rocker.errors import CorruptRecord, LockTimeout


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
RESERVE_SIZE = 64 << 10


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def make_reserve(path: str, size: int = RESERVE_SIZE) -> bool:
    """Allocate `size` bytes of real blocks at `path` (zeros); False on a full disk. No fsync:
    the filesystem accounts for the space at write() (ext4's delayed allocation reserves it),
    and a reserve lost in a crash is topped up by the next record write."""
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError:
        return False
    try:
        _write_all(fd, bytes(size))
        os.close(fd)
        os.replace(tmp, path)
        return True
    except OSError:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False


def _write_into_reserve(reserve: str, tmp: str, data: bytes, mode: int) -> bool:
    """Take over `reserve` as `tmp` and overwrite it with `data` in place (no new blocks)."""
    try:
        size = os.stat(reserve).st_size
        if size < len(data):
            return False
        os.rename(reserve, tmp)
    except OSError:
        return False

    def in_place(fd: int) -> None:
        os.pwrite(fd, data, 0)  # in place: never truncate first, that would free the blocks
        os.ftruncate(fd, len(data))
        os.fchmod(fd, mode)
        os.fsync(fd)
    _fill(os.open(tmp, os.O_WRONLY | os.O_CLOEXEC), tmp, in_place)
    return True


def _fill(fd: int, tmp: str, write) -> None:
    """`write(fd)`, then close; on any failure the temporary file `tmp` goes too."""
    try:
        write(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)


def atomic_write(path: str, data: bytes, mode: int = 0o644,
                 reserves: tuple[str, ...] = (), durable: bool = True) -> None:
    """Write `data` to `path` atomically (temp file in the same folder, fsync, rename); on a
    full disk, into one of `reserves` if one is left. `durable=False` skips the fsync, for
    files that are written again before every use (a container's config.json)."""
    d = os.path.dirname(path) or "."
    tmp = os.path.join(d, f".{os.path.basename(path)}.tmp.{os.getpid()}.{time.monotonic_ns()}")
    try:
        def fresh(fd: int) -> None:
            _write_all(fd, data)
            if durable:
                os.fsync(fd)
        _fill(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode), tmp,
              fresh)
    except OSError as e:
        if e.errno not in NO_SPACE or not any(
                _write_into_reserve(r, tmp, data, mode) for r in reserves):
            raise
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: str, obj: object, reserves: tuple[str, ...] = (),
               durable: bool = True) -> None:
    atomic_write(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode(),
                 reserves=reserves, durable=durable)


def read_json(path: str) -> object:
    """Read a JSON record. Missing file -> FileNotFoundError; unreadable -> CorruptRecord."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptRecord(f"corrupt record {path}: {e}") from None


@contextlib.contextmanager
def flocked(lock_path: str, shared: bool = False, timeout: float | None = 30.0) -> Iterator[int]:
    """Hold an flock on `lock_path` (created if needed) for the body of the with-block."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        op = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        if timeout is None:
            fcntl.flock(fd, op)
        else:
            deadline = time.monotonic() + timeout
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, op | fcntl.LOCK_NB)
                    break
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise LockTimeout(f"timed out waiting for lock {lock_path}") from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
        yield fd
    finally:
        os.close(fd)


def update_json(path: str, fn: Callable[[object], object], default: object = None) -> object:
    """Read-modify-write a record under its lock; `fn` gets the old value and returns the new."""
    with flocked(path + ".lock"):
        try:
            old = read_json(path)
        except FileNotFoundError:
            old = default
        new = fn(old)
        write_json(path, new)
        return new


def makedirs(path: str, mode: int = 0o700) -> str:
    os.makedirs(path, mode=mode, exist_ok=True)
    return path
