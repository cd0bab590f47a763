"""Regressions of the runtime review: hostile images, exec descriptors, attach I/O under load,
stop during the monitor's re-exec, restart races, devices, healthcheck timeouts."""

from __future__ import annotations

import os
import subprocess
import tarfile
import time

import pytest

from tests.integration.helpers import (assert_fully_removed, inspect, one_line_error, run_d,
                                       state, wait_for, wait_running)


def _image_with(tmp_path, base_image_tar, name: str, tweak) -> str:
    root = tmp_path / f"rootfs-{name}"
    root.mkdir()
    subprocess.run(["tar", "-C", str(root), "-xf", base_image_tar], check=True)
    tweak(root)
    out = tmp_path / f"{name}.tar"
    with tarfile.open(out, "w") as t:
        t.add(root, arcname=".")
    return str(out)


@pytest.mark.parametrize("where", ["proc", "sys", "dev"])
def test_image_whose_special_dir_is_a_symlink_is_refused(busybox, base_image_tar, tmp_path,
                                                         where):
    def tweak(root):
        subprocess.run(["rm", "-rf", str(root / where)], check=True)
        os.symlink("/elsewhere", root / where)
    busybox("import", _image_with(tmp_path, base_image_tar, where, tweak), f"evil{where}")
    p = busybox("run", "--rm", f"evil{where}", "cat", "/proc/sys/kernel/core_pattern",
                check=False)
    assert p.returncode == 125
    assert f"/{where} is not a directory" in one_line_error(p)
    assert busybox("ps", "-aq").stdout == ""


def test_exec_gets_no_host_descriptor_and_no_controlling_terminal(busybox, tmp_path):
    run_d(busybox, "--name", "x", "busybox", "sleep", "100")
    out = tmp_path / "out.txt"
    with open(out, "w") as f:
        subprocess.run(busybox.argv("exec", "x", "sh", "-c",
                                    "for f in 0 1 2; do readlink /proc/self/fd/$f; done; "
                                    "cut -d' ' -f1,6,7 /proc/self/stat"),
                       env=busybox.env, stdout=f, check=True)
    lines = out.read_text().split("\n")
    assert lines[0] == "/dev/null"
    assert lines[1].startswith("pipe:") and lines[2].startswith("pipe:")
    pid, session, tty_nr = lines[3].split()
    assert pid == session  # its own session: no terminal of the caller's
    assert tty_nr == "0"


def test_exec_stdin_reaches_eof(busybox):
    run_d(busybox, "--name", "x", "busybox", "sleep", "100")
    p = busybox("exec", "-i", "x", "wc", "-c", input="x" * 200000, timeout=20)
    assert p.stdout.strip() == "200000"


