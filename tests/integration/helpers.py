"""Helpers for the container integration tests: polling, inspect, host-side probes, a pty driver."""

from __future__ import annotations

import fcntl
import glob
import json
import os
import select
import signal
import struct
import subprocess
import termios
import time

from tests.conftest import REPO

VENV_PY = os.path.join(REPO, ".venv", "bin", "python")


def wait_for(pred, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll `pred()` until it returns something truthy; return that value or fail."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def inspect(r, ref: str) -> dict:
    return json.loads(r("inspect", ref).stdout)[0]


def state(r, ref: str) -> dict:
    return inspect(r, ref)["State"]


def ps_json(r, *args: str) -> list[dict]:
    return json.loads(r("ps", "--format", "json", *args).stdout)


def run_d(r, *args: str) -> str:
    """`rocker run -d ARGS` -> the container ID."""
    out = r("run", "-d", *args).stdout.strip()
    assert len(out.splitlines()) == 1 and len(out) == 64, out
    return out


def wait_running(r, ref: str, timeout: float = 10.0) -> dict:
    return wait_for(lambda: (lambda s: s if s["Status"] == "running" and s["Pid"] else None)(
        state(r, ref)), timeout, what=f"{ref} running")


def wait_exited(r, ref: str, timeout: float = 10.0) -> dict:
    return wait_for(lambda: (lambda s: s if s["Status"] == "exited" and not s["MonitorPid"]
                             else None)(state(r, ref)), timeout, what=f"{ref} exited")


def wait_log(r, ref: str, text: str, timeout: float = 10.0) -> str:
    return wait_for(lambda: (lambda o: o if text in o else None)(
        r("logs", ref, check=False).stdout), timeout, what=f"{text!r} in logs of {ref}")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except FileNotFoundError:
        return False
    return st[st.rfind(")") + 2] not in "ZX"


def cgroup_dirs(cid: str) -> list[str]:
    """Every cgroup folder of the container on this host (v1 hierarchies and the unified one)."""
    return [d for d in glob.glob(f"/sys/fs/cgroup/*/rocker/{cid}") +
            glob.glob(f"/sys/fs/cgroup/rocker/{cid}") if os.path.isdir(d)]


def mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln for ln in f if text in ln]


def container_dirs(r) -> list[str]:
    d = os.path.join(r.root, "containers")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def assert_fully_removed(r, cid: str) -> None:
    assert cid not in container_dirs(r), container_dirs(r)
    assert not [n for n in container_dirs(r) if cid in n], container_dirs(r)
    assert cgroup_dirs(cid) == []
    assert mounts_mentioning(cid) == []
    assert not os.path.exists(os.path.join(r.runroot, "containers", cid))


def kill_pid(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def one_line_error(p) -> str:
    err = p.stderr.strip()
    assert err, "expected an error message on stderr"
    assert len(err.splitlines()) == 1, f"expected one line, got:\n{err}"
    assert "Traceback" not in err
    return err


class Pty:
    """A `rocker` process driven through a pseudo-terminal, as a user's terminal would."""

    def __init__(self, r, *args: str, rows: int = 24, cols: int = 80) -> None:
        self.master, slave = os.openpty()
        set_winsize(slave, rows, cols)
        self.proc = subprocess.Popen(r.argv(*args), stdin=slave, stdout=slave, stderr=slave,
                                     env=r.env, cwd=REPO, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.buf = b""

    def send(self, data: str | bytes) -> None:
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def _read(self, timeout: float) -> bool:
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return False
        if not data:
            return False
        self.buf += data
        return True

    def expect(self, text: str | bytes, timeout: float = 10.0) -> bytes:
        """Read until `text` appears after the current position; return what came before it."""
        t = text.encode() if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        while t not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.2)):
                if t in self.buf:
                    break
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {t!r}; got {self.buf!r}")
                if self.proc.poll() is not None:
                    raise AssertionError(f"process exited ({self.proc.returncode}) before "
                                         f"{t!r}; got {self.buf!r}")
        i = self.buf.index(t)
        before, self.buf = self.buf[:i], self.buf[i + len(t):]
        return before

    def wait(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running; output {self.buf!r}")
            self._read(0.1)
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
