"""The verbs of rocker-runtime, each on rocker's one launcher (rocker.launcher).

create: claim ROOT/<id>, read the bundle's config.json, make the cgroup at the caller's
cgroupsPath with linux.resources, then rocker.launcher.launch.create() with the caller's
own stdio (or a pty whose master goes to --console-socket), the runtime hooks (prestart,
createRuntime) run when the init has its mounts, and the two start FIFOs; the pid file is
written before create returns. start: rocker.launcher.launch.start_detached() on the FIFOs,
then poststart. run: create and start in one process that waits (a child subreaper, so the
init is its child) and returns the command's exit code. exec: rocker.launcher.nsexec.join().
delete: kill what is left, remove the cgroup, poststop, the state folder.

Anything that fails half-way is undone: a failed create leaves no cgroup, process or folder.
"""

from __future__ import annotations

import json
import os
import signal
import time

from rocker.errors import ContainerStartError, InvalidInput, NotFound, RockerError
from rocker.launcher import ocispec
from rocker.launcher.hooks import run_hooks
from rocker.ociruntime import resources
from rocker.ociruntime.state import (CREATED, PAUSED, RUNNING, STOPPED, Store, alive,
                                     record_pid, signal_init, status)

OCI_VERSION = "1.0.2"


class Warnings:
    """Where the verbs send warnings (the CLI logs them)."""
    sink = None

    @classmethod
    def warn(cls, text: str) -> None:
        if cls.sink is not None:
            cls.sink(text)


# ---- reading a bundle -------------------------------------------------------------------

def load_bundle(bundle: str) -> tuple[dict, dict]:
    """(config.json, what the launcher runs) of a bundle; InvalidInput when unusable."""
    bundle = os.path.abspath(bundle)
    path = os.path.join(bundle, ocispec.CONFIG)
    try:
        cfg = ocispec.load(path)
    except FileNotFoundError:
        raise InvalidInput(f"no config.json in bundle {bundle}") from None
    except (OSError, ValueError) as e:
        raise InvalidInput(f"{path}: {e}") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("root"), dict) \
            or not isinstance(cfg.get("process"), dict):
        raise InvalidInput(f"{path}: root and process are required")
    root = cfg["root"].get("path") or "rootfs"
    root = os.path.realpath(os.path.join(bundle, root))
    if not os.path.isdir(root):
        raise InvalidInput(f"root.path {root} is not a directory")
    cfg["root"]["path"] = root
    cfg["annotations"] = dict(cfg.get("annotations") or {})
    cfg["_annotations"] = dict(cfg["annotations"])  # as the caller gave them (state shows)
    _cgroup_mount(cfg)
    _known_caps(cfg["process"])
    _no_mknod_without_device_cgroup(cfg["process"])
    try:
        spec = ocispec.to_launch(cfg)
    except ContainerStartError as e:
        raise InvalidInput(str(e)) from None
    if not spec["process"]["args"]:
        raise InvalidInput("config.json: process.args must not be empty")
    return cfg, spec


def _known_caps(proc: dict) -> None:
    """Capabilities this kernel does not know are left out with a warning, as runc does."""
    caps = proc.get("capabilities") or {}
    for key, names in list(caps.items()):
        if not isinstance(names, list):
            continue
        unknown = [n for n in names if n not in ocispec.CAPS]
        if unknown:
            Warnings.warn(f"ignoring unknown capabilities {', '.join(unknown)} ({key})")
            caps[key] = [n for n in names if n in ocispec.CAPS]


def _no_mknod_without_device_cgroup(proc: dict) -> None:
    """On cgroup v2 no device controller guards device nodes (its eBPF program is not loaded,
    as for rocker's own containers): CAP_MKNOD is dropped, with a warning."""
    from rocker.cgroups import detect
    if detect().version != 2:
        return
    caps = proc.get("capabilities") or {}
    if any("CAP_MKNOD" in (v or []) for v in caps.values() if isinstance(v, list)):
        Warnings.warn("cgroup v2: no device controller is loaded, CAP_MKNOD dropped")
        for key, names in list(caps.items()):
            if isinstance(names, list):
                caps[key] = [n for n in names if n != "CAP_MKNOD"]


