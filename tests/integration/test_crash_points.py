"""Crashes at the worst moments of create and remove (rocker.util.faults: ROCKER_TEST_CRASH_AT
kills the command with SIGKILL at a named point), then the next command must finish or undo
the work at once: no ghost that apply ignores, no name blocked by a container nobody can see,
nothing left on the host."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap

import pytest

from tests.integration.helpers import (assert_fully_removed, container_dirs, ps_json, run_d,
                                       wait_running)


def crashed(r, point: str, *args: str) -> subprocess.CompletedProcess:
    """Run `rocker ARGS` and have it killed at `point`; it must really have died there."""
    env = dict(r.env, ROCKER_TEST_CRASH_AT=point)
    p = subprocess.run(r.argv(*args), env=env, capture_output=True, text=True, timeout=60,
                       cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                           os.path.abspath(__file__)))))
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stdout, p.stderr)
    return p


def _all_ids(r) -> list[str]:
    return [c.split("-", 1)[-1] if c.startswith(".") else c for c in container_dirs(r)]


# ---------------------------------------------------------------------------------------------
# create: a name claimed, the staging folder not renamed yet


def test_a_claim_whose_creator_died_frees_the_name_at_once(busybox):
    crashed(busybox, "create:claimed", "run", "-d", "--name", "web", "busybox", "sleep", "60")
    left = container_dirs(busybox)
    assert len(left) == 1 and left[0].startswith(".new-"), left
    # not a container for any command
    assert busybox("ps", "-aq").stdout == ""
    # the name is free now, not in a minute
    cid = run_d(busybox, "--name", "web", "busybox", "sleep", "60")
    wait_running(busybox, "web")
    # and the dead creator's staging folder went with that command's garbage collection
    assert container_dirs(busybox) == [cid]
    busybox("rm", "-f", "web")
    assert_fully_removed(busybox, cid)


def test_a_live_creators_claim_still_holds(busybox, tmp_path):
    """The holder check is not a free-for-all: a claim whose creator lives is in use."""
    from rocker.containers import records
    from rocker.paths import Paths
    paths = Paths(busybox.root, busybox.runroot)
    fake = "f" * 64
    staging = os.path.join(busybox.root, "containers", f".new-{fake}")
    os.makedirs(staging)
    records.write_creator(staging)      # this test process: alive
    records.claim_name(paths, "held", fake)
    p = busybox("run", "-d", "--name", "held", "busybox", "true", check=False)
    assert p.returncode == 125 and "already in use" in p.stderr, p.stderr
    os.unlink(os.path.join(staging, records.CREATOR))
    os.rmdir(staging)
    os.unlink(os.path.join(busybox.root, "names", "held"))


# ---------------------------------------------------------------------------------------------
# rm -f: crashed after the record says "removing", after the cgroup went, after the rename


@pytest.mark.parametrize("point", ["remove:marked", "remove:released", "remove:renamed"])
def test_rm_f_killed_half_way_is_finished_by_the_next_rm_f(busybox, point):
    cid = run_d(busybox, "--name", "web", "busybox", "sleep", "60")
    wait_running(busybox, "web")
    crashed(busybox, point, "rm", "-f", "web")
    if point != "remove:renamed":
        # still listed, as what it is, and reachable by its name
        rows = ps_json(busybox, "-a")
        assert [r["Name"] for r in rows] == ["web"], rows
        assert rows[0]["Status"] == "Removing", rows
        busybox("rm", "-f", "web")
    else:
        # gone for every command; the name is free; the leftover is garbage
        assert busybox("ps", "-aq").stdout == ""
        p = busybox("rm", "-f", "web", check=False)
        assert p.returncode == 1 and "no such container" in p.stderr, p.stderr
        # the next create's garbage collection removes it at once: its remover is gone
        busybox("run", "--rm", "--name", "web", "busybox", "true")
    assert_fully_removed(busybox, cid)
    assert busybox("ps", "-aq").stdout == ""


# ---------------------------------------------------------------------------------------------
# apply: a replace or delete killed half-way through its removal


STACK = """\
    name: crashy
    containers:
      web:
        image: busybox
        command: [sleep, "{n}"]
        stop_timeout: 1
