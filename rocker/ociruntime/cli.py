"""The command line of rocker-runtime: runc's global options, verbs and flags.

    rocker-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND ...

Errors are one line on stderr and, with --log, one entry in the log file (with
--log-format json the entry is runc's: {"level": "error", "msg": ..., "time": ...}, which
containerd and podman read back). The exit status is 1 on an error; `run` and `exec` exit
with the command's own status (125/126/127 when it could not be started). argparse, not
click: this runs for every call of containerd's shim and podman, and starts faster.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from rocker.errors import ContainerStartError, InvalidInput, RockerError

VERSION = "0.1.0"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 1 like runc's usage errors... but say usage
        raise InvalidInput(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    from rocker.ociruntime.state import DEFAULT_ROOT
    p = _Parser(prog="rocker-runtime", description="rocker as an OCI runtime (runc's CLI)")
    p.add_argument("--root", default=DEFAULT_ROOT, help="state directory")
    p.add_argument("--log", default="", help="log file for errors and warnings")
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true",
                   help="refused: rocker-runtime has no systemd cgroup driver")
    p.add_argument("--rootless", default="auto")
    p.add_argument("--criu", default="")
    p.add_argument("-v", "--version", action="store_true")
    sub = p.add_subparsers(dest="command")

    def add(name, help_):
        return sub.add_parser(name, help=help_, description=help_)

    for name in ("create", "run"):
        c = add(name, "create a container" if name == "create" else
                "create and start a container, in the foreground unless --detach")
        c.add_argument("id")
        c.add_argument("-b", "--bundle", default=".")
        c.add_argument("--pid-file", default=None)
        c.add_argument("--console-socket", default=None)
        c.add_argument("--preserve-fds", type=int, default=0)
        c.add_argument("--no-pivot", action="store_true")
        c.add_argument("--no-new-keyring", action="store_true")
        if name == "run":
            c.add_argument("-d", "--detach", action="store_true")
            c.add_argument("--keep", action="store_true")
    c = add("start", "start a created container")
    c.add_argument("id")
    c = add("state", "print a container's state (runtime-spec JSON)")
    c.add_argument("id")
    c = add("kill", "send a signal to a container's init (or to every process: --all)")
    c.add_argument("-a", "--all", action="store_true")
    c.add_argument("id")
    c.add_argument("signal", nargs="?", default="TERM")
    c = add("delete", "delete a stopped (or, with --force, any) container")
    c.add_argument("-f", "--force", action="store_true")
    c.add_argument("ids", nargs="+", metavar="id")
    c = add("exec", "run a process in a running container")
    c.add_argument("-p", "--process", default=None)
    c.add_argument("-d", "--detach", action="store_true")
    c.add_argument("--pid-file", default=None)
    c.add_argument("-t", "--tty", action="store_true")
    c.add_argument("--console-socket", default=None)
    c.add_argument("--cwd", default=None)
    c.add_argument("-e", "--env", action="append", default=[])
    c.add_argument("-u", "--user", default=None)
    c.add_argument("-g", "--additional-gids", action="append", type=int, default=[])
    c.add_argument("-c", "--cap", action="append", default=[])
    c.add_argument("--no-new-privs", action="store_true", default=None)
    c.add_argument("--preserve-fds", type=int, default=0)
    c.add_argument("--apparmor", default="")
    c.add_argument("--process-label", default="")
    c.add_argument("--ignore-paused", action="store_true")
    c.add_argument("id")
    c.add_argument("args", nargs=argparse.REMAINDER)
    c = add("ps", "list a container's processes")
    c.add_argument("-f", "--format", default="table", choices=["table", "json"])
    c.add_argument("id")
    c.add_argument("ps_args", nargs=argparse.REMAINDER)
    for name in ("pause", "resume"):
        c = add(name, f"{name} every process of a container (freezer cgroup)")
        c.add_argument("id")
    c = add("update", "change a running container's resources")
    c.add_argument("-r", "--resources", default=None, help="LinuxResources JSON, - for stdin")
    for flag in ("memory", "memory-swap", "memory-reservation", "kernel-memory",
                 "kernel-memory-tcp", "cpu-shares", "cpu-period", "cpu-quota",
                 "cpu-rt-period", "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems",
                 "pids-limit", "blkio-weight"):
        c.add_argument(f"--{flag}", default=None)
    c.add_argument("id")
    c = add("list", "list containers")
    c.add_argument("-f", "--format", default="table", choices=["table", "json"])
    c.add_argument("-q", "--quiet", action="store_true")
    c = add("spec", "write a default config.json")
    c.add_argument("-b", "--bundle", default=".")
    c.add_argument("--rootless", action="store_true")
    c = add("events", "print a container's resource usage (--stats: once)")
    c.add_argument("--stats", action="store_true")
    c.add_argument("--interval", default="5s")
    c.add_argument("id")
    add("features", "print the features JSON (runtime-spec features.md)")
    return p


class Log:
    def __init__(self, path: str, fmt: str) -> None:
        self.path, self.fmt = path, fmt

    def write(self, level: str, msg: str) -> None:
        if not self.path:
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.fmt == "json":
            line = json.dumps({"level": level, "msg": msg, "time": now})
        else:
            line = f'time="{now}" level={level} msg={json.dumps(msg)}'
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except OSError:
            pass


def _duration(text: str) -> float:
    from rocker.util.durations import parse_duration
    return parse_duration(text)


def _size(text: str | None) -> int | None:
    if text is None:
        return None
    if text.strip() == "-1":
        return -1
    from rocker.cgroups import parse_bytes
    return parse_bytes(text)


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"not a number: {text!r}") from None


def _update_resources(a) -> dict:
    if a.resources:
        try:
            raw = sys.stdin.read() if a.resources == "-" else open(a.resources).read()
            res = json.loads(raw)
        except (OSError, ValueError) as e:
            raise InvalidInput(f"--resources {a.resources}: {e}") from None
        if not isinstance(res, dict):
            raise InvalidInput("--resources: a LinuxResources object expected")
        return res
    mem = {k: v for k, v in (("limit", _size(a.memory)), ("swap", _size(a.memory_swap)),
                             ("reservation", _size(a.memory_reservation)),
                             ("kernel", _size(a.kernel_memory)),
                             ("kernelTCP", _size(a.kernel_memory_tcp))) if v is not None}
    cpu = {k: v for k, v in (("shares", _int(a.cpu_shares)), ("period", _int(a.cpu_period)),
                             ("quota", _int(a.cpu_quota)),
                             ("realtimePeriod", _int(a.cpu_rt_period)),
                             ("realtimeRuntime", _int(a.cpu_rt_runtime)),
                             ("cpus", a.cpuset_cpus), ("mems", a.cpuset_mems))
           if v is not None}
    res: dict = {}
    if mem:
        res["memory"] = mem
    if cpu:
        res["cpu"] = cpu
    if a.pids_limit is not None:
        res["pids"] = {"limit": _int(a.pids_limit)}
    if a.blkio_weight is not None:
        res["blockIO"] = {"weight": _int(a.blkio_weight)}
    return res


def _ps(pids: list[int], ps_args: list[str]) -> str:
    import subprocess
    args = ["ps"] + (ps_args or ["-ef"])
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        raise InvalidInput(f"ps {' '.join(ps_args)}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise InvalidInput("ps: no PID column in its output")
    col = header.index("PID")
    keep = [lines[0]]
    wanted = set(pids)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            keep.append(line)
    return "\n".join(keep) + "\n"


def run_command(a, log: Log) -> int:
    from rocker.ociruntime import container as c
    from rocker.ociruntime.state import Store
    store = Store(a.root)
    c.Warnings.sink = lambda text: log.write("warning", text)
    cmd = a.command
    if cmd == "create":
        c.create(store, a.id, a.bundle, a.pid_file, a.console_socket, a.preserve_fds)
    elif cmd == "run":
        return c.run(store, a.id, a.bundle, a.pid_file, a.console_socket, a.preserve_fds,
                     a.detach, a.keep)
    elif cmd == "start":
        c.start(store, a.id)
    elif cmd == "state":
        print(json.dumps(c.state(store, a.id), indent=2))
    elif cmd == "kill":
        c.kill(store, a.id, c.parse_signal(a.signal), a.all)
    elif cmd == "delete":
        for cid in a.ids:
            c.delete(store, cid, a.force)
    elif cmd == "exec":
        if a.process:
            try:
                with open(a.process) as f:
                    proc = json.load(f)
            except (OSError, ValueError) as e:
                raise InvalidInput(f"--process {a.process}: {e}") from None
            if not isinstance(proc, dict):
                raise InvalidInput(f"--process {a.process}: a process object expected")
        else:
            if not a.args:
                raise InvalidInput("exec: the command to run is missing")
            proc = c.exec_process(store, a.id, a.args, a.cwd, a.env, a.user, a.tty, a.cap,
                                  a.no_new_privs, a.additional_gids)
        return c.exec_(store, a.id, proc, a.detach, a.pid_file, a.console_socket,
                       a.preserve_fds)
    elif cmd == "ps":
        pids = c.pids(store, a.id)
        if a.format == "json":
            print(json.dumps(pids))
        else:
            sys.stdout.write(_ps(pids, a.ps_args))
    elif cmd == "pause":
        c.pause(store, a.id)
    elif cmd == "resume":
        c.resume(store, a.id)
    elif cmd == "update":
        c.update(store, a.id, _update_resources(a))
    elif cmd == "list":
        items = c.listing(store)
        if a.quiet:
            for s in items:
                print(s["id"])
        elif a.format == "json":
            print(json.dumps(items))
        else:
            print("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
            for s in items:
                print(f"{s['id']}\t{s['pid']}\t{s['status']}\t{s['bundle']}\t{s['created']}\t"
                      f"root")
    elif cmd == "spec":
        from rocker.ociruntime.defaults import default_spec
        path = os.path.join(a.bundle, "config.json")
        if os.path.exists(path):
            raise InvalidInput(f"{path} exists already: remove it first")
        with open(path, "x") as f:
            json.dump(default_spec(), f, indent=2)
            f.write("\n")
    elif cmd == "events":
        interval = _duration(a.interval)
        while True:
            print(json.dumps(c.stats(store, a.id)), flush=True)
            if a.stats:
                break
            time.sleep(interval)
    elif cmd == "features":
        from rocker.ociruntime.defaults import features
        print(json.dumps(features(), indent=2))
    return 0


def main(argv: list[str] | None = None) -> None:
    log = Log("", "text")
    try:
        a = _parser().parse_args(argv)
        log = Log(a.log, a.log_format)
        if a.version:
            from rocker.launcher.ocispec import OCI_VERSION
            print(f"rocker-runtime version {VERSION}\nspec: {OCI_VERSION}")
            sys.exit(0)
        if a.systemd_cgroup:
            raise InvalidInput("--systemd-cgroup is not supported: rocker-runtime manages "
                               "cgroups through cgroupfs only (drop the option, or set "
                               "SystemdCgroup = false / cgroup_manager = \"cgroupfs\")")
        if not a.command:
            _parser().print_help(sys.stderr)
            sys.exit(1)
        code = run_command(a, log)
    except RockerError as e:
        msg = str(e)
        log.write("error", msg)
        print(f"rocker-runtime: {msg}", file=sys.stderr)
        code = e.exit_code if isinstance(e, ContainerStartError) and \
            _command_of(argv) in ("run", "exec") else 1
    except OSError as e:
        msg = f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
        log.write("error", msg)
        print(f"rocker-runtime: {msg}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.exit(code)


def _command_of(argv) -> str:
    for arg in (argv if argv is not None else sys.argv[1:]):
        if arg in ("run", "exec"):
            return arg
    return ""
