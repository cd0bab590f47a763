"""Stacks on a real host (root): apply, converge, change each kind of field, break things
behind rocker's back (kill -9, rm -f, a cgroup file written by hand) and check diff/apply."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import REPO

EXAMPLE_YAML = os.path.join(REPO, "examples", "web.yaml")
EXAMPLE_TOML = os.path.join(REPO, "examples", "web.toml")
BASE_TAR = os.path.join(REPO, "base-image", "busybox.tar")
ENV_FILE = os.path.join(REPO, "examples", "web.env")
MEMBERS = ["demo-web-1", "demo-worker-1", "demo-worker-2", "demo-init-1", "demo-db-1"]


def stack_file(tmp_path, *edits: tuple[str, str], name: str = "web.yaml",
               source: str = EXAMPLE_YAML) -> str:
    """The example with absolute paths, and `edits` (old, new) applied."""
    with open(source) as f:
        text = f.read()
    text = text.replace("../base-image/busybox.tar", BASE_TAR).replace('"web.env"', f'"{ENV_FILE}"')
    text = text.replace("env_file: web.env", f"env_file: {ENV_FILE}")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def inspect(rocker, name: str) -> dict:
    return json.loads(rocker("inspect", name).stdout)[0]


def ids_pids(rocker) -> dict[str, tuple[str, int | None, str]]:
    out = {}
    for n in MEMBERS:
        st = inspect(rocker, n)
        out[n] = (st["Id"], st["State"]["Pid"], st["State"]["StartedAt"])
    return out


def cgroup_file(cid: str, name: str) -> str:
    for base in ("/sys/fs/cgroup/memory/rocker", "/sys/fs/cgroup/rocker"):
        if os.path.isdir(base):
            return os.path.join(base, cid, name)
    pytest.skip("no rocker cgroup hierarchy found")


def memory_limit_file(cid: str) -> str:
    if os.path.isdir("/sys/fs/cgroup/memory/rocker"):
        return cgroup_file(cid, "memory.limit_in_bytes")
    return cgroup_file(cid, "memory.max")


@pytest.fixture
def up(rocker, tmp_path):
    """The example stack applied on a private root."""
    p = rocker("apply", "-f", EXAMPLE_YAML, "--wait", timeout=120)
    assert "Apply complete: 8 added" in p.stdout, p.stdout
    return rocker


def test_apply_brings_the_example_up_and_converges(up):
    rocker = up
    ps = json.loads(rocker("ps", "-a", "--format", "json").stdout)
    by_name = {r["Name"]: r for r in ps}
    assert set(by_name) == set(MEMBERS)
    for n in ("demo-web-1", "demo-worker-1", "demo-worker-2"):
        assert by_name[n]["State"] == "running"
        assert by_name[n]["Stack"] == "demo"
    assert by_name["demo-web-1"]["Health"] == "healthy"
    assert by_name["demo-init-1"]["State"] == "exited" and by_name["demo-init-1"]["ExitCode"] == 0
    before = ids_pids(rocker)
    p = rocker("apply", "-f", EXAMPLE_YAML)
    assert p.stdout.startswith("No changes.")
    assert ids_pids(rocker) == before
    for f in (EXAMPLE_YAML, EXAMPLE_TOML):
        d = rocker("diff", "-f", f, check=False)
        assert d.returncode == 0 and d.stdout.startswith("No changes."), d.stdout


def test_yaml_and_toml_twins_plan_the_same(rocker):
    a = json.loads(rocker("diff", "-f", EXAMPLE_YAML, "-o", "json", check=False).stdout)
    b = json.loads(rocker("diff", "-f", EXAMPLE_TOML, "-o", "json", check=False).stdout)
    assert a["actions"] == b["actions"] and a["summary"] == b["summary"]
    assert a["summary"] == {"add": 8, "change": 0, "replace": 0, "remove": 0}
    assert "not-a-real-token" not in json.dumps(a)


def test_memory_change_is_updated_live_without_restart(up, tmp_path):
    rocker = up
    before = inspect(rocker, "demo-web-1")
    f = stack_file(tmp_path, ("memory: 64m", "memory: 96m"))
    d = rocker("diff", "-f", f, check=False)
    assert d.returncode == 2
    assert "~ update in place demo-web-1" in d.stdout
    assert "memory: 67108864 -> 100663296" in d.stdout
    assert "Plan: 0 to add, 1 to change, 0 to replace, 0 to remove." in d.stdout
    rocker("apply", "-f", f)
    after = inspect(rocker, "demo-web-1")
    assert after["Id"] == before["Id"] and after["State"]["Pid"] == before["State"]["Pid"]
    with open(memory_limit_file(after["Id"])) as fh:
        assert int(fh.read()) == 100663296
    assert rocker("diff", "-f", f, check=False).returncode == 0


def test_command_change_replaces_naming_command(up, tmp_path):
    rocker = up
    old = inspect(rocker, "demo-worker-1")["Id"]
    f = stack_file(tmp_path, ("sleep 5 & wait", "sleep 4 & wait"))
    d = rocker("diff", "-f", f, check=False)
    assert d.returncode == 2
    assert "-/+ replace demo-worker-1  (changed: command)" in d.stdout
    assert "# forces replacement" in d.stdout
    assert "Plan: 0 to add, 0 to change, 2 to replace, 0 to remove." in d.stdout
    rocker("apply", "-f", f)
    new = inspect(rocker, "demo-worker-1")
    assert new["Id"] != old and new["State"]["Running"]
    assert rocker("diff", "-f", f, check=False).returncode == 0


def test_kill_9_is_started_again_with_the_evidence(up):
    rocker = up
    st = inspect(rocker, "demo-worker-1")
    os.kill(st["State"]["Pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while inspect(rocker, "demo-worker-1")["State"]["Running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    d = rocker("diff", "-f", EXAMPLE_YAML, check=False)
    assert d.returncode == 2
    assert "> start demo-worker-1" in d.stdout and "exited with code 137 (SIGKILL)" in d.stdout
    rocker("apply", "-f", EXAMPLE_YAML)
    after = inspect(rocker, "demo-worker-1")
    assert after["Id"] == st["Id"] and after["State"]["Running"]
    assert after["State"]["Pid"] != st["State"]["Pid"]
    assert rocker("diff", "-f", EXAMPLE_YAML, check=False).returncode == 0


def test_rm_f_behind_our_back_is_recreated(up):
    rocker = up
    rocker("rm", "-f", "demo-worker-2")
    d = rocker("diff", "-f", EXAMPLE_YAML, check=False)
    assert "+ create demo-worker-2" in d.stdout
    rocker("apply", "-f", EXAMPLE_YAML)
    assert inspect(rocker, "demo-worker-2")["State"]["Running"]


def test_member_deleted_from_the_file_is_removed(up, tmp_path):
    rocker = up
    f = stack_file(tmp_path, ("replicas: 2 ", "replicas: 1 "))
    d = rocker("diff", "-f", f, check=False)
    # scaling 2 -> 1 keeps the first replica untouched, as Compose does
    assert "- remove demo-worker-2  (scaled away)" in d.stdout
    assert "demo-worker-1" not in d.stdout
    first = inspect(rocker, "demo-worker-1")["Id"]
    rocker("apply", "-f", f)
    names = {r["Name"] for r in json.loads(rocker("ps", "-a", "--format", "json").stdout)}
    assert names == {"demo-web-1", "demo-worker-1", "demo-init-1", "demo-db-1"}
    assert inspect(rocker, "demo-worker-1")["Id"] == first
    text = open(f).read()
    start = text.index("  init:")
    g = tmp_path / "noinit.yaml"
    g.write_text(text[:start])
    d = rocker("diff", "-f", str(g), check=False)
    assert "- remove demo-init-1  (no longer in the stack file)" in d.stdout
    rocker("apply", "-f", str(g))
    assert rocker("inspect", "demo-init-1", check=False).returncode != 0


def test_cgroup_written_by_hand_is_drift_and_fixed(up):
    rocker = up
    st = inspect(rocker, "demo-web-1")
    path = memory_limit_file(st["Id"])
    with open(path, "w") as fh:
        fh.write("134217728")
    d = rocker("diff", "-f", EXAMPLE_YAML, check=False)
    assert d.returncode == 2
    assert "memory: 134217728 (live) -> 67108864" in d.stdout
    rocker("apply", "-f", EXAMPLE_YAML)
    with open(path) as fh:
        assert int(fh.read()) == 67108864
    assert inspect(rocker, "demo-web-1")["State"]["Pid"] == st["State"]["Pid"]
    assert rocker("diff", "-f", EXAMPLE_YAML, check=False).returncode == 0


def test_unknown_key_fails_with_its_path_and_changes_nothing(up, tmp_path):
    rocker = up
    before = ids_pids(rocker)
    f = stack_file(tmp_path, ("    memory: 64m\n", "    memory: 64m\n    memroy: 1g\n"))
    for verb in ("diff", "apply"):
        p = rocker(verb, "-f", f, check=False)
        assert p.returncode == 1
        assert "containers.web.memroy: unknown field" in p.stderr
        assert f"{f}:" in p.stderr
    assert ids_pids(rocker) == before


def test_not_owned_is_refused_unless_adopt(busybox, tmp_path):
    rocker = busybox
    f = tmp_path / "s.yaml"
    f.write_text("name: solo\ncontainers:\n  box:\n    image: busybox\n"
                 "    command: [sleep, '1000']\n    stop_timeout: 0\n    network_mode: none\n")
    rocker("run", "-d", "--name", "solo-box-1", "--stop-timeout", "0", "--network", "none",
           "busybox", "sleep", "1000")
    p = rocker("apply", "-f", str(f), check=False)
    assert p.returncode == 1 and "--adopt" in p.stderr
    pid = inspect(rocker, "solo-box-1")["State"]["Pid"]
    p = rocker("apply", "-f", str(f), "--adopt")
    assert "= adopt solo-box-1" in p.stdout
    assert inspect(rocker, "solo-box-1")["State"]["Pid"] == pid
    assert rocker("diff", "-f", str(f), check=False).returncode == 0


def test_spec_dump_round_trips(up, tmp_path):
    rocker = up
    for fmt in ("yaml", "toml"):
        text = rocker("spec", "dump", "--stack", "demo", "--format", fmt).stdout
        p = tmp_path / f"dumped.{fmt}"
        p.write_text(text)
        d = rocker("diff", "-f", str(p), check=False)
        assert d.returncode == 0, d.stdout + d.stderr


def test_concurrent_applies_are_serialised(rocker, tmp_path):
    procs = [rocker.popen("apply", "-f", EXAMPLE_YAML, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sum("No changes." in o for o, _ in outs) == 1
    ps = json.loads(rocker("ps", "-a", "--format", "json").stdout)
    assert sorted(r["Name"] for r in ps) == sorted(MEMBERS)


def test_status_and_delete(up):
    rocker = up
    s = rocker("status", "-f", EXAMPLE_YAML).stdout
    assert "healthy" in s and "worker-2" in s
    p = rocker("delete", "-f", EXAMPLE_YAML)
    assert "- remove demo-web-1" in p.stdout and "Stack demo deleted: 5" in p.stdout
    assert "- remove network demo_default" in p.stdout, p.stdout
    assert json.loads(rocker("ps", "-a", "--format", "json").stdout) == []
    p = rocker("down", "--stack", "demo")
    assert "Nothing to delete" in p.stdout


# ---------------------------------------------------------------------------------------------
# shared image references, `changes`, unsupervised members, depends_on, exit codes


def small_stack(tmp_path, name: str = "solo", changes: str = "", command: str =
                "[sh, -c, \"trap 'exit 0' TERM; sleep 1000 & wait\"]",
                fname: str = "small.yaml", extra: str = "") -> str:
    p = tmp_path / fname
    p.write_text(f"name: {name}\nimages:\n  busybox:\n    import: {BASE_TAR}\n"
                 + (f"    changes: {changes}\n" if changes else "")
                 + f"containers:\n  box:\n    image: busybox\n    command: {command}\n"
                 f"    stop_timeout: 1\n{extra}")
    return str(p)


def test_shared_reference_converges_across_stacks_and_rocker_import(busybox, tmp_path):
    """The demo: `rocker import busybox.tar busybox`, then two stacks importing the same tar
    as busybox:latest; a manual re-import in between. Nobody re-imports or replaces anything."""
    rocker = busybox
    a = stack_file(tmp_path)
    b = small_stack(tmp_path, name="other")
    p = rocker("apply", "-f", a, "--wait", timeout=120)
    assert "import image" not in p.stdout, p.stdout      # `rocker import` made it already
    rocker("apply", "-f", b)
    before = ids_pids(rocker)
    other = inspect(rocker, "other-box-1")["Id"]
    rocker("import", BASE_TAR, "busybox")                 # again: a new image id
    for f in (a, b, a, b):
        p = rocker("apply", "-f", f)
        assert p.stdout.startswith("No changes."), p.stdout
    assert ids_pids(rocker) == before and inspect(rocker, "other-box-1")["Id"] == other
    rocker("delete", "-f", b)


def test_changes_edit_reimports_and_replaces(rocker, tmp_path):
    f = small_stack(tmp_path, changes='["ENV MODE=one"]')
    rocker("apply", "-f", f)
    old = inspect(rocker, "solo-box-1")["Id"]
    g = small_stack(tmp_path, changes='["ENV MODE=two"]', fname="two.yaml")
    d = rocker("diff", "-f", g, check=False)
    assert d.returncode == 2
    assert "~ re-import image busybox:latest  (its changes changed)" in d.stdout, d.stdout
    assert "-/+ replace solo-box-1  (changed: image)" in d.stdout
    rocker("apply", "-f", g)
    new = inspect(rocker, "solo-box-1")
    assert new["Id"] != old and "MODE=two" in new["Config"]["Env"]
    assert rocker("diff", "-f", g, check=False).returncode == 0
    # spelling of the changes does not count
    h = small_stack(tmp_path, changes='["env  MODE=two"]', fname="three.yaml")
    assert rocker("diff", "-f", h, check=False).returncode == 0
    rocker("delete", "-f", g)


def test_killed_monitor_is_found_and_the_member_restarted(up):
    rocker = up
    st = inspect(rocker, "demo-worker-1")
    mon = st["State"]["MonitorPid"]
    assert mon
    os.kill(mon, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while inspect(rocker, "demo-worker-1")["State"]["MonitorPid"] and time.monotonic() < deadline:
        time.sleep(0.1)
    ps = {r["Name"]: r for r in json.loads(rocker("ps", "--format", "json").stdout)}
    assert "(unsupervised)" in ps["demo-worker-1"]["Status"], ps["demo-worker-1"]
    d = rocker("diff", "-f", EXAMPLE_YAML, check=False)
    assert d.returncode == 2
    assert f"> restart demo-worker-1  (running unsupervised: monitor {mon} is gone)" in d.stdout
    assert "Plan: 0 to add, 1 to change, 0 to replace, 0 to remove." in d.stdout
    rocker("apply", "-f", EXAMPLE_YAML)
    after = inspect(rocker, "demo-worker-1")
    assert after["Id"] == st["Id"] and after["State"]["Running"]
    assert after["State"]["MonitorPid"] not in (0, mon)
    assert rocker("diff", "-f", EXAMPLE_YAML, check=False).returncode == 0


def test_depends_on_change_is_recorded_without_touching_containers(up, tmp_path):
    rocker = up
    before = ids_pids(rocker)
    f = stack_file(tmp_path, ("depends_on: {web: healthy}", "depends_on: {web: started}"))
    d = rocker("diff", "-f", f, check=False)
    assert d.returncode == 2
    assert "~ update in place demo-worker-1  (changed: depends_on (recorded only" in d.stdout
    assert 'depends_on.web: "healthy" -> "started"' in d.stdout
    rocker("apply", "-f", f)
    assert ids_pids(rocker) == before
    dump = rocker("spec", "dump", "--stack", "demo").stdout
    assert "web: started" in dump and "healthy" not in dump.split("worker:")[1].split("init")[0]
    assert rocker("diff", "-f", f, check=False).returncode == 0


def test_apply_exits_1_when_a_command_is_not_found(rocker, tmp_path):
    f = small_stack(tmp_path, command="[nosuch-command]")
    p = rocker("apply", "-f", f, check=False)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "create solo-box-1" in p.stderr and "nosuch-command" in p.stderr
    rocker("delete", "-f", f, check=False)
