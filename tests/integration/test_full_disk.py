"""Issue 8 item 4: a full disk. The store lives on a small tmpfs made by the test; the container
or the test fills it to the last page. The monitor must survive (output it cannot log is counted
and shown by `logs` and `inspect`), stop/kill/rm -f must work, and the exit code must not be
lost, even when no record write succeeds any more (the monitor note)."""

from __future__ import annotations

import errno
import glob
import os
import subprocess
import threading
import time

import pytest

from tests.integration.conftest import Rocker
from tests.integration.helpers import (alive, assert_fully_removed, inspect, one_line_error,
                                       ps_json, run_d, wait_for)

SIZE = "16m"


def _fill(folder: str) -> int:
    """Write filler files into `folder` until the filesystem has not one free page left."""
    written = 0
    while True:
        path = os.path.join(folder, f"filler-{time.monotonic_ns()}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        got = 0
        try:
            while True:
                got += os.write(fd, bytes(65536 if got < (1 << 20) else 4096))
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        finally:
            os.close(fd)
        written += got
        if got == 0:
            os.unlink(path)
            return written


def _free_pages(folder: str) -> int:
    st = os.statvfs(folder)
    return st.f_bavail


@pytest.fixture
def full(tmp_path, base_image_tar):
    """A rocker root on its own 16 MiB tmpfs, with busybox imported; unmounted afterwards."""
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "rocker-test-full",
                    str(root)], check=True)
    r = Rocker(str(root), str(tmp_path / "run"))
    try:
        r("import", base_image_tar, "busybox")
        yield r
    finally:
        for f in glob.glob(str(root / "filler-*")):
            os.unlink(f)
        r.cleanup()
        for _ in range(50):
            if subprocess.run(["umount", str(root)]).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(root)], check=True)


def _monitor_alive(r, ref: str) -> bool:
    pid = inspect(r, ref)["State"].get("MonitorPid")
    return bool(pid) and alive(pid)


def test_output_on_a_full_disk_is_counted_and_stop_and_rm_work(full):
    r = full
    cid = run_d(r, "--name", "spam", "busybox", "sh", "-c",
                'i=0; while :; do echo "line $i"; i=$((i+1)); done')
    # the container's own output fills the disk; the test takes the last pages
    wait_for(lambda: _free_pages(r.root) < 64, timeout=60, what="the log to fill the disk")
    _fill(r.root)
    time.sleep(1.0)
    assert _monitor_alive(r, "spam"), "the monitor died on a full disk"
    st = inspect(r, "spam")
    assert st["State"]["Status"] == "running"
    dropped = st["LogLinesDropped"]
    assert dropped > 0
    p = r("logs", "--tail", "1", "spam")
    assert p.stdout.startswith("line "), p.stdout[:200]
    assert "could not be logged (no space left on device)" in p.stderr
    # stop on a full disk: the exit code is recorded, not lost
    r("stop", "-t", "1", "spam")
    st = inspect(r, "spam")
    assert st["State"]["Status"] == "exited"
    assert st["State"]["ExitCode"] == 137
    assert st["LogLinesDropped"] >= dropped
    _fill(r.root)
    p = r("rm", "-f", "spam", check=False)
    assert p.returncode == 0, p.stderr
    assert_fully_removed(r, cid)


def test_kill_on_a_full_disk_is_not_undone_by_the_restart_policy(full):
    r = full
    cid = run_d(r, "--name", "k", "--restart", "always", "busybox", "sleep", "1000")
    _fill(r.root)
    p = r("kill", "k", check=False)
    assert p.returncode == 0, p.stderr
    wait_for(lambda: inspect(r, "k")["State"]["Status"] == "exited", timeout=10,
             what="the killed container to be exited")
    time.sleep(1.5)  # a restart would come after a 0.1 s back-off
    st = inspect(r, "k")["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 137, st
    assert st.get("MonitorPid") in (None, 0) or not alive(st["MonitorPid"])
    p = r("rm", "-f", "k", check=False)
    assert p.returncode == 0, p.stderr
    assert_fully_removed(r, cid)


class _Filler:
    """Keeps the disk full from a thread: every page anything frees is taken at once."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            _fill(self.folder)

    def __enter__(self):
        _fill(self.folder)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def test_exit_code_survives_when_no_record_write_succeeds(full):
    """The reserves are used up by healthcheck records while the test keeps the disk full;
    the container's exit then reaches the record through the monitor note."""
    r = full
    cid = run_d(r, "--name", "seven", "--health-cmd", "true", "--health-interval", "0.2s",
                "busybox", "sh", "-c", 'trap "exit 7" USR1; while :; do sleep 0.1; done')
    cdir = os.path.join(r.root, "containers", cid)
    with _Filler(r.root):
        # both reserves spent on health records, and the next ones have nowhere to go
        wait_for(lambda: not glob.glob(os.path.join(cdir, ".reserve-*")), timeout=30,
                 what="the reserves to be used up")
        time.sleep(1.0)
        assert _monitor_alive(r, "seven")
        r("kill", "-s", "USR1", "seven")
        wait_for(lambda: not _monitor_alive(r, "seven"), timeout=10,
                 what="the monitor to finish")
        assert not glob.glob(os.path.join(cdir, ".reserve-*"))
        (row,) = ps_json(r, "-a")
        assert row["Status"].startswith("Exited (7)"), row
        assert inspect(r, "seven")["State"]["ExitCode"] == 7
        p = r("rm", "-f", "seven", check=False)
    assert p.returncode == 0, p.stderr
    assert_fully_removed(r, cid)


def test_create_on_a_full_disk_is_one_line_and_leaves_nothing(full):
    r = full
    _fill(r.root)
    p = r("run", "-d", "busybox", "true", check=False)
    assert p.returncode == 125, p.stderr
    assert "no space left on device" in one_line_error(p)
    assert [n for n in os.listdir(os.path.join(r.root, "containers"))] == []
    assert r("ps", "-aq").stdout == ""
