"""rocker.launcher.launch.join_cgroups: a fresh fork joins its cgroups itself, through v1's
`tasks` (a thread moving itself: no RCU grace period) or v2's cgroup.procs."""

from __future__ import annotations

import pytest

from rocker.errors import ContainerStartError
from rocker.launcher.launch import join_cgroups


def test_v1_writes_0_to_tasks_and_leaves_cgroup_procs_alone(tmp_path):
    dirs = []
    for ctrl in ("memory", "pids"):
        d = tmp_path / ctrl / "rocker" / "c1"
        d.mkdir(parents=True)
        (d / "tasks").write_text("")
        (d / "cgroup.procs").write_text("")
        dirs.append(d)
    join_cgroups([str(d) for d in dirs])
    assert [(d / "tasks").read_text() for d in dirs] == ["0", "0"]
    assert [(d / "cgroup.procs").read_text() for d in dirs] == ["", ""]


def test_v2_writes_0_to_cgroup_procs(tmp_path):
    d = tmp_path / "rocker" / "c1"
    d.mkdir(parents=True)
    (d / "cgroup.procs").write_text("")
    join_cgroups([str(d)])
    assert (d / "cgroup.procs").read_text() == "0"


def test_a_missing_cgroup_is_one_line_naming_it(tmp_path):
    with pytest.raises(ContainerStartError, match=r"joining the cgroup .*/gone: No such file"):
        join_cgroups([str(tmp_path / "gone")])


def test_an_intermediate_process_gone_before_cgroup_is_one_error(monkeypatch):
    """A killed while the monitor finishes the cgroup's set-up (say `rm -f` through the
    cgroup): create() reaps it and says so, instead of a bare broken pipe."""
    import os
    import time

    from rocker.launcher import launch

    monkeypatch.setattr(launch, "join_cgroups", lambda paths: os._exit(3))
    with pytest.raises(ContainerStartError, match="intermediate process died before it "
                                                  "started: exit code 3"):
        launch.create({"process": {}, "namespaces": []}, [], None,
                      meanwhile=lambda: time.sleep(0.3))
