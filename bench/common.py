"""Helpers shared by the benchmarks: timing, medians, a private storage root, a private network
namespace for benches that make bridges and firewall rules, a podman on a private store, the
leak check, the machine's load."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_IMAGE = os.path.join(REPO, "base-image", "busybox.tar")
ROCKER = [sys.executable, "-m", "rocker"]  # with PYTHONPATH and cwd at the tree (Root does it)
LEAKCHECK = os.path.join(os.path.dirname(REPO), "shared", "tools", "leakcheck")
NETNS_MARK = "ROCKER_BENCH_NETNS"


def timed(argv: list[str], env: dict | None = None, check: bool = True, **kw) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    dt = time.perf_counter() - t0
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return dt


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


class Root:
    """A throw-away rocker storage root (never /var/lib/rocker), driven by this checkout's rocker
    or, with tree=PATH, by the rocker of another checkout (PYTHONPATH=PATH, run from PATH): the
    venv's editable install points at /work/main, so the tree is always named."""

    def __init__(self, tree: str = REPO) -> None:
        self.dir = tempfile.mkdtemp(prefix="rocker-bench-")
        self.env = dict(os.environ, ROCKER_ROOT=os.path.join(self.dir, "root"),
                        ROCKER_RUNROOT=os.path.join(self.dir, "run"))
        self.env.pop("ROCKER_DEBUG", None)
        self.tree = self.cwd = os.path.abspath(tree)
        self.cmd = list(ROCKER)
        self.env["PYTHONPATH"] = self.tree

    def argv(self, *args: str) -> list[str]:
        return self.cmd + list(args)

    def timed(self, *args: str, **kw) -> float:
        return timed(self.argv(*args), env=self.env, cwd=self.cwd, **kw)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True,
                           cwd=self.cwd)
        if check and p.returncode != 0:
            raise RuntimeError(f"rocker {' '.join(args)}: {p.stderr.strip()}")
        return p

    def close(self) -> None:
        p = self.run("ps", "-aq", check=False)
        if p.stdout.split():
            self.run("rm", "-f", *p.stdout.split(), check=False)
        self.run("network", "prune", "-f", check=False)  # a tree without networks says no
        shutil.rmtree(self.dir, ignore_errors=True)


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None


def load() -> str:
    """The load averages (1, 5, 15 min) and the CPU count, for the figures' context."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def stats(samples: list[float]) -> str:
    """'median M ms (min .., max .., n=..)' of samples in seconds."""
    return (f"median {median_ms(samples):7.1f} ms  (min {min(samples) * 1000:.1f}, "
            f"max {max(samples) * 1000:.1f}, n={len(samples)})")


# ---- a private network namespace ---------------------------------------------------------------
def leakcheck() -> set[str]:
    """What ../shared/tools/leakcheck reports now (lines), in the caller's namespaces."""
    if not os.path.isfile(LEAKCHECK):
        raise SystemExit(f"the leak checker {LEAKCHECK} is missing")
    p = subprocess.run(["bash", LEAKCHECK], capture_output=True, text=True, timeout=120)
    if p.returncode not in (0, 1):
        raise SystemExit(f"leakcheck failed ({p.returncode}): {p.stderr.strip()}")
    return {ln for ln in p.stdout.splitlines() if not ln.endswith("<defunct>")}


def settle_leaks(before: set[str], where: str, wait: float = 10) -> set[str]:
    """Lines of the leak check that were not there before and stay for `wait` seconds; printed.
    On a machine shared with other sessions a line may be theirs: it names what it is."""
    deadline = time.monotonic() + wait
    while True:
        left = leakcheck() - before
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    if left:
        print(f"leakcheck ({where}): {len(left)} new line(s) since the start "
              "(other sessions share this machine: check whose they are):")
        for ln in sorted(left):
            print(f"  {ln}")
    else:
        print(f"leakcheck ({where}): nothing left")
    return left


def in_private_netns() -> None:
    """Re-run this script inside a network and mount namespace of its own (unshare from
    util-linux), like the integration tests: rocker's and podman's bridges, veths, sysctls and
    firewall rules live and die with it, no traffic leaves the machine, and podman's overlay and
    netns mounts never reach the host's mount table. `lo` is brought up inside. The parent runs
    the leak check on the host before and after; the child runs it inside before it ends
    (bench_end). Returns in the child only."""
    if os.environ.get(NETNS_MARK) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root (the bench makes a network namespace and containers)")
    before = leakcheck()
    env = dict(os.environ, **{NETNS_MARK: "1"})
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiling every import each run skews the figures
    argv = ["unshare", "--net", "--mount", "--propagation", "private", "--",
            sys.executable, os.path.abspath(sys.argv[0]), *sys.argv[1:]]
    rc = subprocess.run(argv, env=env).returncode
    settle_leaks(before, "host, after the bench's namespace is gone")
    raise SystemExit(rc)


_INSIDE_BEFORE: set[str] = set()


def bench_start() -> None:
    """Inside the private namespace: remember what the leak check sees before anything runs."""
    _INSIDE_BEFORE.clear()
    _INSIDE_BEFORE.update(leakcheck())


