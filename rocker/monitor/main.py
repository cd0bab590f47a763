"""The monitor: supervises one container from start to removal, outliving the CLI.

Started by `rocker run/start` as `python -S` in its own session (so it stays small and no
terminal signal reaches it). It creates the container's cgroup, starts the container
(rocker.launcher.launch), owns its stdio (pipes, or the pty master with -t), writes every output
line to the log with its stream and a timestamp, relays output to attached clients and their
input to the container, records the exit code, finish time and whether the OOM killer ended it,
runs healthchecks, applies the restart policy with a growing, capped back-off, and finally
cleans up (cgroup, runtime files; everything for --rm containers).

A full disk does not stop it: output it cannot log is counted (`log_dropped`), state it cannot
record stays pending and is retried, and the exit goes first to the monitor note, which is
overwritten in place and needs no new space (rocker.containers.records).

It tells the CLI the outcome of the first start on the sync pipe: one JSON line,
{"ok": true, "pid": N} or {"ok": false, "code": 125|126|127, "error": "..."}.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import sys
import time

from rocker.containers import records
from rocker.containers import state as cstate
from rocker.attach import frames
from rocker.attach.hub import Hub
from rocker.paths import Paths
from rocker.launcher import syscalls as sc
from rocker.util.timefmt import rfc3339

BACKOFF_START = 0.1
BACKOFF_MAX = 30.0
BACKOFF_RESET_AFTER = 10.0
SLIM_AFTER = 1.0
HELD_SIGNALS = {signal.SIGTERM, signal.SIGCHLD, signal.SIGINT, signal.SIGHUP}


def monitor_argv() -> list[str]:
    """A fresh, site-less interpreter that runs rocker.monitor.main.main(argv)."""
    import rocker
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(rocker.__file__)))
    boot = ("import sys; sys.path.insert(0, %r); from rocker.monitor.main import main; "
            "main(sys.argv[1:])" % pkg_parent)
    return [sys.executable, "-S", "-c", boot]


class Monitor:
    def __init__(self, paths: Paths, cid: str, sync_fd: int, attach_fd: int) -> None:
        self.paths = paths
        self.cid = cid
        self.sync_fd = sync_fd
        self.rec = records.load(paths, cid)
        self.cfg = self.rec["config"]
        self.rundir = paths.container_rundir(cid)
        self.sel = selectors.DefaultSelector()
        self.hub = Hub(self.sel)
        self.hub.on_output = self._write_log
        self.hub.on_signal = self._signal_container
        self.hub.on_resize = self._resize
        self.pid: int | None = None
        self.line_buf: dict[str, bytes] = {}
        self.master: int | None = None
        self.stop_deadline: float | None = None
        cdir = paths.container_dir(cid)
        self.log = open(os.path.join(cdir, "container.log"), "ab", buffering=0)
        self.log_size = os.fstat(self.log.fileno()).st_size
        # a full disk: lines not logged, state not yet recorded (see records: the note)
        self.dropped = self.rec["state"].get("log_dropped") or 0
        self.noted_dropped = self.dropped
        self.pending: dict = {}
        self.next_retry = 0.0
        self.exit_note: dict | None = None
        self.pid_start: int | None = None
        try:
            self.note_fd: int | None = os.open(os.path.join(cdir, records.NOTE),
                                               os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            self.note_fd = None  # a container from before notes existed
        self.stopping = False
        self.cg = None
        self.oom_base = 0
        self.health: dict | None = None
        self.health_next = 0.0
        self.health_proc: tuple[int, float] | None = None
        self.slimmed = False
        self.mono_started = time.monotonic()
        self.started_at = time.time()
        self.restarts = 0
        self.backoff = BACKOFF_START
        self.unhealthy_restart = False
        self.health_timed_out = False
        self.net = None  # rocker.network.setup.Connection while the container runs
        self.resolver = None  # rocker.network.resolver.Resolver on user networks
        if attach_fd >= 0:
            self.hub.add_client(socket.socket(fileno=attach_fd),
                                stdin=bool(self.cfg.get("interactive")), output=True,
                                initial=True)

    # ---- clients -----------------------------------------------------------------------
    def _signal_container(self, signum: int) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def _resize(self, rows: int, cols: int) -> None:
        if self.master is None:
            return
        import fcntl
        import struct
        import termios
        try:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        except OSError:
            pass

    # ---- output ------------------------------------------------------------------------
    def _write_log(self, stream: str, data: bytes | None) -> None:
        """One JSON line per output line; `data` None flushes the stream's last partial line."""
        final = data is None
        buf = self.line_buf.get(stream, b"") + (data or b"")
        lines = buf.split(b"\n")
        rest = lines.pop()
        now = rfc3339(time.time())
        out = []
        for line in lines:
            out.append(json.dumps({"log": line.decode("utf-8", "replace") + "\n",
                                   "stream": stream, "time": now}))
        if final and rest:
            out.append(json.dumps({"log": rest.decode("utf-8", "replace"), "stream": stream,
                                   "time": now}))
            rest = b""
        elif len(rest) > 16384:  # a very long line without newline: flush it as a partial
            out.append(json.dumps({"log": rest.decode("utf-8", "replace"), "stream": stream,
                                   "time": now, "partial": True}))
            rest = b""
        self.line_buf[stream] = rest
        if out:
            self._append_log(("\n".join(out) + "\n").encode(), len(out))

    def _append_log(self, data: bytes, lines: int) -> None:
        """Append to the log, or count the lines as dropped (a full disk, an I/O error): the
        monitor must outlive its log. A write cut short is taken back, so the log holds
        whole lines only."""
        try:
            done = 0
            while done < len(data):
                done += self.log.write(data[done:])
            self.log_size += done
        except OSError:
            try:
                os.ftruncate(self.log.fileno(), self.log_size)
            except OSError:
                pass
            self.dropped += lines

    # ---- state that a full disk must not lose ------------------------------------------
    def _state(self, **changes) -> dict | None:
        """records.update_state that survives a full disk: what cannot be written now stays
        pending and goes with the next write (retried every second and at the end)."""
        changes = {**self.pending, **changes}
        if self.dropped:
            changes["log_dropped"] = self.dropped
        rec = records.try_update_state(self.paths, self.cid, **changes)
        if rec is None:
            self.pending = changes
            self._write_note()
            return None
        self.pending = {}
        return rec

    def _write_note(self) -> None:
        """Overwrite the monitor note in place (no new space needed): drops and the last exit."""
        block = records.encode_note({"log_dropped": self.dropped, "exit": self.exit_note})
        if self.note_fd is None or block is None:
            return
        try:
            os.pwrite(self.note_fd, block, 0)
            self.noted_dropped = self.dropped
        except OSError:
            pass

    def _disk_tick(self) -> None:
        now = time.monotonic()
        if now < self.next_retry or not (self.pending or self.dropped != self.noted_dropped):
            return
        self.next_retry = now + 1.0
        if self.dropped != self.noted_dropped:
            self._write_note()
        if self.pending:
            self._state()

    # ---- lifecycle ---------------------------------------------------------------------
    def _spec(self) -> dict:
        """The container's OCI config (written by start), as the launcher runs it."""
        from rocker.launcher import ocispec
        return ocispec.to_launch(ocispec.load(os.path.join(self.paths.container_dir(self.cid),
                                                           ocispec.CONFIG)))

    def _cap_mask(self) -> int:
        from rocker.launcher.ocispec import default_cap_mask
        return default_cap_mask(self.cg.layout.version)

    def _start_once(self, first: bool):
        from rocker.launcher.launch import launch
        spec = self._spec()
        stdio = None
        child_fds: list[int] = []
        parent_fds: dict[int, str] = {}
        in_w = None
        if not spec["process"].get("tty"):
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            if self.cfg.get("interactive"):
                in_r, in_w = os.pipe()
            else:
                in_r = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            stdio = (in_r, out_w, err_w)
            child_fds = [in_r, out_w, err_w]
            parent_fds = {out_r: "stdout", err_r: "stderr"}
        bridged = (self.cfg.get("network_mode") or "bridge") == "bridge"
        try:
            started = launch(spec, self.cg.paths(), stdio,
                             before_go=self._connect if bridged else None,
                             meanwhile=self._before_first_start if first else None)
        except BaseException:
            for fd in list(parent_fds) + ([in_w] if in_w is not None else []):
                os.close(fd)
            raise
        finally:
            for fd in child_fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if started.master_fd is not None:
            self.master = started.master_fd
            self.hub.set_output({self.master: "stdout"})
            self.hub.set_stdin(self.master, is_master=True)
        else:
            self.hub.set_output(parent_fds)
            self.hub.set_stdin(in_w)
        self.pid = started.pid
        return started.pid

    def _alive(self, cid: str) -> bool:
        return cid == self.cid and self.pid is not None or cstate.container_running(self.paths,
                                                                                    cid)

    def _connect(self, pid: int) -> None:
        """The container's network, made between create and start (rocker.network.setup)."""
        from rocker.network import setup
        self.net = setup.connect(self.paths, self.rec, pid, self._alive)
        if self.net.dns is not None:
            self._watch_resolver(self.net.dns, self.net.upstreams)

    def _watch_resolver(self, sock, upstreams) -> None:
        from rocker.network.resolver import Resolver
        from rocker.network.store import folder
        self.resolver = Resolver(os.path.join(folder(self.paths), "state.json"), self.cid, sock,
                                 upstreams)
        self.sel.register(sock, selectors.EVENT_READ, ("dns", sock))

    def _disconnect(self) -> None:
        if self.resolver is not None:
            for sock in self.resolver.sockets():
                try:
                    self.sel.unregister(sock)
                except (KeyError, ValueError):
                    pass
            self.resolver.close()
            self.resolver = None
        if self.net is None and (self.cfg.get("network_mode") or "bridge") != "bridge":
            return
        from rocker.network import setup
        conn, self.net = self.net, None
        try:
            setup.disconnect(self.paths, self.cid, conn, self._alive)
        except Exception:  # noqa: BLE001 - the next network operation or rm -f finishes it
            pass

    def start(self, first: bool) -> bool:
        from rocker.util.trace import mark
        mark("monitor: cgroup ready")
        self.oom_base = self.cg.oom_kill_count()
        try:
            pid = self._start_once(first)
        except Exception as e:  # noqa: BLE001
            code = getattr(e, "exit_code", 125)
            msg = str(e)
            now = time.time()
            self._state(status="exited", exit_code=code, error=msg, finished_at=now, pid=None,
                        restarting=False)
            if first:
                self._sync({"ok": False, "code": code, "error": msg})
            return False
        now = time.time()
        self.started_at = now
        self.mono_started = time.monotonic()
        self.pid_start = cstate.start_time(pid)
        health = ({"status": "starting", "failing_streak": 0, "log": []}
                  if self.cfg.get("healthcheck") else None)
        rs = self._state(
            status="running", pid=pid, pid_start=self.pid_start,
            boot_id=cstate.boot_id(), started_at=now, exit_code=None, oom_killed=False,
            error=None, restarting=False, finished_at=None, health=health)
        self.rec = rs or self.rec
        hc = self.cfg.get("healthcheck")
        if hc:
            self.health = health
            self.health_next = time.monotonic() + hc["interval"]
        if first:
            self._sync({"ok": True, "pid": pid})
            mark("monitor: started")
        return True

    def _sync(self, msg: dict) -> None:
        if self.sync_fd >= 0:
            try:
                os.write(self.sync_fd, (json.dumps(msg) + "\n").encode())
                os.close(self.sync_fd)
            except OSError:
                pass
            self.sync_fd = -1

    def wait_exit(self) -> int:
        """Serve I/O until the container's init exits; returns its wait status."""
        status = self._reap()
        while status is None:
            events = self.sel.select(self._timeout())
            for key, mask in events:
                kind = key.data[0]
                if kind in ("io", "client"):
                    self.hub.handle(key.data, mask)
                elif kind == "listen":
                    try:
                        conn, _ = key.data[1].accept()
                        self.hub.add_client(conn, stdin=False, output=False)
                    except OSError:
                        pass
                elif kind == "wake":
                    try:
                        os.read(key.data[1], 512)
                    except OSError:
                        pass
                elif kind == "dns" and self.resolver is not None:
                    out = self.resolver.handle_query()
                    if out is not None:
                        self.sel.register(out, selectors.EVENT_READ, ("dns-up", out))
                elif kind == "dns-up" and self.resolver is not None:
                    self.resolver.handle_answer()
            status = self._reap()
            if status is None:
                self._stop_tick()
                self._health_tick()
                self._disk_tick()
                self._maybe_slim()
        self.hub.drain_output()
        self.hub.close_all_output()
        self.master = None
        return status

    def _timeout(self) -> float | None:
        now = time.monotonic()
        deadlines = []
        if self.health_next:
            deadlines.append(self.health_next)
        if self.health_proc is not None:
            deadlines.append(self.health_proc[1] + self.cfg["healthcheck"]["timeout"])
        if not self.slimmed:
            deadlines.append(self.mono_started + SLIM_AFTER)
        if self.stopping:
            deadlines.append(self.stop_deadline if self.stop_deadline is not None else now)
        if self.pending or self.dropped != self.noted_dropped:
            deadlines.append(self.next_retry)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - now)

    def _stop_tick(self) -> None:
        """A SIGTERM to the monitor means: stop the container (stop signal, timeout, kill)."""
        if not self.stopping or self.pid is None:
            return
        now = time.monotonic()
        if self.stop_deadline is None:
            from rocker.containers.config import parse_signal
            self._signal_container(parse_signal(self.cfg.get("stop_signal") or "SIGTERM"))
            self.stop_deadline = now + float(self.cfg.get("stop_timeout", 10))
        elif now >= self.stop_deadline:
            self.cg.kill(signal.SIGKILL)
            self.stop_deadline = now + 3600

    def _reap(self) -> int | None:
        """Collect exited children; the container init's wait status, if it exited."""
        status = None
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == self.pid:
                status = st
            elif self.health_proc and pid == self.health_proc[0]:
                self._health_result(st)
        return status

    # ---- healthchecks ------------------------------------------------------------------
    def _health_tick(self) -> None:
        hc = self.cfg.get("healthcheck")
        if not hc or not self.pid:
            return
        now = time.monotonic()
        if self.health_proc:
            hpid, started = self.health_proc
            if now - started >= hc["timeout"] and not self.health_timed_out:
                self.health_timed_out = True
                try:
                    os.kill(hpid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return
        if now < self.health_next:
            return
        from rocker.launcher.nsexec import spawn_in_container
        try:
            proc = self.rec["process"]
            hpid = spawn_in_container(self.pid, {"args": hc["test"], "env": proc["env"],
                                                 "cwd": proc["cwd"], "user": proc["user"],
                                                 "cap_mask": self._cap_mask()},
                                      self.cg.paths())
            self.health_proc = (hpid, now)
        except Exception:  # noqa: BLE001
            self._health_record(1, "cannot run healthcheck")
        self.health_next = now + hc["interval"]

    def _health_result(self, st: int) -> None:
        code = os.waitstatus_to_exitcode(st)
        self.health_proc = None
        if self.health_timed_out:
            self.health_timed_out = False
            timeout = self.cfg["healthcheck"]["timeout"]
            self._health_record(1, f"Health check exceeded timeout ({timeout:g}s)")
        else:
            self._health_record(0 if code == 0 else 1, f"exit code {code}")

    def _health_record(self, code: int, output: str) -> None:
        hc = self.cfg["healthcheck"]
        h = self.health or {"status": "starting", "failing_streak": 0, "log": []}
        if code == 0:
            h["status"] = "healthy"
            h["failing_streak"] = 0
        else:
            h["failing_streak"] = h.get("failing_streak", 0) + 1
            in_grace = time.time() - self.started_at < hc.get("start_period", 0)
            if h["failing_streak"] >= hc["retries"] and not in_grace:
                h["status"] = "unhealthy"
        h["log"] = (h.get("log") or [])[-4:] + [{"end": time.time(), "exit_code": code,
                                                  "output": output}]
        self.health = h
        self._state(health=h)
        if h["status"] == "unhealthy" and self.cfg.get("restart_on_unhealthy") and self.pid:
            self.unhealthy_restart = True
            self.cg.kill(signal.SIGKILL)

    # ---- the whole life ----------------------------------------------------------------
    def should_restart(self, code: int, restarts: int) -> bool:
        rec = records.load(self.paths, self.cid)
        if rec["state"].get("stop_requested") or self.stopping:
            return False
        if self.unhealthy_restart:
            self.unhealthy_restart = False
            return True
        # `rocker update --restart` or `network connect/disconnect` may have changed it
        self.rec, self.cfg = rec, rec["config"]
        policy, _, count = (self.cfg.get("restart") or "no").partition(":")
        if policy in ("always", "unless-stopped"):
            return True
        if policy == "on-failure" and code != 0:
            return not count or restarts < int(count)
        return False

    def _setup_process(self, resume: dict | None) -> None:
        """Signals, the wake-up pipe and the attach listener (inherited when resuming). The
        subreaper flag is set by the first start (_before_first_start) and kept by execve."""
        r, w = os.pipe()
        os.set_blocking(w, False)
        os.set_blocking(r, False)
        signal.set_wakeup_fd(w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.sel.register(r, selectors.EVENT_READ, ("wake", r))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)  # held across a slim execve
        if resume is not None:
            listener = socket.socket(fileno=resume["listen"])
        else:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            dfd = os.open(self.rundir, os.O_PATH | os.O_CLOEXEC)
            try:
                os.unlink(os.path.join(self.rundir, "attach.sock"))
            except FileNotFoundError:
                pass
            listener.bind(f"/proc/self/fd/{dfd}/attach.sock")
            os.close(dfd)
            listener.listen(8)
        os.set_inheritable(listener.fileno(), False)
        self.listener = listener
        self.sel.register(listener, selectors.EVENT_READ, ("listen", listener))

    def _before_first_start(self) -> None:
        """The rest of the set-up, made while the container's first process joins its cgroup
        and loads its modules (rocker.launcher.launch): the subreaper flag (ctypes loaded now),
        the cgroup's device rules and limits. The process goes on once this is done. A is
        already in the cgroup, its memory charged to it (about 3 MB, under Docker's 6 MB
        minimum): a v1 limit below that is refused with EBUSY, one line."""
        from rocker.cgroups import Limits
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        self.cg.setup_devices()
        self.cg.apply(Limits.from_dict(self.cfg.get("limits") or {}).effective())

    def run(self, resume: dict | None = None) -> int:
        from rocker.cgroups import manager_for
        self._setup_process(resume)
        self.cg = manager_for(self.cid)
        exit_info = {"exit_code": 125, "oom_killed": False}
        if resume is None:
            self._state(monitor_pid=os.getpid(), monitor_start=cstate.start_time(os.getpid()),
                        boot_id=cstate.boot_id(), stop_requested=False)
            self.restarts = self.rec["state"].get("restart_count", 0)
            self.backoff = BACKOFF_START
            try:
                self.cg.create()  # its devices and limits: _before_first_start
            except Exception as e:  # noqa: BLE001
                msg = str(e)
                self._state(status="exited", exit_code=125, error=msg, finished_at=time.time(),
                            pid=None)
                self._sync({"ok": False, "code": getattr(e, "exit_code", 125), "error": msg})
                self.finish(exit_info)
                return 125
        else:
            self._restore(resume)
        first = resume is None
        running = resume is not None
        while True:
            ok = True if running else self.start(first)
            running = False
            if not ok:
                st = records.load(self.paths, self.cid)["state"]
                exit_info = {"exit_code": st.get("exit_code", 125), "oom_killed": False,
                             "error": st.get("error")}
                if first:
                    break
                code = exit_info["exit_code"]
                will_restart = self.should_restart(code, self.restarts)
            else:
                status = self.wait_exit()
                from rocker.util.trace import mark
                mark("monitor: container exited")
                code = os.waitstatus_to_exitcode(status)
                if code < 0:
                    code = 128 - code
                oom = self.cg.oom_kill_count() > self.oom_base and code == 137
                now = time.time()
                exit_info = {"exit_code": code, "oom_killed": oom}
                if now - self.started_at > BACKOFF_RESET_AFTER:
                    self.backoff = BACKOFF_START
                will_restart = self.should_restart(code, self.restarts)
                # first where a full disk cannot stop it, then in the record
                self.exit_note = {"pid": self.pid, "pid_start": self.pid_start,
                                  "exit_code": code, "oom_killed": oom, "finished_at": now}
                self._write_note()
                self._state(status="exited", exit_code=code, oom_killed=oom, finished_at=now,
                            restarting=will_restart, restart_count=self.restarts)
                if not self.cfg.get("auto_remove"):
                    # --rm: the exit code goes out once the container is removed (finish), so
                    # that, as with Docker, it is gone when `run --rm` returns
                    self.hub.broadcast(frames.EXIT, json.dumps(exit_info).encode())
                    self.hub.flush_and_close()
                self.pid = None
                self.stop_deadline = None
                self._disconnect()
                # the PID namespace died with its init, so its processes are gone; a process
                # that escaped it into the cgroup (exec'd helpers) is not
                if self.cg.procs():
                    self.cg.kill(signal.SIGKILL)
            first = False
            if not will_restart:
                break
            self.restarts += 1
            self._state(status="running", restarting=True, restart_count=self.restarts,
                        pid=None)
            if not self._sleep(self.backoff) or self._stop_wanted():
                self._state(status="exited", restarting=False)
                break
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        self.finish(exit_info)
        return 0

    # ---- slimming: give the forked CLI's memory back -----------------------------------
    def _maybe_slim(self) -> None:
        """Once the container has run a while, re-execute as a fresh, small interpreter.

        The monitor starts as a fork of the CLI (fast, but it carries click and everything
        the CLI loaded). execve keeps the pid, the children and the inherited descriptors, so
        the container never notices; the state goes along as JSON. Signals that arrive while
        the new interpreter starts stay blocked and pending, and are handled once it has
        installed its handlers.
        """
        hub = self.hub
        if (self.slimmed or self.pid is None or self.health_proc is not None or self.stopping
                or time.monotonic() - self.mono_started < SLIM_AFTER or hub.stdin_buf
                or any(c.reader.buf or c.outq for c in hub.clients.values())):
            return
        signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
        if self.stopping:  # a SIGTERM handled just now: stay, and stop the container
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)
            return
        self.slimmed = True
        now = time.monotonic()
        state = {
            "cid": self.cid, "root": self.paths.root, "runroot": self.paths.runroot,
            "pid": self.pid, "started_at": self.started_at, "run_for": now - self.mono_started,
            "oom_base": self.oom_base, "restarts": self.restarts, "backoff": self.backoff,
            "health": self.health,
            "health_in": (self.health_next - now) if self.health_next else None,
            "out_fds": {str(fd): st for fd, st in hub.out_fds.items()},
            "master": self.master, "stdin": hub.stdin_fd, "stdin_eof": hub.stdin_eof,
            "listen": self.listener.fileno(),
            "clients": [[fd, c.stdin, c.output, c.initial] for fd, c in hub.clients.items()],
            "line_buf": {k: v.hex() for k, v in self.line_buf.items()},
            "pid_start": self.pid_start, "dropped": self.dropped, "pending": self.pending,
            "net": None if self.net is None else {
                "reservations": [r.fileno() for r in self.net.reservations],
                "dns": self.net.dns.fileno() if self.net.dns is not None else None,
                "upstreams": self.net.upstreams, "ports": self.net.ports},
        }
        keep = [int(fd) for fd in state["out_fds"]] + [state["listen"]] + \
            [c[0] for c in state["clients"]] + ([hub.stdin_fd] if hub.stdin_fd is not None else [])
        if self.net is not None:
            keep += self.net.fds()
        for fd in keep:
            os.set_inheritable(fd, True)
        self.log.flush()
        try:
            os.execv(sys.executable, monitor_argv() + ["--resume", json.dumps(state)])
        except OSError:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)
            for fd in keep:
                os.set_inheritable(fd, False)

    def _restore(self, st: dict) -> None:
        self.pid = st["pid"]
        self.started_at = st["started_at"]
        self.mono_started = time.monotonic() - st["run_for"]
        self.oom_base = st["oom_base"]
        self.restarts = st["restarts"]
        self.backoff = st["backoff"]
        self.health = st["health"]
        if st["health_in"] is not None:
            self.health_next = time.monotonic() + st["health_in"]
        self.master = st["master"]
        self.line_buf = {k: bytes.fromhex(v) for k, v in st["line_buf"].items()}
        self.pid_start = st.get("pid_start")
        self.dropped = max(self.dropped, st.get("dropped") or 0)
        self.pending = st.get("pending") or {}
        out = {int(fd): stream for fd, stream in st["out_fds"].items()}
        for fd in out:
            os.set_inheritable(fd, False)
        self.hub.set_output(out)
        if st["stdin"] is not None:
            os.set_inheritable(st["stdin"], False)
        self.hub.set_stdin(st["stdin"], is_master=st["stdin"] is not None
                           and st["stdin"] == self.master)
        self.hub.stdin_eof = st["stdin_eof"]
        for fd, stdin, output, initial in st["clients"]:
            os.set_inheritable(fd, False)
            self.hub.add_client(socket.socket(fileno=fd), stdin=stdin, output=output,
                                initial=initial)
        net = st.get("net")
        if net is not None:
            from rocker.network.connection import Connection
            for fd in net["reservations"] + ([net["dns"]] if net["dns"] is not None else []):
                os.set_inheritable(fd, False)
            dns_sock = socket.socket(fileno=net["dns"]) if net["dns"] is not None else None
            self.net = Connection(self.cid, [socket.socket(fileno=fd)
                                             for fd in net["reservations"]],
                                  dns_sock, net["upstreams"], net["ports"])
            if dns_sock is not None:
                self._watch_resolver(dns_sock, net["upstreams"])
        self.slimmed = True

    def _on_term(self, *_):
        self.stopping = True

    def _stop_wanted(self) -> bool:
        """Checked right before a policy restart: a `rocker stop` may have come meanwhile."""
        if self.stopping:
            return True
        try:
            return bool(records.load(self.paths, self.cid)["state"].get("stop_requested"))
        except Exception:  # noqa: BLE001
            return True

    def _sleep(self, seconds: float) -> bool:
        """Back-off between restarts; False if a stop came in meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.stopping:
                return False
            try:
                if records.load(self.paths, self.cid)["state"].get("stop_requested"):
                    return False
            except Exception:  # noqa: BLE001
                return False
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return not self.stopping

    def finish(self, exit_info: dict) -> None:
        from rocker.util.trace import mark
        mark("monitor: finish")
        from rocker.containers.teardown import release_stopped, remove_container
        if self.net is not None or self.resolver is not None:
            self._disconnect()
        try:
            release_stopped(self.paths, self.cid)
        except Exception:  # noqa: BLE001 - the next stop, rm or apply finishes it
            pass
        if self.cfg.get("auto_remove"):
            # no last state write for a record about to go: a removal cut short leaves one
            # whose monitor is seen gone (pid + start time), which rm and gc finish
            remove_container(self.paths, self.cid)
        else:
            self._state(monitor_pid=None, restarting=False)
        self.hub.broadcast(frames.EXIT, json.dumps(exit_info).encode())
        self.hub.flush_and_close()
        mark("monitor: done")


def _clean_up_after_removal(paths: Paths, cid: str) -> None:
    from rocker.containers.teardown import release_stopped
    try:
        release_stopped(paths, cid, kill_leftovers=True)
    except OSError:
        pass


def main(argv: list[str]) -> None:
    resume = None
    if argv and argv[0] == "--resume":
        resume = json.loads(argv[1])
        argv = [resume["cid"], resume["root"], resume["runroot"], "-1", "-1"]
    cid, root, runroot, sync_fd, attach_fd = argv[0], argv[1], argv[2], int(argv[3]), int(argv[4])
    paths = Paths(root, runroot)
    try:
        with open("/proc/self/comm", "w") as f:
            f.write("rocker-monitor")
    except OSError:
        pass
    try:
        from rocker.util.trace import mark
        mark("monitor: begin")
        mon = Monitor(paths, cid, sync_fd, attach_fd)
        code = mon.run(resume)
    except BaseException as e:  # noqa: BLE001
        if not os.path.isdir(paths.container_dir(cid)):
            # removed meanwhile (rm -f beside a start/restart): take down what this monitor
            # made after the removal went by, so nothing is left without a record
            _clean_up_after_removal(paths, cid)
        try:
            os.write(sync_fd, (json.dumps({"ok": False, "code": 125,
                                           "error": f"monitor: {e}"}) + "\n").encode())
        except OSError:
            pass
        try:
            with open(os.path.join(paths.container_dir(cid), "monitor.err"), "a") as f:
                import traceback
                traceback.print_exc(file=f)
        except OSError:
            pass
        code = 1
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
