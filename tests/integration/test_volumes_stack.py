"""Volumes in stacks, for real: examples/volumes.yaml's db member keeps its data across
`apply` replacing it; a changed mount replaces and the plan names it; a volume deleted behind
rocker's back is recreated; volumes are removed only when asked."""

from __future__ import annotations

import json
import os
import shutil

from tests.conftest import REPO
from tests.integration.helpers import wait_for

EXAMPLE = os.path.join(REPO, "examples", "volumes.yaml")
BASE_TAR = os.path.join(REPO, "base-image", "busybox.tar")


def _stack(tmp_path, *edits: tuple[str, str]) -> str:
    with open(EXAMPLE) as f:
        text = f.read().replace("../base-image/busybox.tar", BASE_TAR)
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    import hashlib
    # one file per content: a path written again later would change what an older name holds
    p = tmp_path / f"volumes-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    p.write_text(text)
    return str(p)


def _starts(rocker) -> list[str]:
    out = wait_for(lambda: rocker("exec", "vols-db-1", "cat", "/var/lib/db/starts",
                                  check=False).stdout, what="the db's starts file")
    return out.splitlines()


def test_the_db_member_keeps_its_data_across_replacements(rocker, tmp_path):
    f = _stack(tmp_path)
    rocker("apply", "-y", "-f", f)
    assert _starts(rocker) == ["start 1"]
    for v in ("2", "3", "4"):
        f = _stack(tmp_path, ('VERSION: "1"', f'VERSION: "{v}"'))
        out = rocker("apply", "-y", "-f", f).stdout
        assert "-/+ replace vols-db-1  (changed: env)" in out
        wait_for(lambda: len(_starts(rocker)) == int(v), what=f"start {v} written")
    # three replacements: the volume has every start, the first container's included
    assert _starts(rocker) == ["start 1", "start 2", "start 3", "start 4"]
    vol = json.loads(rocker("volume", "inspect", "vols_dbdata").stdout)[0]
    assert vol["Labels"] == {"role": "database"}
    # the member's root is read-only, its tmpfs mounts are there
    p = rocker("exec", "vols-db-1", "sh", "-c", "touch /x", check=False)
    assert p.returncode != 0 and "Read-only" in p.stderr
    mounts = rocker("exec", "vols-db-1", "cat", "/proc/mounts").stdout
    assert " /run tmpfs " in mounts and " /var/cache/db tmpfs " in mounts
    assert rocker("diff", "-f", f, check=False).returncode == 0


def test_mount_changes_replace_drift_recreates_and_removal_only_when_asked(rocker, tmp_path):
    f = _stack(tmp_path)
    rocker("apply", "-y", "-f", f)
    _starts(rocker)
    # a changed mount replaces the member, the plan names the field
    f2 = _stack(tmp_path, ("size: 8m", "size: 16m"))
    d = rocker("diff", "-f", f2, check=False)
    assert d.returncode == 2 and "(changed: mounts)" in d.stdout
    rocker("apply", "-y", "-f", f2)
    assert _starts(rocker) == ["start 1", "start 1"]
    # deleted behind rocker's back (the member still running): diff shows it, apply makes it
    # again and restarts the member so that it mounts the new one
    mp = json.loads(rocker("volume", "inspect", "vols_dbdata").stdout)[0]["Mountpoint"]
    shutil.rmtree(os.path.dirname(mp))
    d = rocker("diff", "-f", f2, check=False)
    assert d.returncode == 2 and "+ create volume vols_dbdata" in d.stdout
    assert "> restart vols-db-1" in d.stdout and "vols_dbdata is gone" in d.stdout
    rocker("apply", "-y", "-f", f2)
    assert _starts(rocker) == ["start 1"]
    assert os.path.isfile(os.path.join(mp, "starts"))
    # no longer declared: kept, and the plan says so; removed with --prune-volumes
    f3 = _stack(tmp_path, ("      - dbdata:/var/lib/db                 # the stack's volume "
                           "vols_dbdata\n", "      - /var/lib/db\n"),
                ("volumes:\n  dbdata:\n    labels: {role: database}\n", ""))
    out = rocker("apply", "-y", "-f", f3).stdout
    assert "Note: volume vols_dbdata is no longer in the stack file: kept" in out
    assert "vols_dbdata" in rocker("volume", "ls", "-q").stdout
    out = rocker("apply", "-y", "--prune-volumes", "-f", f3).stdout
    assert "- remove volume vols_dbdata" in out
    assert "vols_dbdata" not in rocker("volume", "ls", "-q").stdout
    # delete keeps volumes unless --volumes
    rocker("apply", "-y", "-f", f)
    rocker("delete", "-y", "-f", f)
    assert "vols_dbdata" in rocker("volume", "ls", "-q").stdout
    out = rocker("delete", "-y", "--volumes", "-f", f).stdout
    assert "1 volume(s) removed" in out
    assert "vols_dbdata" not in rocker("volume", "ls", "-q").stdout


def test_the_example_stacks_db_keeps_its_starts(rocker, tmp_path):
    """examples/web.yaml's db member: one line per start in its volume, across replacements."""
    from tests.integration.test_stacks import stack_file
    f = stack_file(tmp_path)
    rocker("apply", "-y", "-f", f)
    db = "demo-db-1"
    read = lambda: rocker("exec", db, "cat", "/var/lib/db/starts", check=False).stdout  # noqa: E731
    wait_for(lambda: read() == "start\n", what="the first start")
    for i in range(1, 4):
        g = stack_file(tmp_path, ("echo start >>", f"echo start >> /dev/null; echo start{i} >>"),
                       name=f"web-{i}.yaml")
        out = rocker("apply", "-y", "-f", g).stdout
        assert f"-/+ replace {db}  (changed: command)" in out
        wait_for(lambda: read().count("\n") == i + 1, what=f"start {i}")
    assert read().splitlines() == ["start", "start1", "start2", "start3"]
    rocker("delete", "-y", "-f", g)
    assert "demo_data" in rocker("volume", "ls", "-q").stdout   # kept: data is at stake
