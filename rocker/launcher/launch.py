"""Starting a container process: the parent/child protocol.

Three processes take part. The monitor (rocker.monitor) is the parent and a child subreaper;
A is a short-lived intermediate that enters the new namespaces; B is the container's init
(PID 1 in its PID namespace) which becomes the user's command.

    monitor                         A (intermediate)                B (container init)
    fork A ───────────────────────▶ join the container's cgroups,
    [meanwhile()]                   load the init's modules (ctypes
                                    too), set rlimits; wait for "cgroup"
    send "cgroup" ────────────────▶ setns() the namespaces given by path,
                                    unshare() the other listed ones
                                    fork B ───────────────────────▶ mounts, overlay, /proc, /dev,
                          ◀──────── "pid <B>" on the status pipe;    /sys, masks, pivot_root,
                                    exit (B is re-parented to the    [tty: pty master ──▶ monitor]
                                    monitor, the subreaper)
    reap A                                                           hostname, lo up
    read "ready" (or B's error) ◀─────────────────────────────────── "ready" on the status pipe
    create() returns                                                 wait for "go"
    (network set-up for B: veths into its namespace)
    Created.start(): send "go" ─────────────────────────────────────▶ user, caps, no_new_privs,
                                                                     close fds, execve(command)
    read the status pipe: EOF means the command started;  ◀──────── or one JSON line
                                                                     {"code": 127, "error": ...}

B waits (a byte from A on a pipe of their own) until A has written "pid <B>", so the monitor
always reads the pid before B's "ready". The status pipe is close-on-exec in B, so a successful
execve closes it. Nothing of the user's command runs before it is in its cgroup (A joined
them) and the monitor has said "go". Any message other than the one expected is an error
naming what was expected.

A joins the cgroups itself (join_cgroups): on cgroup v1 a single-threaded process moving its
own thread takes none of the kernel's global threadgroup lock, whose write side waits for an RCU
grace period (6-15 ms here, a tenth of `run --rm`; writing A's pid to cgroup.procs from the
monitor, as runc does, pays it every time). While A joins and loads its modules, the caller's
own last set-up (the monitor: the cgroup's limits, the subreaper flag) runs as `meanwhile`; A
goes on once both are done ("cgroup").

create() and Created.start() are the OCI runtime's two steps (a created container has its
namespaces, mounts and root, and no user process yet); launch() is both, for `rocker run`.
"""

from __future__ import annotations

import json
import os
import signal

from rocker.errors import ContainerStartError, HostError
from rocker.launcher import syscalls as sc

NS_FLAGS = {"user": sc.CLONE_NEWUSER, "mount": sc.CLONE_NEWNS, "uts": sc.CLONE_NEWUTS,
            "ipc": sc.CLONE_NEWIPC,
            "network": sc.CLONE_NEWNET, "pid": sc.CLONE_NEWPID, "cgroup": sc.CLONE_NEWCGROUP}
"""linux.namespaces types -> clone flags (rocker.launcher.ocispec checks the types)."""


def _read_line(fd: int) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        buf += chunk
    return buf


def _enter_user_namespace(namespaces: list[dict], status_w: int, cg_r: int) -> None:
    """In process A, first: join the user namespace given by path, or make a new one and have
    the creator write its uid/gid mappings (it asks for "userns", waits for "mapped"), so the
    namespaces made next belong to it. Then become its root."""
    for ns in namespaces:
        if ns["type"] != "user":
            continue
        if ns.get("path"):
            fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.setns(fd, sc.CLONE_NEWUSER)
            finally:
                os.close(fd)
        else:
            sc.unshare(sc.CLONE_NEWUSER)
            os.write(status_w, b"userns\n")
            if _read_line(cg_r).strip() != b"mapped":
                os._exit(125)
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)


def write_id_maps(pid: int, spec: dict) -> None:
    """The creator's side of a new user namespace: /proc/PID/uid_map and gid_map."""
    for name, maps in (("uid_map", spec.get("uid_mappings")),
                       ("gid_map", spec.get("gid_mappings"))):
        if not maps:
            raise ContainerStartError(f"config.json: a user namespace needs linux."
                                      f"{'uid' if name == 'uid_map' else 'gid'}Mappings")
        text = "".join(f"{c} {h} {n}\n" for c, h, n in maps)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            raise ContainerStartError(f"writing {name} {text.strip()!r}: "
                                      f"{e.strerror}") from None