def _cgroup_mount(cfg: dict) -> None:
    """A /sys/fs/cgroup mount of a foreign bundle: the hierarchies of this host."""
    from rocker.cgroups import detect
    for m in cfg.get("mounts") or []:
        if m.get("destination") == "/sys/fs/cgroup" and m.get("type") in ("cgroup", "cgroup2"):
            layout = detect()
            if layout.version == 2:
                m["type"] = "cgroup2"
            else:
                m["type"] = "cgroup"
                ann = cfg.setdefault("annotations", {})
                ann.setdefault(ocispec.CGROUP_V1, json.dumps(
                    {os.path.basename(k): v for k, v in layout.hierarchies().items()}))


def state_json(store: Store, cid: str, st: dict, mgr=None) -> dict:
    s = status(store, cid, st, mgr)
    return {"ociVersion": OCI_VERSION, "id": cid, "status": s,
            "pid": st["pid"] if s != STOPPED else 0, "bundle": st["bundle"],
            "rootfs": st.get("rootfs", ""), "created": st.get("created", ""),
            "owner": "", "annotations": st.get("annotations") or {}}


def _hook_state(cid: str, st: dict, status_: str) -> str:
    return json.dumps({"ociVersion": OCI_VERSION, "id": cid, "status": status_,
                       "pid": st.get("pid") or 0, "bundle": st["bundle"],
                       "annotations": st.get("annotations") or {}})


def _mgr(st: dict):
    return resources.manager(st["cgroup"][0], st["cgroup"][1])


def _write_pid_file(path: str | None, pid: int) -> None:
    if not path:
        return
    path = os.path.abspath(path)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)


def _send_console(sock_path: str, master: int) -> None:
    import socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(sock_path)
            socket.send_fds(s, [b"/dev/ptmx"], [master])
    except OSError as e:
        raise InvalidInput(f"console socket {sock_path}: {e.strerror or e}") from None
    finally:
        os.close(master)


# ---- create / start / run ---------------------------------------------------------------

