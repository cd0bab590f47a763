"""Interactive use through a pseudo-terminal driven by the test: -it, window size, Ctrl-C, -t."""

from __future__ import annotations

import time

from tests.integration.helpers import Pty, set_winsize, state, wait_exited, wait_for


def test_it_shell_pid1_tty_and_exit_code(busybox):
    t = Pty(busybox, "run", "-it", "--name", "sh1", "busybox", "sh")
    try:
        t.expect("#", 15)
        t.send("echo $$; tty; echo E$((1+1))ND\r")
        t.expect("E$((1+1))ND", 10)  # the terminal's echo of the line
        out = t.expect("E2ND\r\n", 10)
        lines = [ln.strip() for ln in out.decode(errors="replace").splitlines()]
        assert "1" in lines, out
        assert "/dev/pts/0" in lines, out
        t.send("exit 3\r")
        assert t.wait(10) == 3
    finally:
        t.close()
    assert state(busybox, "sh1")["ExitCode"] == 3


def test_it_window_size(busybox):
    t = Pty(busybox, "run", "-it", "busybox", "sh", rows=33, cols=101)
    try:
        t.expect("#", 15)
        t.send("stty size; echo E$((1+1))ND\r")
        t.expect("E$((1+1))ND", 10)
        out = t.expect("E2ND\r\n", 10)
        assert b"33 101" in out, out
        # a resize of the terminal is forwarded (SIGWINCH to the CLI)
        set_winsize(t.master, 40, 120)
        t.proc.send_signal(28)  # SIGWINCH, as the terminal would deliver
        time.sleep(0.3)
        t.send("stty size; echo E$((2+1))ND\r")
        t.expect("E$((2+1))ND", 10)
        out = t.expect("E3ND\r\n", 10)
        assert b"40 120" in out, out
        t.send("exit\r")
        assert t.wait(10) == 0
    finally:
        t.close()


def test_it_ctrl_c_interrupts_foreground_command(busybox):
    t = Pty(busybox, "run", "-it", "--name", "cc", "busybox", "sh")
    try:
        t.expect("#", 15)
        t.send("sleep 100\r")
        t.expect("sleep 100\r\n", 5)
        time.sleep(0.5)
        t0 = time.monotonic()
        t.send(b"\x03")
        t.expect("#", 5)  # the prompt is back: sleep was interrupted
        assert time.monotonic() - t0 < 3
        t.send("echo rc=$?\r")
        t.expect("echo rc=$?", 5)
        t.expect("rc=130", 5)
        # the shell survived Ctrl-C
        t.send("echo still-here\r")
        t.expect("still-here", 5)
        assert state(busybox, "cc")["Status"] == "running"
        t.send("exit 0\r")
        assert t.wait(10) == 0
    finally:
        t.close()


def test_it_job_control_and_raw_mode(busybox):
    t = Pty(busybox, "run", "-it", "busybox", "sh")
    try:
        t.expect("#", 15)
        # Ctrl-D ends cat's input, and at an empty prompt ends the shell, as in a terminal
        t.send("cat\r")
        time.sleep(0.3)
        t.send("typed\r")
        t.expect("typed", 5)
        t.send(b"\x04")  # ends cat
        time.sleep(0.3)
        t.send("echo back-$((1+1))\r")
        t.expect("back-2", 5)
        t.expect("# ", 5)
        time.sleep(0.2)
        t.send(b"\x04")  # ends sh
        assert t.wait(10) == 0
    finally:
        t.close()


def test_t_without_i_has_a_tty(busybox):
    p = busybox("run", "-t", "busybox", "tty")
    assert p.stdout.strip() == "/dev/pts/0"
    p = busybox("run", "-t", "busybox", "sh", "-c", "test -t 0 && test -t 1 && echo both")
    assert "both" in p.stdout
    p = busybox("run", "busybox", "sh", "-c", "test -t 1 || echo notty")
    assert p.stdout == "notty\n"


def test_t_exit_code_and_console(busybox):
    p = busybox("run", "-t", "busybox", "sh", "-c", "test -c /dev/console && exit 7",
                check=False)
    assert p.returncode == 7


def test_it_detached_then_exec_and_stop(busybox):
    cid = busybox("run", "-dit", "--name", "bg", "busybox", "sh").stdout.strip()
    wait_for(lambda: state(busybox, "bg")["Status"] == "running", 10)
    time.sleep(0.5)
    # a detached -it shell keeps running (its stdin stays open)
    assert state(busybox, "bg")["Status"] == "running"
    assert busybox("exec", "bg", "echo", "hi").stdout == "hi\n"
    busybox("stop", "-t", "1", "bg")
    wait_exited(busybox, cid)