def _enter_namespaces(namespaces: list[dict]) -> None:
    """In process A: join the namespaces given by path (`linux.namespaces[].path`), then
    unshare the others that are listed; a type not listed stays the caller's. The user
    namespace is entered before (_enter_user_namespace)."""
    namespaces = [ns for ns in namespaces if ns["type"] != "user"]
    for ns in namespaces:
        if ns.get("path"):
            try:
                fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise ContainerStartError(f"joining the {ns['type']} namespace at "
                                          f"{ns['path']}: {e.strerror}") from None
            try:
                sc.setns(fd, NS_FLAGS[ns["type"]])
            except OSError as e:
                raise ContainerStartError(f"joining the {ns['type']} namespace at "
                                          f"{ns['path']}: {e.strerror or e}") from None
            finally:
                os.close(fd)
    flags = 0
    for ns in namespaces:
        if not ns.get("path"):
            flags |= NS_FLAGS[ns["type"]]
    if flags:
        sc.unshare(flags)


class Started:
    def __init__(self, pid: int, master_fd: int | None) -> None:
        self.pid = pid
        self.master_fd = master_fd


class Created:
    """A container whose init exists, in its namespaces, cgroup and root (pivot_root done),
    waiting before the user's command: the OCI runtime's `created` state. `start()` lets it
    exec; `abort()` kills it. Exactly one of the two must be called."""

    def __init__(self, pid: int, master_fd: int | None, go_w: int, status_r: int) -> None:
        self.pid, self.master_fd = pid, master_fd
        self._go_w, self._status_r = go_w, status_r

    def start(self) -> Started:
        """Say "go" and return once the command has been exec'd; ContainerStartError (with the
        init's own code and message) when it could not be, the init killed then."""
        try:
            try:
                os.write(self._go_w, b"go\n")
            except BrokenPipeError:
                pass
            line = _read_line(self._status_r)
            if line:
                _raise_child_error(line, "the command to start")
            started, self.master_fd = Started(self.pid, self.master_fd), None  # handed on
            return started
        except BaseException:
            self.abort()
            raise
        finally:
            self._close()

    def detach(self) -> None:
        """Leave the created container waiting for a later, unrelated `start` (its FIFOs,
        rocker.launcher.launch.start_detached): close the creator's ends, kill nothing."""
        self._close()

    def abort(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self._close()

    def _close(self) -> None:
        """The creator's ends: the pty master (if not handed on), "go" and the status pipe."""
        if self.master_fd is not None:
            try:
                os.close(self.master_fd)
            except OSError:
                pass
            self.master_fd = None
        for fd in (self._go_w, self._status_r):
            try:
                os.close(fd)
            except OSError:
                pass


def join_cgroups(paths: list[str]) -> None:
    """Move the calling process, which must have a single thread (a fresh fork), into the
    cgroup directories `paths`, one per hierarchy: on v1 by writing 0 ("this thread") to each
    `tasks` file (see the module's text), on v2, which has no such file, to cgroup.procs."""
    for path in paths:
        try:
            try:
                fd = os.open(os.path.join(path, "tasks"), os.O_WRONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                fd = os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        except OSError as e:
            raise ContainerStartError(f"joining the cgroup {path}: {e.strerror}") from None


def create(spec: dict, cgroup_paths: list[str], stdio: tuple[int, int, int] | None,
           on_runtime=None, start_fds: tuple[int, int] | None = None,
           meanwhile=None) -> Created:
    """Create the container described by `spec` (rocker.launcher.ocispec.to_launch): its
    init enters the namespaces, builds the root and pivots, then waits for `start()`.

    `cgroup_paths`: the container's cgroup directories, which A joins before anything of the
    container exists. Raises ContainerStartError (125) with the child's own message.
    `on_runtime(pid)`, when given, runs once the init's mounts are made, before pivot_root
    (the OCI createRuntime and prestart hooks), and returns the state JSON the init hands
    to its createContainer and startContainer hooks. `start_fds`: see container_init.
    `meanwhile()`, when given, runs here while A joins the cgroups; an exception from it
    kills A and is raised."""
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
            # beside the caller's meanwhile(): the cgroups, the init's modules (ctypes too)
            # and the rlimits, inherited by the init. A failure is told once the caller is
            # ready to read it
            early = None
            try:
                join_cgroups(cgroup_paths)
                from rocker.launcher.init import set_limits
                set_limits(spec["process"])
            except Exception as e:  # noqa: BLE001 - reported below
                early = e
            if _read_line(cg_r).strip() != b"cgroup":
                os._exit(125)
            if early is not None:
                raise early
            _enter_user_namespace(spec["namespaces"], status_w, cg_r)
            if on_runtime is None:
                os.close(cg_r)
            _enter_namespaces(spec["namespaces"])
            # B says nothing on the status pipe before A has reported B's pid there (a
            # quick B would otherwise get its "ready" in first)
            sync_r, sync_w = os.pipe()
            b = os.fork()
            if b == 0:  # ---- process B
                os.close(sync_w)
                os.read(sync_r, 1)   # A's byte, or EOF when A is gone
                os.close(sync_r)
                from rocker.launcher.init import container_init
                container_init(spec, status_w, go_r,
                               console[1].detach() if console is not None else None, stdio,
                               cg_r if on_runtime is not None else None, start_fds)
                os._exit(125)
            os.close(sync_r)
            os.write(status_w, f"pid {b}\n".encode())
            os.write(sync_w, b"x")
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
    created = False
    try:
        try:
            if meanwhile is not None:
                meanwhile()
        except BaseException:
            os.kill(a, signal.SIGKILL)
            os.waitpid(a, 0)
            raise
        try:
            os.write(cg_w, b"cgroup\n")
        except BrokenPipeError:  # A died before it could read it (killed through the cgroup)
            _, status = os.waitpid(a, 0)
            line = _read_line(status_r)
            if line:
                _raise_child_error(line, "the intermediate process to report the init pid")
            raise ContainerStartError(
                "the container's intermediate process died before it started: "
                + (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                   else f"exit code {os.waitstatus_to_exitcode(status)}")) from None
        line = _read_line(status_r)
        if line == b"userns\n":
            try:
                write_id_maps(a, spec)
            except BaseException:
                os.kill(a, signal.SIGKILL)
                os.waitpid(a, 0)
                raise
            os.write(cg_w, b"mapped\n")
            line = _read_line(status_r)
        os.waitpid(a, 0)
        if not line.startswith(b"pid "):
            _raise_child_error(line, "the intermediate process to report the init pid")
        b_pid = int(line.split()[1])
        if on_runtime is not None:  # the init's mounts are made: the runtime's hooks
            line = _read_line(status_r)
            if line != b"hooks\n":
                _raise_child_error(line, "the init to be ready for hooks")
            state = on_runtime(b_pid)
            os.write(cg_w, b"resume " + (state or "{}").encode() + b"\n")
        master = None
        if console is not None:
            import socket
            msg, fds, _flags, _addr = socket.recv_fds(console[0], 16, 1)
            if not fds:
                _raise_child_error(_read_line(status_r), "the console from the init process")
            master = fds[0]
        line = _read_line(status_r)  # the init has built its root (or says why it could not)
        if line != b"ready\n":
            _raise_child_error(line, "the init to be ready")
        created = True
        return Created(b_pid, master, go_w, status_r)
    except BaseException:
        if b_pid:
            try:
                os.kill(b_pid, signal.SIGKILL)
                os.waitpid(b_pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        raise
    finally:
        os.close(cg_w)
        if not created:
            for fd in (status_r, go_w):
                os.close(fd)
        if console is not None:
            console[0].close()


def launch(spec: dict, cgroup_paths: list[str], stdio: tuple[int, int, int] | None,
           before_go=None, meanwhile=None) -> Started:
    """create() and start() in one: return once the command has been exec'd.
    `before_go(pid)` runs between them (the init exists, its command does not yet run);
    `meanwhile`: see create()."""
    created = create(spec, cgroup_paths, stdio, meanwhile=meanwhile)
    if before_go is not None:
        try:
            before_go(created.pid)
        except BaseException:
            created.abort()
            raise
    return created.start()


def start_detached(go_path: str, status_path: str) -> None:
    """`start` of a container created by another process (rocker-runtime create): say "go"
    on the init's FIFO and read the outcome on the other, as Created.start() does on its
    pipes. The init holds both FIFOs open, so a FIFO without a reader means it is gone."""
    import errno
    status = os.open(status_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        try:
            go = os.open(go_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            if e.errno == errno.ENXIO:
                raise ContainerStartError("container not running: its init is gone") from None
            raise
        try:
            os.write(go, b"go\n")
        finally:
            os.close(go)
        os.set_blocking(status, True)
        line = _read_line(status)
        if line:
            _raise_child_error(line, "the command to start")
    finally:
        os.close(status)


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