def create(store: Store, cid: str, bundle: str, pid_file: str | None = None,
           console_socket: str | None = None, preserve_fds: int = 0,
           detached: bool = True):
    """Create the container; returns launch.Created (with detached=False: for `run`)."""
    from rocker.launcher import launch
    cfg, spec = load_bundle(bundle)
    if spec["process"]["tty"] and detached and not console_socket:
        raise InvalidInput("cannot allocate a tty without --console-socket for a detached "
                           "container")
    if console_socket and not spec["process"]["tty"]:
        raise InvalidInput("--console-socket needs process.terminal true in config.json")
    if preserve_fds < 0:
        raise InvalidInput("--preserve-fds must be a number >= 0")
    spec["preserve_fds"] = preserve_fds
    linux = cfg.get("linux") or {}
    if (cfg["process"].get("apparmorProfile")
            and not os.path.exists("/sys/kernel/security/apparmor")):
        raise InvalidInput(f"apparmor profile {cfg['process']['apparmorProfile']!r}: "
                           "AppArmor is not enabled on this host")
    if cfg["process"].get("selinuxLabel") or linux.get("mountLabel"):
        if not os.path.exists("/sys/fs/selinux/enforce"):
            raise InvalidInput("an SELinux label is set but SELinux is not enabled on this host")
    parent, name = resources.location(linux.get("cgroupsPath"), cid)
    store.claim(cid)
    hooks = cfg.get("hooks") or {}
    st = {"id": cid, "bundle": os.path.abspath(bundle), "rootfs": cfg["root"]["path"],
          "annotations": cfg.pop("_annotations"), "cgroup": [parent, name],
          "created": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
          "process": cfg["process"], "seccomp": linux.get("seccomp"),
          "hooks": {k: hooks.get(k) or [] for k in ("poststart", "poststop")},
          "started": False, "pid": 0}
    mgr = created = None
    fds: list[int] = []
    try:
        mgr = resources.manager(parent, name)
        if mgr.exists():
            mgr = None  # not ours: never touch a cgroup that was there before
            raise InvalidInput(f"cgroup {parent}/{name} exists already")
        # on record before anything exists: a create killed half-way is stopped, and
        # `delete --force` removes its cgroup and whatever runs in it
        store.save(cid, st)
        for w in mgr.create():
            Warnings.warn(w)
        for w in resources.apply(mgr, linux.get("resources")):
            Warnings.warn(w)
        resources.setup_devices(mgr, (linux.get("resources") or {}).get("devices"),
                                linux.get("devices"))
        start_fds = None
        if detached:
            for fifo in ("go.fifo", "status.fifo"):
                os.mkfifo(store.path(cid, fifo), 0o600)
                fds.append(os.open(store.path(cid, fifo), os.O_RDWR | os.O_CLOEXEC))
            start_fds = (fds[0], fds[1])
        runtime_hooks = [("prestart", hooks.get("prestart")),
                         ("createRuntime", hooks.get("createRuntime"))]
        need_sync = any(h for _s, h in runtime_hooks) or hooks.get("createContainer") \
            or hooks.get("startContainer")

        def on_runtime(pid: int) -> str:
            record_pid(st, pid)  # prestart sees "created" (runtime-tools checks it)
            for stage, items in runtime_hooks:
                run_hooks(ocispec.hooks_of(items),
                          _hook_state(cid, st, "creating" if stage == "createRuntime"
                                      else CREATED), stage)
            return _hook_state(cid, st, CREATED)

        stdio = None  # the caller's own stdio goes straight to the container
        if spec["process"]["tty"]:  # the pty is its stdio: keep nothing of the caller's
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            fds.append(null)
            stdio = (null, null, null)
        created = launch.create(spec, mgr.paths(), stdio,
                                on_runtime=on_runtime if need_sync else None,
                                start_fds=start_fds)
        record_pid(st, created.pid)
        if created.master_fd is not None and console_socket:
            master, created.master_fd = created.master_fd, None
            _send_console(console_socket, master)
        _write_pid_file(pid_file, created.pid)
        store.save(cid, st)
        if detached:
            created.detach()
        return created, st, mgr
    except BaseException:
        if created is not None:
            created.abort()
        if mgr is not None:
            try:
                mgr.destroy()
            except RockerError as e:
                Warnings.warn(str(e))
        store.remove(cid)
        raise
    finally:
        for fd in fds:
            os.close(fd)


def start(store: Store, cid: str) -> None:
    from rocker.launcher.launch import start_detached
    with store.locked(cid):
        st = store.load(cid)
        s = status(store, cid, st)
        if s != CREATED:
            raise InvalidInput(f"cannot start a container that is {s}" if s != STOPPED
                               else "cannot start a container that has stopped")
        go, stat_fifo = store.path(cid, "go.fifo"), store.path(cid, "status.fifo")
        try:
            start_detached(go, stat_fifo)
        finally:
            for f in (go, stat_fifo):
                try:
                    os.unlink(f)
                except FileNotFoundError:
                    pass
            st["started"] = True
            store.save(cid, st)
    _poststart(cid, st)


def _poststart(cid: str, st: dict) -> None:
    try:
        run_hooks(ocispec.hooks_of(st["hooks"].get("poststart")),
                  _hook_state(cid, st, RUNNING), "poststart")
    except RockerError as e:
        Warnings.warn(str(e))



def _forward_signals(pid: int, *more: int) -> None:
    """The signals a foreground runtime receives go on to process `pid` (runc's forwarding)."""
    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                signal.SIGUSR2, *more):
        signal.signal(sig, forward)


def run(store: Store, cid: str, bundle: str, pid_file: str | None = None,
        console_socket: str | None = None, preserve_fds: int = 0, detach: bool = False,
        keep: bool = False) -> int:
    """create + start; in the foreground: wait and return the command's exit code."""
    from rocker.launcher import syscalls as sc
    if detach:
        create(store, cid, bundle, pid_file, console_socket, preserve_fds)
        start(store, cid)
        return 0
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)  # the init is our child: we wait for it
    created, st, mgr = create(store, cid, bundle, pid_file, console_socket, preserve_fds,
                              detached=False)
    try:
        started = created.start()
    except BaseException:
        _cleanup(store, cid, st, mgr)
        raise
    st["started"] = True
    store.save(cid, st)
    _poststart(cid, st)
    pid = created.pid
    master = started.master_fd
    _forward_signals(pid, signal.SIGWINCH)
    if master is not None:  # a terminal and no console socket: ours is the console
        _relay(master)
    code = 255
    while True:
        try:
            got, status_ = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if got == pid:
            code = os.waitstatus_to_exitcode(status_)
            code = 128 - code if code < 0 else code
    if not keep:
        with store.locked(cid):
            _cleanup(store, cid, st, mgr)
    return code


