"""`rocker exec`: run a command in a running container with its environment, and relay it."""

from __future__ import annotations

import os

from rocker.containers import records
from rocker.containers import state as cstate
from rocker.containers.config import parse_env_list
from rocker.errors import Conflict, InvalidInput


def exec_in(paths, cid: str, command: list[str], interactive=False, tty=False, detach=False,
            env: list[str] | None = None, workdir: str | None = None,
            user: str | None = None) -> int:
    from rocker.cgroups import manager_for
    from rocker.runtime.nsexec import join
    rec = records.load(paths, cid)
    obs = cstate.observed(rec["state"])
    if obs["status"] == "paused":
        raise Conflict(f"container {rec['name']} is paused: unpause it first")
    if obs["status"] != "running" or not obs.get("alive"):
        raise Conflict(f"container {rec['name']} is not running")
    if workdir is not None and not workdir.startswith("/"):
        raise InvalidInput(f"the working directory {workdir!r} must be an absolute path")
    base = rec["process"]
    envd = dict(e.split("=", 1) for e in base["env"] if "=" in e)
    envd.update(parse_env_list(env or []))
    if tty:
        envd.setdefault("TERM", os.environ.get("TERM", "xterm"))
    proc = {"args": command, "env": [f"{k}={v}" for k, v in envd.items()],
            "cwd": workdir or base.get("cwd") or "/", "user": user or base.get("user") or "0",
            "tty": tty and not detach}
    m = manager_for(cid)
    stdio = None
    devnull = None
    if detach or not interactive:
        devnull = os.open("/dev/null", os.O_RDWR)
        stdio = (devnull, devnull, devnull) if detach else (devnull, 1, 2)
    try:
        j = join(obs["pid"], proc, m.paths() if m.exists() else [], stdio=stdio, detach=detach,
                 die_with_parent=not detach)
    finally:
        if devnull is not None:
            os.close(devnull)
    try:
        if j.master_fd is not None:
            _relay_pty(j.master_fd, j.pid)
        j.wait_started()
    except BaseException:
        _reap(j.pid)
        raise
    return _reap(j.pid)


def _reap(pid: int) -> int:
    try:
        _, st = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    code = os.waitstatus_to_exitcode(st)
    return 128 - code if code < 0 else code


def _relay_pty(master: int, child: int) -> None:
    """Terminal <-> pty master until the command's side closes."""
    import fcntl
    import selectors
    import signal
    import struct
    import termios
    import tty as ttymod

    def resize(*_):
        try:
            ws = fcntl.ioctl(1, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(master, termios.TIOCSWINSZ, ws)
        except OSError:
            pass

    old = None
    if os.isatty(0):
        old = termios.tcgetattr(0)
        ttymod.setraw(0)
    prev = signal.signal(signal.SIGWINCH, resize)
    resize()
    sel = selectors.DefaultSelector()
    sel.register(master, selectors.EVENT_READ, "m")
    sel.register(0, selectors.EVENT_READ, "in")
    try:
        while True:
            for key, _ in sel.select():
                if key.data == "m":
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        return
                    os.write(1, data)
                else:
                    data = os.read(0, 65536)
                    if not data:
                        sel.unregister(0)
                        os.write(master, b"\x04")
                    else:
                        os.write(master, data)
    finally:
        if old is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, old)
        signal.signal(signal.SIGWINCH, prev)
        sel.close()
        os.close(master)

