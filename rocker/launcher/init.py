"""The container's init process: the last steps before the user's command, then execve.

Runs as PID 1 of the new PID namespace (process B in rocker.launcher.launch), already in the
container's cgroup and namespaces. It builds the root filesystem (rocker.launcher.rootfs),
pivots into it, sets the hostname, brings `lo` up, waits for the monitor's "go", then switches
user, drops privileges (bounding set, capabilities, no_new_privs), installs the seccomp filter
(rocker.launcher.seccomp), closes every file descriptor but 0, 1, 2 and execs. Any failure is
written to the status pipe as one JSON line with Docker's exit code (125 set-up, 126 not
executable, 127 not found) and the process exits with that code.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import resource
import socket
import stat
import struct

from rocker.errors import CommandNotExecutable, CommandNotFound, ContainerStartError
from rocker.launcher import rootfs as rfs
from rocker.launcher import seccomp
from rocker.launcher.hooks import run_hooks
from rocker.launcher import syscalls as sc
from rocker.launcher.ocispec import DEFAULT_CAP_MASK
from rocker.launcher.users import resolve_user
from rocker.util.fds import close_fds_except

# Everything the init process needs is imported above, ctypes and libc too (syscalls loads
# them on first use): after pivot_root the host's Python library is out of reach.
sc.load()

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCSCTTY = 0x540E


def find_executable(name: str, env: list[str], cwd: str) -> str:
    """PATH lookup as execvp does; 127 if nothing is found, 126 if found but not runnable."""
    if "/" in name:
        path = name if name.startswith("/") else os.path.join(cwd, name)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise CommandNotFound(f"exec: {name}: no such file or directory") from None
        except OSError as e:
            raise CommandNotExecutable(f"exec: {name}: {e.strerror}") from None
        if stat.S_ISDIR(st.st_mode) or not os.access(path, os.X_OK):
            raise CommandNotExecutable(f"exec: {name}: permission denied")
        return path
    search = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for item in env:
        if item.startswith("PATH="):
            search = item[5:]
    denied = None
    for d in search.split(":"):
        cand = os.path.join(d or ".", name)
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and os.access(cand, os.X_OK):
            return cand
        denied = cand
    if denied:
        raise CommandNotExecutable(f"exec: {name}: permission denied")
    raise CommandNotFound(f"exec: {name}: executable file not found in $PATH")


def open_pty_in(devpts: str) -> tuple[int, str]:
    """Open a pseudo-terminal of the container's own devpts instance -> (master fd, slave path)."""
    master = os.open(os.path.join(devpts, "ptmx"), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0)))[0]
    return master, os.path.join(devpts, str(n))


def drop_privileges(uid: int, gid: int, groups: list[int], no_new_privs: bool = True,
                    caps: int = DEFAULT_CAP_MASK, sets: dict | None = None) -> None:
    """Bounding set, user, then the capability sets: `sets` (the five OCI sets as masks)
    when given, else `caps` for uid 0 and nothing for another user (rocker's own bundles)."""
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    sc.drop_bounding_caps(sets["bounding"] if sets is not None else caps)
    if no_new_privs:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    os.setgroups(groups)
    if sets is not None:
        sc.prctl(sc.PR_SET_KEEPCAPS, 1)  # keep the permitted set across setresuid
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if sets is not None:
        sc.prctl(sc.PR_SET_KEEPCAPS, 0)
        sc.capset(sets["effective"], sets["permitted"], sets["inheritable"])
        for cap in range(64):
            if sets["ambient"] >> cap & 1:
                try:  # needs the cap permitted and inheritable; runc too only warns
                    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap)
                except OSError:
                    pass
    elif uid == 0:
        sc.capset(caps, caps, 0)
    else:
        sc.capset(0, 0, 0)


def set_limits(proc: dict) -> None:
    """process.rlimits and oomScoreAdj, set by the first process of the container while it
    is still the host's root (before a user namespace, where raising a hard limit or writing
    oom_score_adj is refused): both are inherited by every process it forks."""
    for res, soft, hard in proc.get("rlimits") or []:
        try:
            resource.prlimit(0, res, (soft, hard))
        except (OSError, ValueError) as e:
            raise ContainerStartError(f"setrlimit {res} ({soft}, {hard}): {e}") from None
    if proc.get("oom_score_adj") is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(int(proc["oom_score_adj"])))


def prepare_process(proc: dict) -> tuple[str, list[str]]:
    """User, working folder and executable for `proc` inside the (already entered) root.
    `proc` has numeric "uid"/"gid"/"groups" (from config.json: resolved when the bundle was
    written) or a "user" string resolved here in the container's own files (exec)."""
    env = list(proc["env"])
    if "uid" in proc:
        uid, gid, groups = proc["uid"], proc["gid"], proc.get("groups") or []
    else:
        uid, gid, groups, home = resolve_user(proc.get("user") or "0")
        if not any(e.startswith("HOME=") for e in env):
            env.append(f"HOME={home}")
    cwd = proc.get("cwd") or "/"
    try:
        if os.path.lexists(cwd) and not os.path.isdir(cwd):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory")
        os.makedirs(cwd, exist_ok=True)
        os.chdir(cwd)
    except OSError as e:
        raise ContainerStartError(f"cannot use working directory {cwd}: {e.strerror}") from None
    if proc.get("umask") is not None:
        os.umask(int(proc["umask"]))
    nnp = proc.get("no_new_privs", True)
    if not nnp:  # installing a filter needs no_new_privs or CAP_SYS_ADMIN: before the drop
        seccomp.install(proc.get("seccomp"))
    drop_privileges(uid, gid, groups, nnp, proc.get("cap_mask", DEFAULT_CAP_MASK),
                    proc.get("caps"))
    path = find_executable(proc["args"][0], env, cwd)
    if nnp:
        seccomp.install(proc.get("seccomp"))
    return path, env


