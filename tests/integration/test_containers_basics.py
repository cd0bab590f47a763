"""`rocker run` basics: output, exit codes, the command forms, and the run options."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.integration.helpers import one_line_error, ps_json, run_d, wait_for, wait_running


def test_run_echo_prints_hello(busybox):
    p = busybox("run", "busybox", "echo", "hello")
    assert p.stdout == "hello\n"
    assert p.stderr == ""


def test_exit_code_propagates(busybox):
    p = busybox("run", "busybox", "sh", "-c", "exit 42", check=False)
    assert p.returncode == 42
    assert p.stderr == ""


def test_command_not_found_is_127_with_one_line(busybox):
    p = busybox("run", "busybox", "no-such-command", check=False)
    assert p.returncode == 127
    err = one_line_error(p)
    assert "no-such-command" in err
    # nothing is left running, and the failed container did not start anything
    assert not ps_json(busybox)


def test_command_not_executable_is_126(busybox):
    p = busybox("run", "busybox", "/etc/passwd", check=False)
    assert p.returncode == 126
    assert "/etc/passwd" in one_line_error(p)


def test_directory_as_command_is_126(busybox):
    p = busybox("run", "busybox", "/etc", check=False)
    assert p.returncode == 126
    one_line_error(p)


def test_killed_by_signal_is_128_plus_n(busybox):
    # PID 1 ignores signals sent from inside its namespace; the host's kill reaches it
    proc = busybox.popen("run", "--name", "sig", "busybox", "sleep", "30",
                         stdout=-1, stderr=-1)
    try:
        wait_running(busybox, "sig")
        busybox("kill", "-s", "KILL", "sig")
        assert proc.wait(timeout=15) == 137
        assert busybox("wait", "sig").stdout.strip() == "137"
        # any other signal: seen through exec (the exec'd shell is not PID 1, so it dies of it)
        busybox("run", "-d", "--name", "sig2", "busybox", "sleep", "30")
        wait_running(busybox, "sig2")
        p = busybox("exec", "sig2", "sh", "-c", "kill -USR1 $$", check=False)
        assert p.returncode == 128 + signal.SIGUSR1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_child_killed_by_signal_reports_128_plus_n_in_shell(busybox):
    p = busybox("run", "busybox", "sh", "-c", 'sh -c "kill -9 \\$\\$"; echo $?')
    assert p.stdout.strip() == "137"


def test_original_image_option_with_lone_string_runs_through_sh(busybox):
    p = busybox("run", "--image", "busybox", "ls -ld /etc")
    assert p.stdout.startswith("d")
    assert p.stdout.rstrip().endswith("/etc")
    # a lone string is `/bin/sh -c`: shell syntax works
    p = busybox("run", "--image", "busybox", "echo a && echo b")
    assert p.stdout == "a\nb\n"
    # the Docker form with a lone string runs through sh too
    p = busybox("run", "busybox", "echo $((1+2))")
    assert p.stdout == "3\n"


def test_several_args_are_an_exact_argv(busybox):
    p = busybox("run", "busybox", "sh", "-c", 'echo "$1"; echo $#', "x", "a  b")
    assert p.stdout == "a  b\n1\n"
    p = busybox("run", "busybox", "printf", "[%s]\n", "one two", "*", "$HOME")
    assert p.stdout == "[one two]\n[*]\n[$HOME]\n"


def test_no_command_and_no_image_cmd_is_an_error(busybox):
    p = busybox("run", "busybox", check=False)
    assert p.returncode != 0
    one_line_error(p)


def test_image_cmd_default_and_entrypoint(busybox):
    busybox("run", "--name", "c", "busybox", "true")
    busybox("commit", "-c", 'CMD ["echo", "from-cmd"]', "c", "withcmd:1")
    assert busybox("run", "--rm", "withcmd:1").stdout == "from-cmd\n"
    # arguments replace Cmd
    assert busybox("run", "--rm", "withcmd:1", "echo", "mine").stdout == "mine\n"
    # --entrypoint replaces the entrypoint; with no args the image's Cmd is not used
    p = busybox("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entry")
    assert p.stdout == "via entry\n"
    p = busybox("run", "--rm", "--entrypoint", "hostname", "-h", "ephost", "withcmd:1")
    assert p.stdout == "ephost\n"


def test_image_entrypoint_plus_args(busybox):
    busybox("run", "--name", "c", "busybox", "true")
    busybox("commit", "-c", 'ENTRYPOINT ["echo", "ep"]', "c", "withep:1")
    assert busybox("run", "--rm", "withep:1", "x", "y").stdout == "ep x y\n"


def test_env_options(busybox, tmp_path):
    envf = tmp_path / "env.list"
    envf.write_text("# comment\nFROMFILE=yes\n\nOVER=file\nHOSTPASS\n")
    busybox.env["HOSTVAR"] = "from-host"
    busybox.env["HOSTPASS"] = "via-file"
    try:
        p = busybox("run", "--env-file", str(envf), "-e", "K=V", "-e", "HOSTVAR",
                    "-e", "OVER=cli", "-e", "NOT_ON_HOST_XYZ", "-e", "SP=a b",
                    "busybox", "env")
    finally:
        del busybox.env["HOSTVAR"]
        del busybox.env["HOSTPASS"]
    env = dict(line.split("=", 1) for line in p.stdout.splitlines())
    assert env["K"] == "V"
    assert env["HOSTVAR"] == "from-host"
    assert env["FROMFILE"] == "yes"
    assert env["HOSTPASS"] == "via-file"
    assert env["OVER"] == "cli"
    assert env["SP"] == "a b"
    assert "NOT_ON_HOST_XYZ" not in env
    assert env["PATH"].startswith("/usr/local/sbin")
    assert "HOME" in env
    # the host's environment does not leak in
    assert "ROCKER_ROOT" not in env


def test_env_invalid_is_rejected(busybox):
    p = busybox("run", "-e", "=x", "busybox", "true", check=False)
    assert p.returncode != 0
    one_line_error(p)
    assert not ps_json(busybox, "-a")


def test_workdir_created_if_missing(busybox):
    assert busybox("run", "-w", "/new/dir", "busybox", "pwd").stdout == "/new/dir\n"
    assert busybox("run", "-w", "/tmp", "busybox", "pwd").stdout == "/tmp\n"
    p = busybox("run", "-w", "relative", "busybox", "pwd", check=False)
    assert p.returncode != 0
    one_line_error(p)


@pytest.mark.parametrize("user,expect", [
    ("1000", "1000 0"),
    ("1000:1001", "1000 1001"),
    ("nobody", "65534 65534"),
    ("www-data", "33 33"),
    ("0", "0 0"),
])
def test_user_option(busybox, user, expect):
    p = busybox("run", "-u", user, "busybox", "sh", "-c", "echo $(id -u) $(id -g)")
    assert p.stdout.strip() == expect


def test_user_name_shows_in_id(busybox):
    assert "uid=65534(nobody)" in busybox("run", "-u", "nobody", "busybox", "id").stdout


def test_unknown_user_is_125_with_clear_error(busybox):
    p = busybox("run", "-u", "no-such-user", "busybox", "id", check=False)
    assert p.returncode == 125
    err = one_line_error(p)
    assert "no-such-user" in err
    p = busybox("run", "-u", "nobody:no-such-group", "busybox", "id", check=False)
    assert p.returncode == 125
    assert "no-such-group" in one_line_error(p)


def test_hostname_option_and_default(busybox):
    assert busybox("run", "-h", "myhost", "busybox", "hostname").stdout == "myhost\n"
    assert busybox("run", "--hostname", "h2", "busybox", "cat", "/etc/hostname").stdout == "h2\n"
    cid = run_d(busybox, "busybox", "hostname")
    assert busybox("wait", cid).stdout.strip() == "0"
    assert busybox("logs", cid).stdout == cid[:12] + "\n"


def test_labels_filter(busybox):
    a = run_d(busybox, "-l", "team=a", "--label", "tier=web", "busybox", "sleep", "30")
    b = run_d(busybox, "-l", "team=b", "busybox", "sleep", "30")
    assert busybox("ps", "-q", "--filter", "label=team=a").stdout.split() == [a[:12]]
    assert busybox("ps", "-q", "--filter", "label=team=b").stdout.split() == [b[:12]]
    assert sorted(busybox("ps", "-q", "--filter", "label=team").stdout.split()) == sorted(
        [a[:12], b[:12]])
    assert busybox("ps", "-q", "--filter", "label=tier=web").stdout.split() == [a[:12]]
    assert busybox("ps", "-q", "--filter", "label=team=c").stdout.split() == []
    rows = ps_json(busybox, "--filter", "label=team=a")
    assert rows[0]["Labels"] == {"team": "a", "tier": "web"}


def test_stdin_pipe_with_i(busybox):
    p = busybox("run", "-i", "busybox", "cat", input="hi\n")
    assert p.stdout == "hi\n"
    big = "".join(f"line {i}\n" for i in range(20000))
    p = busybox("run", "-i", "busybox", "wc", "-l", input=big)
    assert p.stdout.strip() == "20000"


def test_stdin_without_i_is_not_connected(busybox):
    p = busybox("run", "busybox", "cat", input="should not arrive\n", timeout=20)
    assert p.returncode == 0
    assert p.stdout == ""


def test_stderr_goes_to_stderr(busybox):
    p = busybox("run", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert p.stdout == "out\n"
    assert p.stderr == "err\n"


def test_output_without_trailing_newline_and_binary(busybox):
    p = busybox("run", "busybox", "printf", "no-newline")
    assert p.stdout == "no-newline"
    p = busybox("run", "busybox", "sh", "-c", "head -c 100000 /dev/zero | wc -c")
    assert p.stdout.strip() == "100000"


def test_sigterm_to_foreground_run_reaches_container(busybox):
    proc = busybox.popen("run", "--name", "fg", "busybox", "sh", "-c",
                         "trap 'echo got-term; exit 143' TERM; echo ready; "
                         "while :; do sleep 0.1; done",
                         stdout=-1, stderr=-1, text=True)
    try:
        wait_running(busybox, "fg")
        line = proc.stdout.readline()
        assert line == "ready\n"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert "got-term" in out
        assert proc.returncode == 143
        assert time.monotonic() - t0 < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigint_to_foreground_run_reaches_container(busybox):
    # PID 1 only receives signals it handles (as in Docker without --init): trap INT
    proc = busybox.popen("run", "--name", "fgi", "busybox", "sh", "-c",
                         "trap 'echo got-int; exit 130' INT; echo ready; "
                         "while :; do sleep 0.1; done",
                         stdout=-1, stderr=-1, text=True)
    try:
        wait_running(busybox, "fgi")
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
        assert "got-int" in out
        assert proc.returncode == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_unknown_image_is_clear_error(busybox):
    p = busybox("run", "nosuchimage", "true", check=False)
    assert p.returncode != 0
    assert "nosuchimage" in one_line_error(p)
    assert not os.listdir(os.path.join(busybox.root, "containers")) if os.path.isdir(
        os.path.join(busybox.root, "containers")) else True


def test_failed_start_leaves_nothing(busybox):
    for _ in range(2):
        p = busybox("run", "--name", "bad", "busybox", "no-such-cmd", check=False)
        assert p.returncode == 127
    # the name is free again, and no record is left
    assert busybox("ps", "-aq").stdout == ""
    p = busybox("run", "-d", "--name", "bad", "busybox", "no-such-cmd", check=False)
    assert p.returncode == 127
    assert busybox("ps", "-aq").stdout == ""
    wait_for(lambda: not [d for d in os.listdir(os.path.join(busybox.root, "containers"))],
             5, what="no container folders")
