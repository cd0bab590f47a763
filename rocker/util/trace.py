"""Start-up tracing for benchmarks: ROCKER_TRACE=FILE appends "pid time label" lines."""

import os
import time

_FILE = os.environ.get("ROCKER_TRACE")
_fd = -1
_ident: tuple[int, int] | None = None


def _open() -> int:
    """The trace file's descriptor. One inherited through fork is reused while it still is
    that file, so a process that has changed its root since (a container's init) still
    reaches it; one closed or reused meanwhile (the monitor closes every descriptor) is not."""
    global _fd, _ident
    if _fd >= 0:
        try:
            st = os.fstat(_fd)
            if (st.st_dev, st.st_ino) == _ident:
                return _fd
        except OSError:
            pass
    _fd = os.open(_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    st = os.fstat(_fd)
    _ident = (st.st_dev, st.st_ino)
    return _fd


def mark(label: str) -> None:
    if not _FILE:
        return
    try:
        os.write(_open(), f"{os.getpid()} {time.time():.6f} {label}\n".encode())
    except OSError:
        pass