"""


def _stack(tmp_path, n: int) -> str:
    p = tmp_path / "crashy.yaml"
    p.write_text(textwrap.dedent(STACK.format(n=n)))
    return str(p)


def _members(r) -> list[tuple[str, str]]:
    return sorted((row["Name"], row["State"]) for row in ps_json(r, "-a"))


@pytest.mark.parametrize("point", ["remove:marked", "remove:released", "remove:renamed"])
def test_apply_killed_in_a_replace_is_finished_by_the_next_apply(busybox, tmp_path, point):
    f = _stack(tmp_path, 100)
    busybox("apply", "-y", "-f", f)
    old = json.loads(busybox("inspect", "crashy-web-1").stdout)[0]["Id"]
    f = _stack(tmp_path, 200)
    crashed(busybox, point, "apply", "-y", "-f", f)
    # the plan says what it will do: finish the removal (if the record is left), create anew
    d = busybox("diff", "-o", "json", "-f", f, check=False)
    assert d.returncode == 2, d.stderr
    plan = json.loads(d.stdout)
    kinds = [(a["action"], a.get("interrupted", False)) for a in plan["actions"]]
    if point == "remove:renamed":
        assert kinds == [("create", False)], kinds
    else:
        assert kinds == [("remove", True), ("create", False)], kinds
    busybox("apply", "-y", "-f", f)
    assert _members(busybox) == [("crashy-web-1", "running")]
    new = json.loads(busybox("inspect", "crashy-web-1").stdout)[0]
    assert new["Id"] != old and new["Args"] == ["200"]
    assert busybox("diff", "-f", f, check=False).returncode == 0
    assert_fully_removed(busybox, old)
    busybox("delete", "-y", "-f", f)
    assert busybox("ps", "-aq").stdout == ""


def test_delete_killed_half_way_is_finished_by_the_next_delete(busybox, tmp_path):
    f = _stack(tmp_path, 100)
    busybox("apply", "-y", "-f", f)
    old = json.loads(busybox("inspect", "crashy-web-1").stdout)[0]["Id"]
    crashed(busybox, "remove:marked", "delete", "-y", "-f", f)
    assert _members(busybox) == [("crashy-web-1", "removing")]
    busybox("delete", "-y", "--stack", "crashy")
    assert busybox("ps", "-aq").stdout == ""
    assert_fully_removed(busybox, old)


# ---------------------------------------------------------------------------------------------
# records of the wrong shape (valid JSON), a garbled image reference table


@pytest.mark.parametrize("bad", ["[]", "null", '"text"', "CONFIG_NULL", "STATE_WEIRD",
                                 "NAME_LIST"])
def test_a_record_of_the_wrong_shape_is_listed_as_broken_and_rm_f_removes_it(busybox, bad):
    cid = busybox("create", "--name", "bad", "busybox", "true").stdout.strip()
    good = busybox("create", "--name", "good", "busybox", "true").stdout.strip()
    busybox("import", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "base-image", "busybox.tar"), "other")
    path = os.path.join(busybox.root, "containers", cid, "container.json")
    rec = json.load(open(path))
    if bad == "CONFIG_NULL":
        rec["config"] = None
    elif bad == "STATE_WEIRD":
        rec["state"]["status"] = "weird"
    elif bad == "NAME_LIST":
        rec["name"] = ["bad"]
    else:
        rec = json.loads(bad)
    with open(path, "w") as f:
        json.dump(rec, f)
    for args in (["ps"], ["ps", "-a"]):
        p = busybox(*args)
        assert f"container {cid[:12]}" in p.stderr and "rm -f" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
    assert "good" in busybox("ps", "-a").stdout
    busybox("inspect", "good")
    for args in (["inspect", "bad"], ["stop", "bad"], ["start", "bad"]):
        p = busybox(*args, check=False)
        assert p.returncode == 1 and "corrupt record" in p.stderr, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    busybox("rmi", "-f", "other")
    busybox("rm", "-f", "bad")
    assert not os.path.lexists(os.path.join(busybox.root, "names", "bad"))
    assert container_dirs(busybox) == [good]
    assert_fully_removed(busybox, cid)
    busybox("run", "--rm", "--name", "bad", "busybox", "true")


@pytest.mark.parametrize("garble", ["{garbled", "[]", '{"refs": {"busybox:latest": 5}}'])
def test_a_garbled_reference_table_says_how_to_mend_and_repair_mends_it(busybox, garble):
    busybox("tag", "busybox", "bb:2")
    repo = os.path.join(busybox.root, "images", "repositories.json")
    with open(repo, "w") as f:
        f.write(garble)
    for args in (["images"], ["run", "--rm", "busybox", "true"], ["tag", "busybox", "x"]):
        p = busybox(*args, check=False)
        assert p.returncode in (1, 125), (args, p.returncode)
        assert "rocker image repair" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    out = busybox("image", "repair").stdout
    assert "Set the corrupt table aside" in out and "2 references" in out, out
    assert [n for n in os.listdir(os.path.dirname(repo)) if ".corrupt-" in n]
    rows = busybox("images").stdout
    assert "bb" in rows and "busybox" in rows
    busybox("run", "--rm", "busybox", "true")
    assert "intact" in busybox("image", "repair").stdout


# ---------------------------------------------------------------------------------------------
# every verb at once on one container


VERBS = [["stop", "-t", "1", "c"], ["rm", "-f", "c"], ["exec", "c", "echo", "hi"],
         ["kill", "c"], ["restart", "-t", "1", "c"], ["wait", "c"], ["logs", "c"],
         ["inspect", "c"]]


def test_every_verb_racing_rm_f_ends_in_an_ordinary_outcome_and_leaves_nothing(busybox):
    """stop, rm -f, exec, kill, restart, wait, logs and inspect at once, 8 rounds: no internal
    error (70), one line at most, and after each rm -f nothing of any round is left."""
    import glob
    cids = []
    for _ in range(8):
        cid = run_d(busybox, "--name", "c", "busybox", "sh", "-c",
                    "while true; do echo x; sleep 0.1; done")
        cids.append(cid)
        procs = [(v, busybox.popen(*v, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)) for v in VERBS]
        for v, p in procs:
            _out, err = p.communicate(timeout=120)
            assert p.returncode != 70 and "Traceback" not in err, (v, p.returncode, err)
            assert "Errno" not in err, (v, err)
            assert len(err.strip().splitlines()) <= 1, (v, err)
        busybox("rm", "-f", "c", check=False)
        assert container_dirs(busybox) == []
    for cid in cids:
        assert_fully_removed(busybox, cid)
        assert glob.glob(f"/sys/fs/cgroup/*/rocker/{cid}") == []


def test_restarts_racing_stop_and_kill_never_lose_the_runtime_files(busybox):
    """Two restarts, a stop and a kill at once, 10 rounds: a stop settling a container must not
    take the runtime files from under a start beside it (the new monitor then failed with
    "monitor: [Errno 2] No such file or directory")."""
    cid = run_d(busybox, "--name", "c", "busybox", "sleep", "1000")
    verbs = [["restart", "-t", "0", "c"], ["stop", "-t", "0", "c"], ["kill", "c"],
             ["restart", "-t", "0", "c"]]
    for _ in range(10):
        procs = [(v, busybox.popen(*v, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)) for v in verbs]
        for v, p in procs:
            _out, err = p.communicate(timeout=120)
            assert "Errno" not in err and "died" not in err, (v, err)
            assert p.returncode in (0, 1), (v, p.returncode, err)
    assert not os.path.exists(os.path.join(busybox.root, "containers", cid, "monitor.err"))
    busybox("rm", "-f", "c")
    assert_fully_removed(busybox, cid)