def bench_end() -> set[str]:
    return settle_leaks(_INSIDE_BEFORE, "inside the bench's namespace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, deadline: float = 15.0) -> float:
    """Poll-connect 127.0.0.1:port until an HTTP status line comes back; its perf_counter time.
    Each try is a fresh connection with a short timeout (a SYN dropped while the path is not
    there yet would otherwise wait for the kernel's 1 s retransmit)."""
    end = time.perf_counter() + deadline
    while time.perf_counter() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.05) as c:
                c.settimeout(2)
                c.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                if c.recv(64).startswith(b"HTTP/1."):
                    return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.001)
    raise RuntimeError(f"nothing answered HTTP on 127.0.0.1:{port} within {deadline} s")


# ---- podman on a private store -----------------------------------------------------------------
class Podman:
    """podman with its own --root/--runroot, tmp dir, network config and event log in a temp
    folder (never the machine's stores), the rlimits this host allows (its hard nofile limit is
    below podman's default 1048576) and the base image imported as localhost/busybox."""

    IMAGE = "localhost/busybox:latest"

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="rocker-bench-podman-")
        d = self.dir
        with open(os.path.join(d, "containers.conf"), "w") as f:
            f.write(f"""[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[network]
network_backend = "netavark"
network_config_dir = "{d}/networks"
[engine]
tmp_dir = "{d}/tmp"
events_logger = "file"
events_logfile_path = "{d}/events.log"
""")
        with open(os.path.join(d, "storage.conf"), "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{d}/root"\n'
                    f'runroot = "{d}/runroot"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=f"{d}/containers.conf",
                        CONTAINERS_STORAGE_CONF=f"{d}/storage.conf")
        self.base = ["podman", "--root", f"{d}/root", "--runroot", f"{d}/runroot"]

    def argv(self, *args: str) -> list[str]:
        return self.base + list(args)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)}: {p.stderr.strip()[-500:]}")
        return p

    def setup(self) -> str | None:
        """Import the base image and try one container: None when podman works, else why not."""
        try:
            self.run("import", BASE_IMAGE, self.IMAGE)
            self.run("run", "--rm", "--network", "none", self.IMAGE, "true")
        except RuntimeError as e:
            return str(e)
        return None

    def info(self) -> str:
        p = self.run("info", "--format", "json", check=False)
        try:
            h = json.loads(p.stdout)["host"]
            return (f"podman {self.run('--version').stdout.split()[-1]}, network "
                    f"{h.get('networkBackend')}, runtime {h['ociRuntime']['name']} "
                    f"{h['ociRuntime'].get('version', '').split()[2:3]}".replace("'", ""))
        except (ValueError, KeyError, IndexError):
            return "podman (info unavailable)"

    def close(self) -> None:
        self.run("rm", "-af", "-t", "0", check=False)
        self.run("rmi", "-af", check=False)
        with open("/proc/self/mountinfo") as f:
            mounts = [ln.split()[4] for ln in f if self.dir in ln]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- the monitor's memory ---------------------------------------------------------------------
def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def slimmed(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"--resume" in f.read()
    except OSError:
        return False


def monitor_rss(r: Root, extra: list[str]) -> tuple[float, float]:
    """(MiB right after `run -d` returns, MiB once slimmed) of one container's monitor."""
    cid = r.run("run", "-d", *extra, "busybox", "sleep", "600").stdout.strip()
    try:
        pid = json.loads(r.run("inspect", cid).stdout)[0]["State"]["MonitorPid"]
        start = rss_kib(pid)
        deadline = time.monotonic() + 10
        while not slimmed(pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the monitor {pid} did not slim itself within 10 s")
            time.sleep(0.05)
        time.sleep(0.3)  # the new interpreter has finished its imports and restored its state
        return start / 1024, rss_kib(pid) / 1024
    finally:
        r.run("rm", "-f", cid)


# ---- where the time goes -----------------------------------------------------------------------
def trace_profile(root: Root, args: list[str], n: int, cleanup=None) -> list[tuple[str, float,
                                                                                 float]]:
    """Run `rocker ARGS` n times with ROCKER_TRACE (rocker/util/trace.py marks) and return, per
    mark in the order they come, (label, median ms since the previous mark, median ms since the
    command was spawned); the last row is the command's return (marks written after it, by a
    monitor that goes on, are left out). `cleanup(stdout)` runs after each, untimed."""
    fd, path = tempfile.mkstemp(prefix="rocker-bench-trace-")
    os.close(fd)
    per: dict[str, list[tuple[float, float]]] = {}
    try:
        for _ in range(n):
            open(path, "w").close()
            env = dict(root.env, ROCKER_TRACE=path)
            t0 = time.time()
            p = subprocess.run(root.argv(*args), env=env, cwd=root.cwd, check=True,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            t_end = time.time()
            with open(path) as f:
                marks = sorted((float(t), label.strip()) for _pid, t, label in
                               (ln.split(" ", 2) for ln in f if ln.strip()))
            marks = [m for m in marks if m[0] <= t_end] + [(t_end, "(command returned)")]
            prev = t0
            for t, label in marks:
                per.setdefault(label, []).append(((t - prev) * 1000, (t - t0) * 1000))
                prev = t
            if cleanup:
                cleanup(p.stdout)
    finally:
        os.unlink(path)
    order = sorted(per, key=lambda lb: statistics.median(x[1] for x in per[lb]))
    return [(lb, statistics.median(x[0] for x in per[lb]), statistics.median(x[1] for x in per[lb]))
            for lb in order]


def print_profile(rows: list[tuple[str, float, float]]) -> None:
    print(f"  {'mark':<28} {'step ms':>8} {'at ms':>8}")
    for label, step, at in rows:
        print(f"  {label:<28} {step:8.1f} {at:8.1f}")
