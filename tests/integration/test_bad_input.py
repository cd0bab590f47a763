"""Bad input through the public CLI (issue 8, items 1 and 7): refused with one line naming the
option and the range, with Docker's exit codes (125 from run/create/exec), nothing left behind;
and a value that used to make the CLI expand a range into a set (24 GB) is refused at once."""

from __future__ import annotations

import resource

import pytest

from tests.integration.helpers import Pty, inspect, one_line_error, run_d, state, wait_running

AS_LIMIT = 1_000_000_000


def capped() -> None:
    """In the child: an address-space cap, so the old behaviour (a set of 10**11 CPUs) would
    fail with MemoryError instead of calling the host's OOM killer."""
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))


@pytest.mark.parametrize("args,needle", [
    (["--cpuset-cpus", "0-99999999999"], "invalid --cpuset-cpus '0-99999999999': CPU "),
    (["--cpuset-mems", "0-99999999999"], "invalid --cpuset-mems '0-99999999999': memory node "),
    (["-m", "99999999999999999999999999g"],
     "invalid --memory '99999999999999999999999999g': too large"),
    (["-u", "99999999999"],
     "invalid --user '99999999999': a uid must be between 0 and 2147483647"),
    (["-e", "A B=1"], "invalid --env 'A B=1': the variable name 'A B' contains whitespace"),
    (["-e", "=x"], "invalid --env '=x': the variable name is empty"),
    (["--stop-timeout", "-5"], "invalid --stop-timeout '-5': must be between 0 and 604800"),
    (["--pids-limit", "99999999"], "invalid --pids-limit '99999999': must be between 1 and"),
    (["--cpu-shares", "abc"], "invalid --cpu-shares 'abc': expected a whole number"),
    (["--health-cmd", "true", "--health-interval", "nan"], "invalid --health-interval 'nan'"),
    (["--restart", "on-failure:99999999999"], "the count must be a number from 0 to"),
])
def test_run_and_create_refuse_bad_values_with_125(busybox, args, needle):
    for verb in ("run", "create"):
        p = busybox(verb, *args, "busybox", "true", check=False, preexec_fn=capped)
        err = one_line_error(p)
        assert p.returncode == 125, (verb, p.returncode, err)
        assert needle in err, err
        assert "--memory-swap" not in err
    assert busybox("ps", "-aq").stdout == ""


@pytest.mark.parametrize("verb", ["run", "create", "exec"])
def test_usage_errors_of_run_create_exec_exit_125(busybox, verb):
    p = busybox(verb, "--nope", "busybox", "true", check=False)
    assert p.returncode == 125, p.stderr
    assert "No such option" in p.stderr


def test_rockers_own_errors_from_run_and_exec_exit_125(busybox):
    p = busybox("run", "nosuchimage", check=False)
    assert p.returncode == 125 and "no such image" in one_line_error(p)
    p = busybox("exec", "nosuch", "true", check=False)
    assert p.returncode == 125 and "no such container" in one_line_error(p)
    run_d(busybox, "--name", "x", "--stop-timeout", "0", "busybox", "sleep", "1000")
    for args, needle in ((["-u", "99999999999"], "a uid must be between 0 and 2147483647"),
                         (["-e", "A B=1"], "contains whitespace"),
                         (["-u", "a b"], "use uid[:gid] or name[:group]")):
        p = busybox("exec", *args, "x", "true", check=False)
        assert p.returncode == 125 and needle in one_line_error(p), (args, p.stderr)
    p = busybox("exec", "x", "sh", "-c", "exit 3", check=False)
    assert p.returncode == 3   # the command's own code is not mapped


def test_other_commands_keep_their_codes(busybox):
    assert busybox("stop", "--nope", "x", check=False).returncode == 2
    assert busybox("start", "--nope", "x", check=False).returncode == 2
    assert busybox("start", "nosuch", check=False).returncode == 1
    busybox("create", "--name", "nf", "busybox", "nosuchcmd")
    p = busybox("start", "nf", check=False)   # set-up failures keep Docker's run codes
    assert p.returncode == 127 and "nosuchcmd" in one_line_error(p)
    p = busybox("diff", "--nope", check=False)
    assert p.returncode == 1, p.stderr   # 2 is diff's "changes"


@pytest.mark.parametrize("verb", ["stop", "restart"])
def test_negative_stop_timeouts_are_refused_not_a_sigkill(busybox, verb):
    run_d(busybox, "--name", "s", "--stop-timeout", "0", "busybox", "sleep", "1000")
    pid = wait_running(busybox, "s")["Pid"]
    p = busybox(verb, "-t", "-5", "s", check=False)
    assert p.returncode == 1
    assert one_line_error(p) == ("rocker: invalid -t/--time '-5': use -1 (wait without a "
                                 "limit) or 0 to 604800 seconds")
    st = state(busybox, "s")
    assert st["Status"] == "running" and st["Pid"] == pid


def test_stop_minus_one_waits_without_a_limit(busybox):
    # a container whose own stop timeout is 0 (an immediate SIGKILL), and that takes a while to
    # exit after SIGTERM: -t -1 waits for it, so its own exit code is kept (not 137)
    run_d(busybox, "--name", "slow", "--stop-timeout", "0", "busybox", "sh", "-c",
          "trap 'sleep 2; exit 3' TERM; while :; do sleep 0.1; done")
    wait_running(busybox, "slow")
    busybox("stop", "-t", "-1", "slow", timeout=60)
    st = state(busybox, "slow")
    assert st["Status"] == "exited" and st["ExitCode"] == 3, st


def test_logs_tail_must_be_all_or_a_count(busybox):
    busybox("run", "--name", "l", "busybox", "sh", "-c", "echo a; echo b; echo c")
    p = busybox("logs", "--tail", "-3", "l", check=False)
    assert p.returncode == 1 and p.stdout == ""
    assert one_line_error(p) == ("rocker: invalid --tail '-3': use 'all' or a number of lines, "
                                 "0 or more")
    assert busybox("logs", "--tail", "1", "l").stdout == "c\n"
    assert busybox("logs", "--tail", "0", "l").stdout == ""
    assert busybox("logs", "--tail", "9" * 40, "l").stdout == "a\nb\nc\n"


def _stack(tmp_path) -> str:
    f = tmp_path / "s.yaml"
    f.write_text("name: ask\ncontainers:\n  box:\n    image: busybox\n"
                 "    command: [sleep, '1000']\n    stop_timeout: 0\n")
    return str(f)


def test_apply_prompt_answered_no_is_cancelled_with_1(busybox, tmp_path):
    f = _stack(tmp_path)
    t = Pty(busybox, "apply", "-f", f)
    try:
        t.expect("Do you want to apply these changes?", 30)
        t.send("n\r")
        t.expect("Apply cancelled.", 10)
        assert t.wait(10) == 1
        assert b"Aborted" not in t.buf
    finally:
        t.close()
    assert busybox("ps", "-aq").stdout == ""


def test_delete_prompt_answered_no_is_cancelled_with_1(busybox, tmp_path):
    f = _stack(tmp_path)
    busybox("apply", "-f", f, "-y")
    cid = inspect(busybox, "ask-box-1")["Id"]
    t = Pty(busybox, "delete", "-f", f)
    try:
        t.expect("Do you want to remove everything stack ask owns?", 30)
        t.send("n\r")
        t.expect("Delete cancelled.", 10)
        assert t.wait(10) == 1
    finally:
        t.close()
    assert inspect(busybox, "ask-box-1")["Id"] == cid
