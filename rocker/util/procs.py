"""rocker.util.procs: the one /proc/PID/stat parser and process liveness by pid, start time
and boot id (a reused PID is never taken for the process that was recorded).

rocker.containers.state builds container liveness on these; rocker.network uses them for the
containers that are still starting (their records carry no pid yet).
"""

from __future__ import annotations

_BOOT_ID: str | None = None

def boot_id() -> str:
    global _BOOT_ID
    if _BOOT_ID is None:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _BOOT_ID = f.read().strip()
        except OSError:
            _BOOT_ID = ""
    return _BOOT_ID


def read_stat(pid: int) -> tuple[str, list[bytes]] | None:
    """The one /proc/PID/stat parser: (comm, the fields after it: [0] is the state letter,
    [1] the ppid, [11]/[12] utime/stime, [19] the start time in clock ticks); None if the
    process does not exist. comm may hold spaces and parentheses: it ends at the last ")"."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    end = raw.rfind(b")")
    comm = raw[raw.find(b"(") + 1:end].decode(errors="replace")
    return comm, raw[end + 2:].split()


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process, or None if it does not exist."""
    st = read_stat(pid)
    try:
        return (st[1][0].decode(), int(st[1][19])) if st else None
    except (IndexError, ValueError):
        return None


def start_time(pid: int) -> int | None:
    st = proc_stat(pid)
    return None if st is None else st[1]


def is_alive(pid: int | None, pid_start: int | None, boot: str | None = None) -> bool:
    if not pid or pid_start is None:
        return False
    if boot is not None and boot != boot_id():
        return False
    st = proc_stat(pid)
    if st is None or st[1] != pid_start:
        return False
    return st[0] not in ("Z", "X", "x")