def test_run_i_with_large_input_and_output(busybox):
    data = os.urandom(3 * 1024 * 1024)
    p = subprocess.run(busybox.argv("run", "--rm", "-i", "busybox", "cat"), input=data,
                       env=busybox.env, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == data
    assert busybox("ps", "-aq").stdout == ""


def test_run_i_from_a_regular_file(busybox, tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("from a file\n")
    with open(f) as fh:
        p = subprocess.run(busybox.argv("run", "--rm", "-i", "busybox", "cat"), stdin=fh,
                           env=busybox.env, capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "from a file\n"


def test_slow_reader_gets_everything(busybox):
    cmd = busybox.argv("run", "--rm", "busybox", "seq", "1", "200000")
    p = subprocess.run(["sh", "-c", '"$@" | (sleep 2; wc -l)', "sh", *cmd], env=busybox.env,
                       capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "200000", p.stderr


def test_wait_and_attach_do_not_close_stdin(busybox):
    run_d(busybox, "-i", "--name", "ic", "busybox", "sh", "-c", "cat; echo cat-ended")
    wait_running(busybox, "ic")
    for argv in (("wait", "ic"), ("attach", "ic")):  # attach's stdin is /dev/null: EOF at once
        proc = subprocess.Popen(busybox.argv(*argv), env=busybox.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        assert proc.poll() is None  # still waiting / attached
        proc.kill()
        proc.wait()
    time.sleep(0.5)
    assert state(busybox, "ic")["Status"] == "running"
    assert "cat-ended" not in busybox("logs", "ic").stdout


@pytest.mark.parametrize("offset", [0.95, 1.0, 1.03, 1.06, 1.1])
def test_stop_around_the_monitors_reexec(busybox, offset):
    run_d(busybox, "--name", "sl", "busybox", "sh", "-c",
          'trap "echo bye; exit 3" TERM; while :; do sleep 0.1; done')
    time.sleep(offset)
    busybox("stop", "sl", timeout=30)
    assert state(busybox, "sl")["ExitCode"] == 3
    assert busybox("logs", "sl").stdout == "bye\n"


def test_stop_racing_a_policy_restart(busybox, tmp_path):
    flag = "/tmp/runs"
    run_d(busybox, "--name", "rr", "--restart", "always", "--stop-timeout", "2", "busybox",
          "sh", "-c", f'echo x >> {flag}; [ $(wc -l < {flag}) -ge 4 ] && exec sleep 1000; exit 1')
    wait_for(lambda: inspect(busybox, "rr")["RestartCount"] >= 2, 10, what="restarts")
    t0 = time.monotonic()
    busybox("stop", "rr", timeout=40)
    assert time.monotonic() - t0 < 8
    s = state(busybox, "rr")
    assert s["Status"] == "exited" and s["ExitCode"] is not None


def test_host_console_is_not_reachable(busybox):
    p = busybox("run", "--rm", "busybox", "sh", "-c",
                "mknod /tmp/c c 5 1 && echo hi > /tmp/c && echo WROTE", check=False)
    assert "WROTE" not in p.stdout


def test_device_nodes_in_image_layers_are_unusable(busybox, base_image_tar, tmp_path):
    def tweak(root):
        os.mknod(root / "zero2", 0o666 | 0o020000, os.makedev(1, 5))
    busybox("import", _image_with(tmp_path, base_image_tar, "dev", tweak), "withdev")
    p = busybox("run", "--rm", "withdev", "head", "-c", "1", "/zero2", check=False)
    assert p.returncode != 0


def test_healthcheck_timeout_is_enforced_and_reported(busybox):
    run_d(busybox, "--name", "hc", "--health-cmd", "sleep 10", "--health-timeout", "1s",
          "--health-interval", "1s", "busybox", "sleep", "60")
    t0 = time.time()
    health = wait_for(lambda: state(busybox, "hc")["Health"]["log"], 6, what="a check result")
    assert health[0]["output"] == "Health check exceeded timeout (1s)"
    assert health[0]["end"] - t0 < 3.5  # killed at its timeout, not at the next interval


def test_rm_f_of_a_container_whose_monitor_died_with_rm(busybox):
    import json
    cid = run_d(busybox, "--rm", "--name", "gone", "busybox", "sleep", "100")
    st = wait_running(busybox, "gone")
    os.kill(json.loads(busybox("inspect", cid).stdout)[0]["State"]["MonitorPid"], 9)
    wait_for(lambda: not os.path.exists(f"/proc/{st['MonitorPid']}/status") or
             "Z" in open(f"/proc/{st['MonitorPid']}/status").read(), 5)
    busybox("stop", "-t", "0", "gone")
    assert busybox("ps", "-aq").stdout == ""
    assert_fully_removed(busybox, cid)


def test_commands_start_with_default_signal_dispositions(busybox):
    p = busybox("run", "--rm", "busybox", "grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status")
    assert p.stdout.split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"]
    run_d(busybox, "--name", "sg", "busybox", "sleep", "100")
    p = busybox("exec", "sg", "grep", "^SigIgn", "/proc/self/status")
    assert p.stdout.split() == ["SigIgn:", "0000000000000000"]


def test_it_without_a_terminal_is_refused(busybox):
    p = busybox("run", "-it", "busybox", "cat", input="x\n", check=False)
    assert p.returncode != 0 and "not a TTY" in one_line_error(p)
    assert busybox("ps", "-aq").stdout == ""