def _check_command(proc: dict) -> None:
    """A command that is nowhere in the root fails the create already (as runc's does:
    callers such as podman map its "executable file not found" to 127); whether it may be
    executed is decided at the start, as the user who runs it."""
    name = proc["args"][0]
    if "/" in name and not name.startswith("/"):
        return  # relative to a working folder that may not exist yet
    try:
        find_executable(name, proc["env"], "/")
    except CommandNotExecutable:
        pass


def report(status_fd: int, err: BaseException) -> None:
    code = getattr(err, "exit_code", 125)
    if code not in (125, 126, 127):
        code = 125
    msg = str(err) if not isinstance(err, OSError) else (err.strerror or str(err))
    if isinstance(err, OSError) and err.filename:
        msg = f"{msg}: {err.filename}"
    elif isinstance(err, OSError) and err.args and isinstance(err.args[-1], str):
        msg = err.args[-1]
    try:
        os.write(status_fd, (json.dumps({"code": code, "error": msg}) + "\n").encode())
    except OSError:
        pass
    os._exit(code)


def reset_signals() -> None:
    """Default dispositions and an empty mask: ignored signals survive execve (the monitor
    and Python ignore SIGPIPE, SIGHUP, SIGXFSZ), and the command must not inherit that."""
    import signal
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def exec_process(path: str, args: list[str], env: list[str], status_fd: int,
                 preserve_fds: int = 0) -> None:
    reset_signals()
    close_fds_except({status_fd} | set(range(3, 3 + preserve_fds)))
    try:
        os.execve(path, args, dict(e.split("=", 1) if "=" in e else (e, "") for e in env))
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise CommandNotFound(f"exec: {args[0]}: {e.strerror}") from None
        raise CommandNotExecutable(f"exec: {args[0]}: {e.strerror}") from None


def container_init(spec: dict, status_fd: int, go_fd: int, console_sock: int | None,
                   stdio: tuple[int, int, int] | None, sync_fd: int | None = None,
                   start_fds: tuple[int, int] | None = None) -> None:
    """Body of process B. Never returns: execs the command or exits with 125/126/127.

    `sync_fd`: the creator's channel for the hooks of the runtime namespace: B says "hooks"
    once its mounts are made and waits for "resume <state JSON>", then runs createContainer.
    `start_fds`: (go, status) descriptors of two FIFOs that a later, unrelated process
    (`rocker-runtime start`) writes "go" to and reads the outcome from, instead of the
    creator's pipes (rocker.launcher.launch.start_detached)."""
    try:
        if stdio is not None:
            for i, fd in enumerate(stdio):
                if fd != i:
                    os.dup2(fd, i)
        own_mnt = spec.get("own_mount_ns", True)
        if own_mnt:
            rfs.setup(spec)
        rootfs = spec["rootfs"]
        state = "{}"
        if sync_fd is not None:
            os.write(status_fd, b"hooks\n")
            line = b""
            while not line.endswith(b"\n"):
                chunk = os.read(sync_fd, 65536)
                if not chunk:
                    os._exit(125)
                line += chunk
            if not line.startswith(b"resume "):
                os._exit(125)
            state = line[len(b"resume "):].decode().strip()
            os.close(sync_fd)
        run_hooks(spec.get("hooks", {}).get("createContainer") or [], state, "createContainer")
        slave = None
        if spec["process"].get("tty"):
            master, slave_path = open_pty_in(os.path.join(rootfs, "dev/pts"))
            sock = socket.socket(fileno=console_sock)
            socket.send_fds(sock, [b"pty"], [master])
            os.close(master)
            slave = os.open(slave_path, os.O_RDWR | os.O_CLOEXEC)
            rfs.bind_console(rootfs, slave_path)
        if own_mnt:
            rfs.make_readonly(spec)
            rfs.pivot(rootfs, spec.get("rootfs_propagation") or "")
        else:  # the mounts are another namespace's: change root, mount nothing
            os.chroot(rootfs)
            os.chdir("/")
        if spec["hostname"]:
            sc.sethostname(spec["hostname"])
        if spec["new_network"]:
            sc.link_up("lo")
        _check_command(spec["process"])
        os.write(status_fd, b"ready\n")  # created: the root is built, the command not run
        if start_fds is not None:  # a later `start` says go and reads the outcome
            os.close(status_fd)
            os.close(go_fd)
            go_fd, status_fd = start_fds
        # wait for the monitor: cgroup, network and everything on its side is ready
        if os.read(go_fd, 16).strip() != b"go":
            os._exit(125)
        os.close(go_fd)
        os.setsid()
        if slave is not None:
            fcntl.ioctl(slave, TIOCSCTTY, 0)
            for i in range(3):
                os.dup2(slave, i)
        run_hooks(spec.get("hooks", {}).get("startContainer") or [], state, "startContainer")
        path, env = prepare_process(spec["process"])
        exec_process(path, spec["process"]["args"], env, status_fd,
                     spec.get("preserve_fds", 0))
    except BaseException as e:  # noqa: BLE001 - everything is reported to the parent
        report(status_fd, e)
    os._exit(125)
