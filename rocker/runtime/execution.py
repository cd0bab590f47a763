"""`rocker exec`: run a command in a running container with its environment, and relay it."""

from __future__ import annotations

import os

from rocker.containers import records
from rocker.containers import state as cstate
from rocker.containers.config import parse_env_list
from rocker.errors import InvalidInput
from rocker.attach.relay import Pump, relay_pty, write_all
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
            relay_pty(j.master_fd, interactive)
        elif parent_ends:
            _relay_pipes(j.pid, *parent_ends)
        j.wait_started()
    except BaseException:
        _reap(j.pid)
        raise
    return _reap(j.pid)


def _relay_pipes(pid: int, in_w: int, out_r: int, err_r: int) -> None:
    """Our stdin -> the command's (`in_w`, closed at our EOF once written; -1: none); its
    stdout and stderr -> ours, until both are closed and, when it has our stdin, the command
    (`pid`) has ended: one that closed its output may still be reading."""
    pump = Pump()
    outputs = {out_r: 1, err_r: 2}
    ended = -1
    if in_w >= 0:
        try:
            ended = os.pidfd_open(pid)
        except OSError:
            pass
    running = [ended >= 0]

    def check_done() -> None:
        if not outputs and not running[0]:
            pump.done = True

    def output(fd: int):
        def from_command(data: bytes) -> None:
            if data:
                write_all(outputs[fd], data)
            else:
                del outputs[fd]
                check_done()
        return from_command

    def from_stdin(data: bytes) -> None:
        if data:
            pump.send(in_w, data)
        else:
            pump.close_when_flushed(in_w)

    def command_ended(_: bytes) -> None:
        running[0] = False
        check_done()

    for fd in outputs:
        pump.read(fd, output(fd))
    if in_w >= 0:
        pump.queue(in_w)
        pump.read(0, from_stdin, gate=in_w)
    if ended >= 0:
        pump.watch(ended, command_ended)
    try:
        pump.run()
    finally:
        for fd in (in_w, out_r, err_r, ended):
            if fd >= 0:
                pump.close(fd)


def _reap(pid: int) -> int:
    try:
        _, st = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    code = os.waitstatus_to_exitcode(st)
    return 128 - code if code < 0 else code
