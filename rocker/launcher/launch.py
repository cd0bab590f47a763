"""Starting a container process: the parent/child protocol.

Three processes take part. The monitor (rocker.monitor) is the parent and a child subreaper;
A is a short-lived intermediate that enters the new namespaces; B is the container's init
(PID 1 in its PID namespace) which becomes the user's command.

    monitor                         A (intermediate)                B (container init)
    fork A ───────────────────────▶ wait for "cgroup"
    write A's pid to cgroup.procs
    send "cgroup" ────────────────▶ unshare(mnt uts ipc net pid cgroup)
                                    fork B ───────────────────────▶ mounts, overlay, /proc, /dev,
                          ◀──────── "pid <B>" on the status pipe;    /sys, masks, pivot_root,
                                    exit (B is re-parented to the    hostname, lo up
                                    monitor, the subreaper)          [tty: pty master ──▶ monitor]
    reap A; network set-up for B                                     wait for "go"
    send "go" ───────────────────────────────────────────────────▶ user, caps, no_new_privs,
                                                                     close fds, execve(command)
    read the status pipe: EOF means the command started;  ◀──────── or one JSON line
                                                                     {"code": 127, "error": ...}

The status pipe is close-on-exec in B, so a successful execve closes it. Nothing of the user's
command runs before the monitor has placed it in its cgroup and said "go". Any message other
than the one expected is an error naming what was expected.
"""

from __future__ import annotations

import json
import os
import signal

from rocker.errors import ContainerStartError, HostError
from rocker.launcher import syscalls as sc

NAMESPACES = (sc.CLONE_NEWNS | sc.CLONE_NEWUTS | sc.CLONE_NEWIPC | sc.CLONE_NEWNET |
              sc.CLONE_NEWPID | sc.CLONE_NEWCGROUP)


class Started:
    def __init__(self, pid: int, master_fd: int | None) -> None:
        self.pid = pid
        self.master_fd = master_fd


def _read_line(fd: int) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        buf += chunk
    return buf


def launch(spec: dict, add_to_cgroup, stdio: tuple[int, int, int] | None,
           before_go=None) -> Started:
    """Start the container described by `spec` and return once its command has been exec'd.

    `add_to_cgroup(pid)` places a process in the container's cgroup; `before_go(pid)` runs
    after the init process exists and before it may exec (network set-up goes there).
    Raises ContainerStartError (125/126/127) with the child's own message on failure.
    """
    status_r, status_w = os.pipe()      # A and B -> monitor
    cg_r, cg_w = os.pipe()              # monitor -> A
    go_r, go_w = os.pipe()              # monitor -> B
    console = None
    if spec["process"].get("tty"):
        import socket
        console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a = os.fork()
    if a == 0:  # ---- process A
        try:
            os.close(status_r)
            os.close(cg_w)
            os.close(go_w)
            if console is not None:
                console[0].close()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if _read_line(cg_r).strip() != b"cgroup":
                os._exit(125)
            os.close(cg_r)
            sc.unshare(NAMESPACES)
            b = os.fork()
            if b == 0:  # ---- process B
                from rocker.launcher.init import container_init
                container_init(spec, status_w, go_r,
                               console[1].detach() if console is not None else None, stdio)
                os._exit(125)
            os.write(status_w, f"pid {b}\n".encode())
            os._exit(0)
        except BaseException as e:  # noqa: BLE001
            try:
                os.write(status_w, (json.dumps({"code": 125, "error": str(e)}) + "\n").encode())
            finally:
                os._exit(125)
    # ---- monitor
    os.close(cg_r)
    os.close(go_r)
    os.close(status_w)
    if console is not None:
        console[1].close()
    b_pid = None
    try:
        try:
            add_to_cgroup(a)
        except BaseException:
            os.kill(a, signal.SIGKILL)
            raise
        os.write(cg_w, b"cgroup\n")
        line = _read_line(status_r)
        os.waitpid(a, 0)
        if not line.startswith(b"pid "):
            _raise_child_error(line, "the intermediate process to report the init pid")
        b_pid = int(line.split()[1])
        master = None
        if console is not None:
            import socket
            msg, fds, _flags, _addr = socket.recv_fds(console[0], 16, 1)
            if not fds:
                _raise_child_error(_read_line(status_r), "the console from the init process")
            master = fds[0]
        if before_go is not None:
            before_go(b_pid)
        try:
            os.write(go_w, b"go\n")
        except BrokenPipeError:
            pass
        line = _read_line(status_r)
        if line:
            _raise_child_error(line, "the command to start")
        return Started(b_pid, master)
    except BaseException:
        if b_pid:
            try:
                os.kill(b_pid, signal.SIGKILL)
                os.waitpid(b_pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        raise
    finally:
        for fd in (status_r, cg_w, go_w):
            try:
                os.close(fd)
            except OSError:
                pass
        if console is not None:
            console[0].close()


def _raise_child_error(line: bytes, expected: str) -> None:
    try:
        msg = json.loads(line)
        code, text = int(msg["code"]), str(msg["error"])
    except (ValueError, KeyError, TypeError):
        raise HostError(f"container start: expected {expected}, got "
                        f"{line.decode(errors='replace').strip() or 'nothing'}") from None
    err = ContainerStartError(text)
    err.exit_code = code
    raise err
