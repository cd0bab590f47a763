"""`rocker exec`: run a command in a running container with its environment, and relay it."""

from __future__ import annotations

import os

from rocker.containers import records
from rocker.containers import state as cstate
from rocker.containers.config import parse_env_list
from rocker.errors import InvalidInput
from rocker.attach.client import write_all
from rocker import states
from rocker.states import EXITED


def exec_in(paths, cid: str, command: list[str], interactive=False, tty=False, detach=False,
            env: list[str] | None = None, workdir: str | None = None,
            user: str | None = None) -> int:
    from rocker.cgroups import manager_for
    from rocker.runtime.lifecycle import thaw_stale_commit
    from rocker.launcher.nsexec import join
    thaw_stale_commit(paths, cid)
    rec = records.load(paths, cid)
    obs = cstate.observed(rec["state"])
    states.guard("exec", obs["status"] if obs.get("alive") else EXITED, rec["name"])
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
    from rocker.launcher.ocispec import default_cap_mask
    proc["cap_mask"] = default_cap_mask(m.layout.version)
    # The command never gets one of this CLI's own descriptors (a host terminal would let the
    # container type into the host's shell with TIOCSTI): pipes, a pty, or /dev/null.
    parent_ends: list[int] = []
    child_ends: list[int] = []
    stdio = None
    if detach:
        devnull = os.open("/dev/null", os.O_RDWR)
        child_ends = [devnull]
        stdio = (devnull, devnull, devnull)
    elif not proc["tty"]:
        if interactive:
            in_r, in_w = os.pipe()
        else:
            in_r, in_w = os.open("/dev/null", os.O_RDONLY), -1
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        stdio = (in_r, out_w, err_w)
        child_ends = [in_r, out_w, err_w]
        parent_ends = [in_w, out_r, err_r]
    try:
        j = join(obs["pid"], proc, m.paths() if m.exists() else [], stdio=stdio, detach=detach,
                 die_with_parent=not detach)
    except BaseException:
        for fd in child_ends + parent_ends:
            if fd >= 0:
                os.close(fd)
        raise
    for fd in child_ends:
        os.close(fd)
    try:
        if j.master_fd is not None:
            _relay_pty(j.master_fd, interactive)
        elif parent_ends:
            _relay_pipes(*parent_ends)
        j.wait_started()
    except BaseException:
        _reap(j.pid)
        raise
    return _reap(j.pid)


def _relay_pipes(in_w: int, out_r: int, err_r: int) -> None:
    """Our stdin -> the command's stdin (in a thread: stdin may be a file, a tty or a pipe);
    its stdout and stderr -> ours, until both are closed."""
    import selectors
    import threading
    if in_w >= 0:
        def pump() -> None:
            try:
                while True:
                    data = os.read(0, 65536)
                    if not data:
                        break
                    view = memoryview(data)
                    while view:
                        view = view[os.write(in_w, view):]
            except OSError:
                pass
            finally:
                try:
                    os.close(in_w)
                except OSError:
                    pass
        threading.Thread(target=pump, daemon=True).start()
    sel = selectors.DefaultSelector()
    sel.register(out_r, selectors.EVENT_READ, 1)
    sel.register(err_r, selectors.EVENT_READ, 2)
    open_fds = 2
    try:
        while open_fds:
            for key, _ in sel.select():
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fd)
                    os.close(key.fd)
                    open_fds -= 1
                    continue
                write_all(key.data, data)
    finally:
        sel.close()


def _reap(pid: int) -> int:
    try:
        _, st = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    code = os.waitstatus_to_exitcode(st)
    return 128 - code if code < 0 else code


def _relay_pty(master: int, interactive: bool) -> None:
    """Terminal <-> pty master until the command's side closes. Writes to the master are
    queued and non-blocking, so a command that is busy writing never deadlocks with us."""
    import fcntl
    import selectors
    import signal
    import termios
    import tty as ttymod

    def resize(*_):
        try:
            ws = fcntl.ioctl(1, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(master, termios.TIOCSWINSZ, ws)
        except OSError:
            pass

    old = None
    if interactive and os.isatty(0):
        old = termios.tcgetattr(0)
        ttymod.setraw(0)
    prev = signal.signal(signal.SIGWINCH, resize)
    resize()
    os.set_blocking(master, False)
    sel = selectors.PollSelector()  # poll, unlike epoll, takes files and /dev/null
    sel.register(master, selectors.EVENT_READ, "m")
    if interactive:
        sel.register(0, selectors.EVENT_READ, "in")
    inq = bytearray()
    try:
        while True:
            ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if inq else 0)
            sel.modify(master, ev, "m")
            for key, mask in sel.select():
                if key.data == "m":
                    if mask & selectors.EVENT_WRITE and inq:
                        try:
                            del inq[:os.write(master, inq)]
                        except BlockingIOError:
                            pass
                        except OSError:
                            inq.clear()
                    if mask & selectors.EVENT_READ:
                        try:
                            data = os.read(master, 65536)
                        except BlockingIOError:
                            continue
                        except OSError:
                            data = b""
                        if not data:
                            return
                        write_all(1, data)
                else:
                    data = os.read(0, 65536) if len(inq) < (1 << 20) else b"?"
                    if data == b"?":
                        continue
                    if not data:
                        sel.unregister(0)
                        inq += b"\x04"
                    else:
                        inq += data
    finally:
        if old is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, old)
        signal.signal(signal.SIGWINCH, prev)
        sel.close()
        os.close(master)
