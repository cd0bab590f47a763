"""Container verbs: create, start, stop, kill, remove, wait, pause; the driver `run` and `apply`
use.

Each verb is refresh -> guard -> act -> save: read the record, correct it with the live kernel
(rocker.containers.state.observed), refuse what the state does not allow, act, and write the
record through rocker.containers.records (atomic, locked). Processes are only ever signalled
after their (pid, start time) has been checked, through a pidfd where possible.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time

from rocker.containers import records
from rocker.containers import state as cstate
from rocker.containers.config import ContainerConfig, parse_signal, resolve_process
from rocker.errors import Conflict, ContainerStartError, HostError, InvalidInput, NotFound
from rocker.paths import Paths
from rocker.state.store import flocked, makedirs, write_json
from rocker import states
from rocker.states import LIVE, PAUSED, REMOVING, RUNNING, STOPPED, UP


def _now() -> float:
    return time.time()


def create(paths: Paths, cfg: ContainerConfig, name: str | None = None,
           stack: dict | None = None) -> dict:
    """Register a container (record, storage folders, name) without starting it."""
    from rocker.containers.config import NAME_RE
    from rocker.images.store import ImageStore
    from rocker.runtime.names import generate
    from rocker.util.faults import crash_point
    if name is not None and not NAME_RE.match(name):
        raise InvalidInput(f"invalid container name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    store = ImageStore(paths)
    img = store.resolve(cfg.image)
    _canonical_image_ref(cfg, img)
    _image_defaults(cfg, img.config)
    if cfg.networks:
        from rocker.runtime.networks import check_exists
        check_exists(paths, [a["name"] for a in cfg.networks])
    cid = os.urandom(32).hex()
    process = resolve_process(cfg, img.config, cid)
    if cfg.publish_all:  # -P: what the image exposes, published when it starts
        process["exposed"] = sorted(str(p) for p in img.config.get("ExposedPorts") or {})
    name = name or generate()
    makedirs(paths.containers)
    records.collect_garbage(paths)
    from rocker.containers.volumes import prepare
    # the volume lock is held from the volumes made to the record in place (no `volume rm`
    # can come between), and what it made is taken back if the create fails
    with prepare(paths, cfg, img.config) as mounts:
        cdir = paths.container_dir(cid)
        # built under a hidden name and renamed into place: a crash never leaves a folder that
        # looks like a container without a record
        staging = os.path.join(paths.containers, f".new-{cid}")
        os.mkdir(staging, 0o700)
        try:
            records.write_creator(staging)
            records.prepare_folder(staging)
            os.mkdir(os.path.join(staging, "upper"), 0o755)
            os.mkdir(os.path.join(staging, "work"), 0o700)
            rec = {
                "id": cid,
                "name": name,
                "image": cfg.image,
                "image_id": img.id,
                "created": _now(),
                "config": cfg.to_dict(),
                "process": process,
                "rootfs": {"lower": store.layer_dirs(img),
                           "upper": os.path.join(cdir, "upper"),
                           "work": os.path.join(cdir, "work")},
                "labels": dict(img.config.get("Labels") or {}) | cfg.labels,
                "image_labels": dict(img.config.get("Labels") or {}),
                "stack": stack,
                "mounts": mounts,
                "state": {"status": "created", "restart_count": 0},
            }
            write_json(os.path.join(staging, records.RECORD), rec)
            # the name first (it counts as taken while the staging folder exists), then the
            # folder: a crash in between leaves a name that frees itself once the staging
            # folder is gone
            records.claim_name(paths, name, cid)
            crash_point("create:claimed")
            try:
                os.rename(staging, cdir)
            except BaseException:
                records.release_name(paths, name, cid)
                raise
        except BaseException:
            from rocker.util.fstree import remove_tree
            try:
                remove_tree(staging)
            except OSError:
                pass  # garbage collection finishes it (its creator is gone)
            raise
    try:
        os.unlink(os.path.join(cdir, records.CREATOR))
    except OSError:
        pass
    return rec


def _image_defaults(cfg: ContainerConfig, image_config: dict) -> None:
    """The image config's StopSignal and Healthcheck, when the container sets neither (Docker's
    way; Entrypoint, Cmd, Env, WorkingDir, User come in through resolve_process, Labels and
    ExposedPorts below). A value the image has wrong is ignored, as Docker does."""
    from rocker.containers.config import parse_healthcheck
    sig = image_config.get("StopSignal")
    if cfg.stop_signal in (None, "SIGTERM") and isinstance(sig, str) and sig:
        try:
            parse_signal(sig)
            cfg.stop_signal = sig
        except InvalidInput:
            pass
    hc = image_config.get("Healthcheck")
    if cfg.healthcheck is None and isinstance(hc, dict) and isinstance(hc.get("Test"), list) \
            and hc["Test"] and hc["Test"][0] != "NONE":
        raw: dict = {"test": hc["Test"]}
        for key, name in (("interval", "Interval"), ("timeout", "Timeout"),
                          ("start_period", "StartPeriod")):
            ns = hc.get(name)
            if isinstance(ns, int) and ns > 0:
                raw[key] = f"{ns / 1e9}s"
        if isinstance(hc.get("Retries"), int) and hc["Retries"] > 0:
            raw["retries"] = hc["Retries"]
        try:
            cfg.healthcheck = parse_healthcheck(raw)
        except InvalidInput:
            pass


def _canonical_image_ref(cfg: ContainerConfig, img) -> None:
    """`busybox` is stored as `busybox:latest` (when that is how it resolved), so a container
    from `rocker run busybox` and one from a stack naming busybox:latest have the same config."""
    from rocker.images.refs import normalize_reference
    try:
        ref = normalize_reference(cfg.image)
    except InvalidInput:
        return
    if ref in img.refs:
        cfg.image = ref


def _network_peer(paths: Paths, rec: dict) -> tuple[str, int] | None:
    """(id, pid) of the running container `--network container:X` names (None otherwise)."""
    mode = rec["config"].get("network_mode") or "bridge"
    if not mode.startswith("container:"):
        return None
    ref = mode[len("container:"):]
    try:
        other = records.load(paths, records.resolve(paths, ref))
    except (NotFound, FileNotFoundError):
        raise ContainerStartError(f"cannot join the network of container {ref}: no such "
                                  "container") from None
    if other["id"] == rec["id"]:
        raise ContainerStartError("a container cannot join its own network namespace")
    st = other["state"]
    if not cstate.is_alive(st.get("pid"), st.get("pid_start"), st.get("boot_id")):
        raise ContainerStartError(f"cannot join the network of container {ref}: it is not "
                                  "running")
    return other["id"], st["pid"]


def _write_etc(paths: Paths, rec: dict, hostname: str) -> None:
    """The container's hostname, hosts and resolv.conf (rocker.network.setup rewrites the last
    two in place once the container has its addresses; --network host gets the host's)."""
    from rocker.network.etcfiles import etc_files
    rundir = makedirs(paths.container_rundir(rec["id"]), 0o711)
    with open(os.path.join(rundir, "hostname"), "w") as f:
        f.write(hostname + "\n")
    mode = rec["config"].get("network_mode") or "bridge"
    if mode == "host":
        hosts, resolv = _read_host_file("/etc/hosts"), _read_host_file("/etc/resolv.conf")
        for h in rec["config"].get("add_host") or []:
            name, _, ip = h.partition(":")
            hosts += f"{ip}\t{name}\n"
    else:
        hosts, resolv, _ = etc_files(rec, [], False)
    with open(os.path.join(rundir, "hosts"), "w") as f:
        f.write(hosts)
    with open(os.path.join(rundir, "resolv.conf"), "w") as f:
        f.write(resolv)
    os.makedirs(os.path.join(rundir, "rootfs"), exist_ok=True)