# ---- state / kill / delete --------------------------------------------------------------

def state(store: Store, cid: str) -> dict:
    st = store.load(cid)
    return state_json(store, cid, st, _mgr(st))


SIGNALS = {s.name[3:]: s.value for s in signal.Signals if not s.name.startswith("SIG_")}


def parse_signal(text: str) -> int:
    t = str(text).upper()
    if t.isdigit():
        n = int(t)
        if 0 < n < signal.NSIG:
            return n
    t = t[3:] if t.startswith("SIG") else t
    if t in SIGNALS:
        return SIGNALS[t]
    raise InvalidInput(f"unknown signal {text!r}")


def kill(store: Store, cid: str, sig: int, all_: bool = False) -> None:
    st = store.load(cid)
    mgr = _mgr(st)
    if status(store, cid, st) == STOPPED:
        raise NotFound("container not running")
    if all_:
        mgr.kill(sig)
        return
    signal_init(st, sig)


def _wait_dead(st: dict, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while alive(st) and time.monotonic() < deadline:
        time.sleep(0.005)


def _cleanup(store: Store, cid: str, st: dict, mgr) -> None:
    if alive(st):
        try:
            mgr.kill(signal.SIGKILL)
        except RockerError:
            pass
        try:
            signal_init(st, signal.SIGKILL)
        except NotFound:
            pass
        _wait_dead(st)
    mgr.destroy()
    try:
        run_hooks(ocispec.hooks_of(st["hooks"].get("poststop")), _hook_state(cid, st, STOPPED),
                  "poststop")
    except RockerError as e:
        Warnings.warn(str(e))
    store.remove(cid)


def delete(store: Store, cid: str, force: bool = False) -> None:
    try:
        lock = store.locked(cid)
        with lock:
            st = store.load(cid)
            mgr = _mgr(st)
            s = status(store, cid, st, mgr)
            if s in (RUNNING, PAUSED) and not force:
                raise InvalidInput(f"cannot delete container {cid} that is not stopped: {s}")
            _cleanup(store, cid, st, mgr)
    except NotFound:
        if not force:
            raise
        if os.path.isdir(store.dir(cid)):
            store.remove(cid)


# ---- exec -------------------------------------------------------------------------------

def exec_(store: Store, cid: str, process: dict, detach: bool = False,
          pid_file: str | None = None, console_socket: str | None = None,
          preserve_fds: int = 0) -> int:
    from rocker.launcher import nsexec
    st = store.load(cid)
    mgr = _mgr(st)
    s = status(store, cid, st, mgr)
    if s not in (RUNNING, CREATED):
        raise InvalidInput(f"cannot exec in a {s} container" if s != STOPPED
                           else "container not running")
    if process.get("terminal") and not console_socket and detach:
        raise InvalidInput("cannot allocate a tty without --console-socket with --detach")
    try:
        proc = ocispec.process_of(process, {"seccomp": st.get("seccomp")})
    except (KeyError, TypeError, ValueError, ContainerStartError) as e:
        raise InvalidInput(f"process: {e}") from None
    if not proc["args"]:
        raise InvalidInput("process.args must not be empty")
    j = nsexec.join(st["pid"], proc, mgr.paths(), stdio=None, detach=detach,
                    die_with_parent=not detach, report_pid=True, preserve_fds=preserve_fds)
    if j.master_fd is not None and console_socket:
        master, j.master_fd = j.master_fd, None
        _send_console(console_socket, master)
    try:
        j.wait_started()
    except BaseException:
        try:
            os.waitpid(j.pid, 0)
        except ChildProcessError:
            pass
        raise
    if j.process_pid:
        _write_pid_file(pid_file, j.process_pid)
    if detach:
        os.waitpid(j.pid, 0)
        return 0
    target = j.process_pid or j.pid
    master, j.master_fd = j.master_fd, None
    _forward_signals(target)
    if master is not None:
        _relay(master)
    _, status_ = os.waitpid(j.pid, 0)
    code = os.waitstatus_to_exitcode(status_)
    return 128 - code if code < 0 else code


def _relay(master: int) -> None:
    """Our terminal <-> the container's pty (run or exec of a terminal process with no
    --console-socket, as `runc run -t`)."""
    from rocker.attach.relay import relay_pty
    relay_pty(master, os.isatty(0))


def exec_process(store: Store, cid: str, args: list[str], cwd: str | None, env: list[str],
                 user: str | None, tty: bool, caps: list[str], no_new_privs: bool | None,
                 additional_gids: list[int]) -> dict:
    """The process of `exec ARGS...`: the container's own process, changed by the flags."""
    st = store.load(cid)
    base = dict(st.get("process") or {})
    proc = {k: base[k] for k in ("env", "cwd", "user", "capabilities", "noNewPrivileges",
                                 "rlimits", "apparmorProfile") if k in base}
    proc["args"] = list(args)
    proc["terminal"] = tty
    if cwd:
        proc["cwd"] = cwd
    if env:
        names = {e.split("=", 1)[0] for e in env}
        proc["env"] = [e for e in proc.get("env") or [] if e.split("=", 1)[0] not in names] + env
    if user:
        uid, _, gid = user.partition(":")
        try:
            proc["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        except ValueError:
            raise InvalidInput(f"--user {user!r}: numeric UID[:GID] expected") from None
    if additional_gids:
        proc.setdefault("user", {"uid": 0, "gid": 0})["additionalGids"] = additional_gids
    if caps:
        c = dict(proc.get("capabilities") or {})
        for k in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            c[k] = sorted(set(c.get(k) or []) | set(caps))
        proc["capabilities"] = c
    if no_new_privs is not None:
        proc["noNewPrivileges"] = no_new_privs
    return proc


# ---- ps / pause / resume / update / list / events ---------------------------------------

def pids(store: Store, cid: str) -> list[int]:
    st = store.load(cid)
    return _mgr(st).procs()


def pause(store: Store, cid: str) -> None:
    with store.locked(cid):
        st = store.load(cid)
        mgr = _mgr(st)
        s = status(store, cid, st, mgr)
        if s not in (RUNNING, CREATED):
            raise InvalidInput(f"container not running: {s}" if s == STOPPED
                               else f"cannot pause a {s} container")
        mgr.freeze()


def resume(store: Store, cid: str) -> None:
    with store.locked(cid):
        st = store.load(cid)
        mgr = _mgr(st)
        s = status(store, cid, st, mgr)
        if s != PAUSED:
            raise InvalidInput("container not paused" if s != STOPPED
                               else "container not running")
        mgr.thaw()


def update(store: Store, cid: str, res: dict) -> None:
    with store.locked(cid):
        st = store.load(cid)
        mgr = _mgr(st)
        if status(store, cid, st, mgr) == STOPPED:
            raise InvalidInput("container not running")
        for w in resources.apply(mgr, res):
            Warnings.warn(w)


def listing(store: Store) -> list[dict]:
    out = []
    for cid in store.ids():
        try:
            out.append(state(store, cid))
        except (NotFound, RockerError):
            continue
    return out


def stats(store: Store, cid: str) -> dict:
    st = store.load(cid)
    mgr = _mgr(st)
    if status(store, cid, st, mgr) == STOPPED:
        raise InvalidInput("container not running")
    s = mgr.stats()
    return {"type": "stats", "id": cid, "data": {
        "cpu": {"usage": {"total": s.cpu_usage_ns}},
        "memory": {"usage": {"usage": s.memory_usage, "limit": s.memory_limit or 0}},
        "pids": {"current": s.pids_current, "limit": s.pids_limit or 0},
        "blkio": {"ioServiceBytesRecursive": [
            {"op": "Read", "value": s.io_read_bytes}, {"op": "Write", "value": s.io_write_bytes}]},
    }}
