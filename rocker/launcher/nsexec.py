"""Running a process inside a running container (`rocker exec`, healthchecks).

    caller                      C1 (joiner, host PID ns)              C2 (in the container)
    fork C1 ──────────────────▶ PR_SET_DUMPABLE 0 (runc CVE-2019-5736),
                                join the cgroups (launch.join_cgroups)
                                open /proc/<init>/ns/*, setns each
                                (mnt last), fork C2 ──────────────▶ [tty: pty master ──▶ caller]
                                wait for C2, exit with its code       user, caps, no_new_privs,
    read status: EOF = started  ◀──────────────────────────────────── cwd, close fds, execve
                                                                      or one JSON error line

C1 is made non-dumpable before it joins anything, so nothing in the container can reach the
host's Python through /proc/C1/exe; C2 execs right after joining. Both die with their parent
(PR_SET_PDEATHSIG), so a killed `rocker exec` or a timed-out healthcheck leaves nothing behind.
"""

from __future__ import annotations

import os
import signal

from rocker.errors import ContainerStartError
from rocker.launcher import syscalls as sc
from rocker.util.fds import close_fds_except
from rocker.launcher.init import (TIOCSCTTY, exec_process, open_pty_in, prepare_process,
                                 report, set_limits)

NS_ORDER = ("user", "ipc", "uts", "net", "cgroup", "pid", "mnt")
"""The user namespace first (the others belong to it), the mount namespace last."""


class Joined:
    def __init__(self, pid: int, status_fd: int, master_fd: int | None) -> None:
        self.pid = pid
        self.status_fd = status_fd
        self.master_fd = master_fd
        self.process_pid: int | None = None
        """The command's own pid (C2), with join(report_pid=True)."""

    def wait_started(self) -> None:
        """Raise ContainerStartError (125/126/127) if the command could not be executed."""
        from rocker.launcher.launch import _raise_child_error, _read_line
        line = _read_line(self.status_fd)
        if line.startswith(b"pid "):
            self.process_pid = int(line.split()[1])
            line = _read_line(self.status_fd)
        os.close(self.status_fd)
        if line:
            _raise_child_error(line, "the command to start")


def join(init_pid: int, proc: dict, cgroup_paths: list[str], stdio=None, detach: bool = False,
         die_with_parent: bool = True, report_pid: bool = False,
         preserve_fds: int = 0) -> Joined:
    """Start `proc` in the running container of `init_pid`. `report_pid`: C1 sends C2's pid
    first (Joined.process_pid after wait_started); `preserve_fds`: fds 3..3+N-1 are kept."""
    status_r, status_w = os.pipe()
    console = None
    if proc.get("tty"):
        import socket
        console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    parent = os.getpid()
    c1 = os.fork()
    if c1 == 0:
        code = 125
        try:
            os.close(status_r)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            sc.prctl(sc.PR_SET_DUMPABLE, 0)
            if die_with_parent:
                sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
                if os.getppid() != parent:
                    os._exit(125)
            if console is not None:
                console[0].close()
            if stdio is not None:
                for i, fd in enumerate(stdio):
                    if fd != i:
                        os.dup2(fd, i)
            # nothing of the caller's but 0-2 and our own pipes: a write end of the command's
            # stdin kept open here would keep it from ever seeing EOF
            close_fds_except({status_w} | ({console[1].fileno()} if console else set())
                             | set(range(3, 3 + preserve_fds)))
            from rocker.launcher.launch import join_cgroups
            join_cgroups(cgroup_paths)
            set_limits(proc)  # still the host's root: inherited by C2
            fds = []
            for ns in NS_ORDER:
                try:
                    fd = os.open(f"/proc/{init_pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    if ns in ("pid", "mnt"):
                        raise ContainerStartError("the container is not running") from None
                    continue
                if ns == "user" and os.fstat(fd).st_ino == os.stat("/proc/self/ns/user").st_ino:
                    os.close(fd)  # the container shares ours: joining it again is EINVAL
                    continue
                fds.append(fd)
            for fd in fds:
                sc.setns(fd)
                os.close(fd)
            os.chdir("/")
            c2 = os.fork()
            if c2 == 0:
                _in_container(proc, status_w, console[1].detach() if console else None, detach,
                              preserve_fds)
            if report_pid:
                os.write(status_w, f"pid {c2}\n".encode())
            os.close(status_w)
            if detach:
                os._exit(0)
            _, st = os.waitpid(c2, 0)
            code = os.waitstatus_to_exitcode(st)
            code = 128 - code if code < 0 else code
        except BaseException as e:  # noqa: BLE001
            report(status_w, e)
        os._exit(code)
    os.close(status_w)
    master = None
    if console is not None:
        import socket
        console[1].close()
        _msg, fds, _f, _a = socket.recv_fds(console[0], 16, 1)
        console[0].close()
        master = fds[0] if fds else None
    return Joined(c1, status_r, master)


def _in_container(proc: dict, status_fd: int, console_fd: int | None, detach: bool,
                  preserve_fds: int = 0) -> None:
    import fcntl
    import socket
    try:
        if not detach:
            sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
        if console_fd is not None:
            master, slave_path = open_pty_in("/dev/pts")
            socket.send_fds(socket.socket(fileno=console_fd), [b"pty"], [master])
            os.close(master)
            slave = os.open(slave_path, os.O_RDWR)
            os.setsid()
            fcntl.ioctl(slave, TIOCSCTTY, 0)
            for i in range(3):
                os.dup2(slave, i)
            os.close(slave)
        else:
            os.setsid()  # never keep the caller's controlling terminal
        path, env = prepare_process(proc)
        exec_process(path, proc["args"], env, status_fd, preserve_fds)
    except BaseException as e:  # noqa: BLE001
        report(status_fd, e)
    os._exit(125)


def spawn_in_container(init_pid: int, proc: dict, cgroup_paths: list[str]) -> int:
    """Start `proc` in the container without waiting (healthchecks); returns C1's pid."""
    devnull = os.open("/dev/null", os.O_RDWR)
    try:
        j = join(init_pid, proc, cgroup_paths, stdio=(devnull, devnull, devnull))
    finally:
        os.close(devnull)
    os.close(j.status_fd)
    return j.pid