def _read_host_file(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return ""


def _fork_monitor(paths: Paths, cid: str, sync_fd: int, attach_fd: int) -> None:
    """Start the monitor as a daemon: fork, setsid, fork again (so init adopts it and no
    zombie is left with a long-running CLI), stdio on /dev/null, every other fd closed.

    Forking the already-loaded CLI is much faster than starting a new interpreter; once the
    container has run for a while, the monitor re-executes itself as a small process
    (rocker.monitor.main.slim) to give the memory back.
    """
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            devnull = os.open("/dev/null", os.O_RDWR)
            for i in range(3):
                os.dup2(devnull, i)
            from rocker.util.fds import close_fds_except
            close_fds_except(fd for fd in (sync_fd, attach_fd) if fd >= 0)
            from rocker.monitor.main import main
            main([cid, paths.root, paths.runroot, str(sync_fd), str(attach_fd)])
        finally:
            os._exit(1)
    os.waitpid(pid, 0)


def _await_finish(paths: Paths, cid: str, obs: dict, timeout: float = 10.0) -> dict:
    """The observed state once the exited container's monitor has ended (or `timeout`)."""
    deadline = time.monotonic() + timeout
    while obs.get("monitor_alive") and obs["status"] in STOPPED and not obs.get("restarting") \
            and time.monotonic() < deadline:
        time.sleep(0.01)
        obs = cstate.observed(records.load(paths, cid)["state"])
    return obs


def start(paths: Paths, cid: str, attach_sock=None) -> dict:
    """Start a created or exited container under a new monitor; returns the updated record.

    `attach_sock` (a connected socket) is handed to the monitor as an attached client from
    the very first byte of output. Raises ContainerStartError with Docker's codes.
    """
    makedirs(paths.run_containers)
    with flocked(os.path.join(paths.container_dir(cid), "start.lock"), timeout=60):
        rec = records.load(paths, cid)
        obs = cstate.observed(rec["state"])
        if obs["status"] in STOPPED and obs.get("monitor_alive") and not obs.get("restarting"):
            # a monitor still finishing (network, cgroup, mounts) owns the runtime files:
            # as `docker start` right after `docker run` does, wait for it rather than refuse
            obs = _await_finish(paths, cid, obs)
            rec = records.load(paths, cid)
        status = obs["status"]
        if status != REMOVING and obs.get("monitor_alive"):
            status = RUNNING
        states.guard("start", status, rec["name"])
        attach_fd = attach_sock.fileno() if attach_sock is not None else -1
        # the runtime files stay ours: whoever else removes them (_settle) takes this lock
        from rocker.runtime import bundle
        peer = _network_peer(paths, rec)
        # the OCI config the launcher runs
        bundle.write(paths, rec, _cgroup(cid).layout, peer)
        _write_etc(paths, rec, bundle.hostname_of(paths, rec, peer))
        sync_r, sync_w = os.pipe()
        try:
            _fork_monitor(paths, cid, sync_w, attach_fd)
        finally:
            os.close(sync_w)
        with os.fdopen(sync_r, "rb") as f:
            line = f.readline()
        msg = json.loads(line) if line else None
        if (msg is None or not msg.get("ok")) and _being_removed(paths, cid):
            from rocker.errors import ContainerGone
            raise ContainerGone(f"container {rec['name']} was removed while it was starting")
        if not line:
            # the monitor died before it could say anything
            err = ""
            try:
                with open(os.path.join(paths.container_dir(cid), "monitor.err")) as f:
                    err = f.read().strip().splitlines()[-1]
            except (OSError, IndexError):
                pass
            raise HostError(f"the monitor of {rec['name']} died while starting it"
                            + (f": {err}" if err else ""))
        if not msg.get("ok"):
            err = ContainerStartError(msg.get("error") or "failed to start")
            err.exit_code = int(msg.get("code", 125))
            raise err
        try:
            return records.load(paths, cid)
        except FileNotFoundError:
            # it started, and was quick: an --rm container already exited and removed by its
            # monitor (its exit code waits for the caller on the attach socket)
            return rec


def _being_removed(paths: Paths, cid: str) -> bool:
    """Gone, or marked `removing` by a removal running beside this command."""
    try:
        return records.load(paths, cid)["state"].get("status") == REMOVING
    except FileNotFoundError:
        return True
    except Exception:  # noqa: BLE001 - a broken record is reported by the caller's error
        return False


def _pidfd(pid: int | None, start_time: int | None):
    """A pidfd for the process, only if it is still the same process (pid + start time)."""
    if not pid or start_time is None:
        return None
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return None
    if cstate.start_time(pid) != start_time:
        os.close(fd)
        return None
    return fd


def _wait_fd(fd: int | None, timeout: float | None) -> bool:
    """Wait until the pidfd's process exits; True if it did within `timeout` (None: no limit;
    a timeout past poll's 24 days, from an old record, waits 24 days)."""
    if fd is None:
        return True
    p = select.poll()
    p.register(fd, select.POLLIN)
    if timeout is None:
        return bool(p.poll())
    return bool(p.poll(min(max(0, int(timeout * 1000)), 2 ** 31 - 1)))


def _signal_fd(fd: int, sig: int) -> None:
    try:
        signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        pass


def _cgroup(cid: str):
    from rocker.cgroups import manager_for
    return manager_for(cid)


def kill(paths: Paths, cid: str, sig: int | str = signal.SIGKILL) -> None:
    """Send a signal to every process of a running container (through its cgroup)."""
    thaw_stale_commit(paths, cid)
    signum = parse_signal(sig) if isinstance(sig, str) else int(sig)
    rec = records.load(paths, cid)
    obs = cstate.observed(rec["state"])
    states.guard("kill", obs["status"], rec["name"])
    if signum == signal.SIGKILL:
        # no restart policy may undo it; on a disk too full even for that, the kill goes on
        records.try_update_state(paths, cid, stop_requested=True)
    fd = _pidfd(obs.get("pid"), obs.get("pid_start"))
    if fd is None:
        raise Conflict(f"container {rec['name']} is not running")
    try:
        m = _cgroup(cid)
        if m.exists():
            m.kill(signum)
        else:
            _signal_fd(fd, signum)
    finally:
        os.close(fd)


def stop(paths: Paths, cid: str, timeout: float | None = None) -> dict | None:
    """Stop signal to init, wait `timeout` seconds (default: the container's stop timeout; a
    negative one: without a limit), then SIGKILL to every process; returns the final record
    (None when the container was an --rm one, removed by its monitor)."""
    thaw_stale_commit(paths, cid)
    rec = records.load(paths, cid)
    cfg = rec["config"]
    timeout = cfg.get("stop_timeout", 10) if timeout is None else timeout
    wait = None if timeout < 0 else timeout
    try:
        # no restart policy may undo it; on a disk too full even for that, the monitor
        # learns of the stop from our SIGTERM
        rec = records.try_update_state(paths, cid, stop_requested=True) or rec
    except FileNotFoundError:
        return None
    obs = cstate.observed(rec["state"])
    mon = _pidfd(obs.get("monitor_pid"), obs.get("monitor_start"))
    fd = _pidfd(obs.get("pid"), obs.get("pid_start")) if obs["status"] in UP else None
    killed = False
    try:
        if fd is not None:
            m = _cgroup(cid)
            if obs["status"] == PAUSED or (m.exists() and m.is_frozen()):
                m.thaw()
            if timeout != 0:
                _signal_fd(fd, parse_signal(cfg.get("stop_signal") or "SIGTERM"))
            if timeout == 0 or not _wait_fd(fd, wait):
                killed = True  # still alive: whatever ends it now is our SIGKILL
                if m.exists():
                    m.kill(signal.SIGKILL)
                _signal_fd(fd, signal.SIGKILL)
                _wait_fd(fd, 10)
        if mon is not None:
            # cancels a pending restart back-off; a container the monitor (re)started
            # meanwhile is stopped by the monitor itself (stop signal, timeout, kill)
            _signal_fd(mon, signal.SIGTERM)
            if not _wait_fd(mon, (cfg.get("stop_timeout", 10) if wait is None else wait) + 15):
                _signal_fd(mon, signal.SIGKILL)
                _wait_fd(mon, 5)
    finally:
        for f in (fd, mon):
            if f is not None:
                os.close(f)
    return _settle(paths, cid, killed)


def _settle(paths: Paths, cid: str, killed: bool = False) -> dict | None:
    """After the monitor is gone: make sure the record and the host say the same thing.

    `killed`: the caller SIGKILLed a container that was still alive, so 137 is certain;
    otherwise an exit nobody saw is recorded as unknown rather than guessed.

    Under the start lock: a `start` beside this (a restart racing a stop) writes the runtime
    files before its new monitor is on record, and they must not be taken from under it."""
    try:
        with flocked(os.path.join(paths.container_dir(cid), "start.lock"), timeout=60):
            return _settle_locked(paths, cid, killed)
    except FileNotFoundError:
        return None  # an --rm container, removed by its monitor


def _settle_locked(paths: Paths, cid: str, killed: bool) -> dict | None:
    try:
        rec = records.load(paths, cid)
    except FileNotFoundError:
        return None  # an --rm container, removed by its monitor
    obs = cstate.observed(rec["state"])
    if obs.get("monitor_alive"):
        return rec
    from rocker.containers.teardown import release_stopped, remove_container
    st = rec["state"]
    was_live = st.get("status") in LIVE or st.get("monitor_pid")
    if was_live and rec["config"].get("auto_remove"):
        remove_container(paths, cid)  # what its monitor would have done
        return None
    release_stopped(paths, cid)
    if was_live:
        changes = {"status": "exited", "monitor_pid": None, "restarting": False}
        if st.get("status") in UP and st.get("exit_code") is None:
            if killed:
                changes["exit_code"] = 128 + signal.SIGKILL
            else:
                changes["exit_code"] = None
                changes["error"] = "the monitor was gone: exit status unknown"
            changes["finished_at"] = _now()
        try:
            new = records.try_update_state(paths, cid, **changes)
        except FileNotFoundError:
            return None
        if new is None:
            rec["state"].update(changes)  # said now; written by the next command with space
        else:
            rec = new
    return rec


def remove(paths: Paths, cid: str, force: bool = False, volumes: bool = False) -> None:
    """Remove a container (`rm`); `volumes`: its anonymous volumes too (`rm -v`)."""
    from rocker.errors import CorruptRecord
    from rocker.containers.teardown import remove_container
    try:
        thaw_stale_commit(paths, cid)
        rec = records.load(paths, cid)
    except CorruptRecord:
        if not force:
            raise Conflict(f"the record of container {cid[:12]} is corrupt: use rm -f to "
                           "remove what is left of it") from None
        remove_container(paths, cid)
        return
    except FileNotFoundError:
        return  # gone meanwhile (--rm)
    obs = cstate.observed(rec["state"])
    if obs["status"] in LIVE or obs.get("monitor_alive"):
        if not force:
            states.guard("remove", obs["status"] if obs["status"] in LIVE else RUNNING,
                         rec["name"])
        if stop(paths, cid, timeout=0) is None:
            return  # an --rm container: its monitor removed it
    else:
        _settle(paths, cid)
    if not _mark_removing(paths, cid):
        return
    from rocker.util.faults import crash_point
    crash_point("remove:marked")
    remove_container(paths, cid, volumes=volumes or None)
    # and what crashed commands left beside it (a create killed half-way): at once when
    # their holder is gone, as the next create would
    records.collect_garbage(paths)


def _mark_removing(paths: Paths, cid: str) -> bool:
    """Mark the record `removing` (False: it is gone already). On a full disk, free space
    first: the log goes, as it would a moment later; if even then there is no room, the
    removal goes on unmarked (the mark only helps a crashed removal be finished)."""
    for attempt in (1, 2):
        try:
            if records.try_update_state(paths, cid, status=REMOVING, remover=records.holder()):
                return True
        except FileNotFoundError:
            return False
        if attempt == 1:
            from rocker.runtime.logs import log_path
            try:
                os.truncate(log_path(paths, cid), 0)
            except OSError:
                pass
    return True


def wait(paths: Paths, cid: str, timeout: float | None = None) -> int | None:
    """Block until the container has exited (and its monitor finished); return the exit code.

    While the monitor runs, the exit code comes from its EXIT frame on the attach socket, so
    it is known even for an --rm container whose record is gone right after.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            rec = records.load(paths, cid)
        except FileNotFoundError:
            return None  # removed (--rm) before we could learn the code
        obs = cstate.observed(rec["state"])
        if obs["status"] in STOPPED and not obs.get("monitor_alive"):
            return obs.get("exit_code")
        if obs.get("monitor_alive") and obs["status"] in UP:
            code = _wait_exit_frame(paths, cid, deadline)
            if code is not None:
                return code
        fd = _pidfd(obs.get("monitor_pid"), obs.get("monitor_start"))
        if fd is not None:
            try:
                _wait_fd(fd, 0.2)
            finally:
                os.close(fd)
        else:
            time.sleep(0.05)
        if deadline is not None and time.monotonic() > deadline:
            raise Conflict("timed out waiting for the container to exit")


def _wait_exit_frame(paths: Paths, cid: str, deadline: float | None) -> int | None:
    from rocker.attach import frames
    try:
        sock = frames.connect(os.path.join(paths.container_rundir(cid), "attach.sock"))
    except OSError:
        return None
    reader = frames.Reader()
    try:
        sock.sendall(frames.pack(frames.HELLO, b'{"stdin": false, "output": false}'))
        while True:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except (OSError, TimeoutError):
                return None
            if not data:
                return None
            for kind, payload in reader.feed(data):
                if kind == frames.EXIT:
                    return int(json.loads(payload).get("exit_code", 0))
    finally:
        sock.close()


def pause(paths: Paths, cid: str, frozen: bool) -> None:
    thaw_stale_commit(paths, cid)
    rec = records.load(paths, cid)
    obs = cstate.observed(rec["state"])
    states.guard("pause" if frozen else "unpause", obs["status"], rec["name"])
    m = _cgroup(cid)
    if frozen:
        m.freeze()
    else:
        m.thaw()
    records.update_state(paths, cid, status="paused" if frozen else "running")


# -- commit ------------------------------------------------------------------------------------

ETC_MOUNT_POINTS = frozenset({"etc/hostname", "etc/hosts", "etc/resolv.conf"})
"""The files rocker bind-mounts over: their empty mount points never go into a commit."""

COMMIT_FREEZE = "commit-freeze"
"""A file in the container's folder saying which process froze it for a commit (pid, start
time, boot id): written before the freeze, removed after the thaw, so that a commit killed
half-way is noticed and its freeze undone by the next command (`thaw_stale_commit`)."""


def _etc_mount_point(rel: str, st: os.stat_result) -> bool:
    import stat as st_mod
    return rel in ETC_MOUNT_POINTS and st_mod.S_ISREG(st.st_mode) and st.st_size == 0


def _commit_skip():
    """What commit leaves out; with ROCKER_TEST_COMMIT_HOOK_AT=REL and ROCKER_TEST_COMMIT_HOOK=CMD
    (test-only, docs/containers.md) CMD runs when the walk reaches REL, before REL is read: the
    worst moment for a container that swaps a folder for a symlink."""
    at = os.environ.get("ROCKER_TEST_COMMIT_HOOK_AT")
    hook = os.environ.get("ROCKER_TEST_COMMIT_HOOK")
    if not (at and hook):
        return _etc_mount_point

    def skip(rel: str, st: os.stat_result) -> bool:
        if rel == at:
            import subprocess
            subprocess.run(hook, shell=True, check=False)
        return _etc_mount_point(rel, st)
    return skip


def commit(paths: Paths, cid: str, ref: str | None, *, changes: list[str] | None = None,
           message: str | None = None, author: str | None = None, pause: bool = True):
    """A new image from the container's changes (Docker's `commit`). A running container is
    frozen while its upper layer is read (`pause`, Docker's default), so nothing it does can
    change the tree under the walk; the walk never follows a symlink either way."""
    from rocker.images.changes import parse_changes
    from rocker.images.store import ImageStore
    parse_changes(changes)   # a bad --change fails before anything is frozen
    thaw_stale_commit(paths, cid)
    rec = records.load(paths, cid)
    store = ImageStore(paths)
    frozen = False
    marker = os.path.join(paths.container_dir(cid), COMMIT_FREEZE)
    if pause and cstate.observed(rec["state"])["status"] == RUNNING:
        m = _cgroup(cid)
        if m.exists():
            me = os.getpid()
            write_json(marker, {"pid": me, "pid_start": cstate.start_time(me),
                                "boot_id": cstate.boot_id()})
            try:
                m.freeze()
            except BaseException:
                _thaw_commit(paths, cid, marker)
                raise
            frozen = True
    try:
        return store.commit(rec["rootfs"]["upper"], rec["image_id"], ref, changes=changes,
                            message=message, author=author, skip=_commit_skip())
    finally:
        if frozen:
            _thaw_commit(paths, cid, marker)


def _thaw_commit(paths: Paths, cid: str, marker: str) -> None:
    """Undo a commit's freeze, unless the user paused the container meanwhile."""
    try:
        status = records.load(paths, cid)["state"].get("status")
    except (FileNotFoundError, OSError, ValueError, KeyError, TypeError):
        status = None
    m = _cgroup(cid)
    if status != PAUSED and m.exists():
        m.thaw()
    try:
        os.unlink(marker)
    except FileNotFoundError:
        pass


def thaw_stale_commit(paths: Paths, cid: str) -> bool:
    """Thaw a container left frozen by a commit whose process is gone; True if it did."""
    marker = os.path.join(paths.container_dir(cid), COMMIT_FREEZE)
    try:
        with open(marker) as f:
            holder = json.load(f)
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        holder = {}
    if not isinstance(holder, dict):
        holder = {}
    if cstate.is_alive(holder.get("pid"), holder.get("pid_start"), holder.get("boot_id")):
        return False
    _thaw_commit(paths, cid, marker)
    return True


def update(paths: Paths, cid: str, limits: dict | None = None, restart: str | None = None,
           labels: dict | None = None, replace_limits: bool = False) -> tuple[dict, list[str]]:
    """Change limits, restart policy or labels in place; the process keeps running.

    `limits` holds only the fields to change (values as users type them), unless
    `replace_limits`, in which case it is the whole desired set (fields absent are reset to
    the kernel's default). Live limits are written to the cgroup first; the stored config
    follows only if that worked. Returns (record, warnings).
    """
    from rocker.cgroups import Limits, parse_limits
    from rocker.cgroups.limits import check_combination
    from rocker.containers.config import parse_restart
    rec = records.load(paths, cid)
    cfg = rec["config"]
    warnings: list[str] = []
    new_limits = None
    if limits is not None:
        given = parse_limits(**{k: v for k, v in limits.items() if v is not None}, partial=True)
        old = Limits.from_dict(cfg.get("limits") or {})
        new_limits = given if replace_limits else old.merge(given)
        check_combination(new_limits)
    new_restart = parse_restart(restart) if restart is not None else None
    if new_restart and new_restart != "no" and cfg.get("auto_remove"):
        raise InvalidInput("a container started with --rm cannot have a restart policy")
    obs = cstate.observed(rec["state"])
    if new_limits is not None and obs["status"] in UP:
        m = _cgroup(cid)
        if m.exists():
            # the whole merged set, with Docker's derived swap (memsw = 2 x memory when only
            # --memory is set); apply() is all or nothing
            warnings += (m.replace(new_limits.effective()) if replace_limits
                         else m.apply(new_limits.effective()))

    def fn(r):
        if new_limits is not None:
            r["config"]["limits"] = new_limits.to_dict()
        if new_restart is not None:
            r["config"]["restart"] = new_restart
        if labels is not None:
            r["labels"] = dict(r.get("image_labels") or {}) | dict(labels)
            r["config"]["labels"] = dict(labels)
    return records.update(paths, cid, fn), warnings
