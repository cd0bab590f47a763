"""Integration fixtures: a private storage root per test, a CLI runner, and the leak guard.

Every test gets its own --root/--runroot under pytest's tmp_path (never /var/lib/rocker). At the
end of each test every container of that root is force-removed; at the end of the session
../shared/tools/leakcheck (beside the repository; ROCKER_LEAKCHECK=PATH names another one) must
report nothing that was not already there when the session began, or the run fails. A checker
that is missing or does not run (an exit code other than 0 "clean" / 1 "found some") stops the
session at its start: a guard that cannot look must not pass.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

LEAKCHECK = os.path.abspath(os.environ.get("ROCKER_LEAKCHECK") or
                            os.path.join(os.path.dirname(REPO), "shared", "tools", "leakcheck"))

if os.geteuid() != 0:
    pytest.skip("integration tests need root", allow_module_level=True)


def _private_network_namespace() -> None:
    """The whole session runs in a network namespace of its own (made here, before any test
    starts a process): rocker's bridges, veths, routes, sysctls and nftables tables live and
    die with it, and no container traffic can leave the machine. Its `lo` is brought up; the
    leak check at the end runs inside it. ROCKER_TEST_HOST_NETNS=1 keeps the host's (never in
    CI)."""
    if os.environ.get("ROCKER_TEST_HOST_NETNS") == "1" or os.environ.get("ROCKER_TEST_NETNS"):
        return
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
        raise RuntimeError(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
    os.environ["ROCKER_TEST_NETNS"] = str(os.getpid())  # a re-import must not nest another
    from rocker.launcher.syscalls import link_up
    link_up("lo")


_private_network_namespace()


def _ppid(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


class LeakcheckBroken(Exception):
    """The leak checker is missing or did not run: nothing can be said about leaks."""


def _run_leakcheck() -> str:
    """The checker's report (empty when the machine is clean); LeakcheckBroken if it cannot say."""
    how = "fix ROCKER_LEAKCHECK" if os.environ.get("ROCKER_LEAKCHECK") else \
        "set ROCKER_LEAKCHECK=PATH"
    if not os.path.isfile(LEAKCHECK):
        raise LeakcheckBroken(f"the leak checker {LEAKCHECK} is missing (it belongs at "
                              f"../shared/tools/leakcheck beside the repository; or {how})")
    try:
        p = subprocess.run(["bash", LEAKCHECK], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        raise LeakcheckBroken(f"the leak checker {LEAKCHECK} did not run: {e}") from None
    # its contract: exit 0 and nothing printed when clean, exit 1 and a listing otherwise
    if p.returncode not in (0, 1) or (p.returncode == 1 and not p.stdout.strip()):
        raise LeakcheckBroken(
            f"the leak checker {LEAKCHECK} failed (exit {p.returncode}): "
            f"{(p.stderr.strip() or p.stdout.strip() or 'no output')[-2000:]}")
    return p.stdout


def _leaks() -> set[str]:
    out = _run_leakcheck()
    # Our own test processes mention "rocker" in their command lines: ignore them.
    me = {str(os.getpid())}
    lines = set()
    for line in out.splitlines():
        if line.startswith("process:"):
            pid = line.split()[1]
            if pid in me or "pytest" in line or "leakcheck" in line:
                continue
            if line.endswith("<defunct>") and _ppid(pid) == 1:
                continue  # exited; waiting for init to reap it (this machine's init is slow)
        lines.add(line)
    return lines


@pytest.fixture(scope="session", autouse=True)
def leak_guard():
    try:
        before = _leaks()
    except LeakcheckBroken as e:
        # stop here, before any test runs: a session that cannot check for leaks must not pass
        pytest.exit(f"leak guard: {e}", returncode=pytest.ExitCode.USAGE_ERROR)
    yield
    import time
    deadline = time.monotonic() + 10
    while True:
        try:
            left = _leaks() - before
        except LeakcheckBroken as e:
            pytest.fail(f"leak guard: {e}", pytrace=False)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, "rocker left these on the machine:\n" + "\n".join(sorted(left))


class Rocker:
    """Runs the rocker CLI against one private storage root."""

    def __init__(self, root: str, runroot: str) -> None:
        self.root = root
        self.runroot = runroot
        self.env = dict(os.environ, ROCKER_ROOT=root, ROCKER_RUNROOT=runroot)
        self.env.pop("ROCKER_DEBUG", None)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "rocker", *args]

    def __call__(self, *args: str, input: str | bytes | None = None, check: bool = True,
                 timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        text = not isinstance(input, bytes)
        p = subprocess.run(self.argv(*args), input=input, capture_output=True, text=text,
                           env=self.env, timeout=timeout, cwd=REPO, **kw)
        if check and p.returncode != 0:
            raise AssertionError(
                f"rocker {' '.join(args)} exited {p.returncode}\nstdout: {p.stdout}\n"
                f"stderr: {p.stderr}")
        return p

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), env=self.env, cwd=REPO, **kw)

    def cleanup(self) -> None:
        p = self("ps", "-aq", check=False)
        ids = p.stdout.split() if p.returncode == 0 else []
        if ids:
            self("rm", "-f", *ids, check=False)


@pytest.fixture
def rocker(tmp_path):
    r = Rocker(str(tmp_path / "root"), str(tmp_path / "run"))
    yield r
    r.cleanup()


@pytest.fixture
def busybox(rocker, base_image_tar):
    """A storage root with the base image imported as busybox:latest."""
    rocker("import", base_image_tar, "busybox")
    return rocker
