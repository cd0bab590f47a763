"""The executor (rocker.apply) and the observation of unsupervised containers, with the drivers
replaced by the in-memory fakes of tests/unit/fakes.py (same signatures as the real lifecycle,
records and ImageStore, asserted by tests/unit/test_fakes.py): the order of effects, the
arguments the drivers get, what is recorded, the exit codes. No root."""

from __future__ import annotations

import os
import time

import pytest

from rocker import apply as apply_mod
from rocker.containers import state as cstate
from rocker.errors import RockerError
from rocker.paths import Paths
from rocker.plan import (
    Adopt,
    Create,
    DesiredImage,
    ImportImage,
    Plan,
    Remove,
    Replace,
    Restart,
    Start,
    Update,
)
from tests.unit.fakes import FakeDrivers
from tests.unit.test_plan import DIGEST, dc, desired


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """The drivers apply calls (lifecycle, records, ImageStore) replaced by in-memory fakes."""
    return FakeDrivers().install(monkeypatch), Paths(str(tmp_path / "root"),
                                                      str(tmp_path / "run"))


def _run(paths, d, *actions, wait=False, progress=None):
    said: list[str] = [] if progress is None else progress
    ex = apply_mod.Executor(paths, d, progress=said.append, timeout=2)
    return ex.run(Plan(stack=d.stack, actions=tuple(actions)), wait=wait)


def _stamp(c, depends_on=None) -> dict:
    return {"name": "demo", "service": c.service, "replica": c.replica, "spec_hash": c.spec_hash,
            "depends_on": depends_on or {}}


def test_create_creates_with_the_stack_stamp_then_starts(fake):
    drivers, paths = fake
    web = dc("web")
    d = desired(web, images=False)
    said: list[str] = []
    assert _run(paths, d, Create(name="web", container=web), progress=said) == 1
    rec = drivers.by_name("web")
    assert drivers.log == [("create", "web", _stamp(web)), ("start", rec["id"])]
    assert rec["config"] == dict(web.config) and rec["state"]["status"] == "running"
    assert any(s.startswith(f"create web done: {rec['id'][:12]}, pid {os.getpid()}")
               for s in said), said


def test_replace_waits_for_dependencies_before_removing_the_old_container(fake):
    drivers, paths = fake
    job = dc("job", restart="no")
    web = dc("web", deps=[("job", "completed")], command=["new"])
    drivers.add("job", job.config, status="exited", exit_code=1)
    old = drivers.add("web", dc("web").config)
    d = desired(job, web, images=False)
    with pytest.raises(RockerError, match="apply stopped at replace web: job did not complete: "
                                          "it exited with code 1"):
        _run(paths, d, Replace(name="web", container=web, id=old, forced_by=("command",)))
    assert drivers.log == []   # the old web is still there, untouched
    assert drivers.by_name("web")["state"]["status"] == "running"


def test_replace_stops_and_removes_the_old_one_then_creates_and_starts(fake):
    drivers, paths = fake
    job = dc("job", restart="no")
    web = dc("web", deps=[("job", "completed")], command=["new"])
    drivers.add("job", job.config, status="exited", exit_code=0)
    old = drivers.add("web", dc("web").config)
    d = desired(job, web, images=False)
    _run(paths, d, Replace(name="web", container=web, id=old, forced_by=("command",)))
    new = drivers.by_name("web")["id"]
    assert new != old and old not in drivers.containers
    assert drivers.log == [("stop", old, None), ("remove", old, True),
                           ("create", "web", _stamp(web, {"job": "completed"})),
                           ("start", new)]


def test_a_failing_action_exits_1_whatever_its_own_code(fake):
    drivers, paths = fake
    from rocker.errors import CommandNotFound
    web = dc("web")
    cid = drivers.add("web", web.config, status="created")
    drivers.failures[("start", "web")] = CommandNotFound("nosuch: command not found")
    d = desired(web, images=False)
    with pytest.raises(RockerError) as e:
        _run(paths, d, Start(name="web", container=web, id=cid))
    assert e.value.exit_code == 1   # CommandNotFound's own code is 127
    assert "start web" in str(e.value) and "command not found" in str(e.value)
    assert "0 of 1 actions done" in str(e.value)


def test_the_first_failure_stops_the_run_and_what_succeeded_stays(fake):
    drivers, paths = fake
    from rocker.errors import Conflict
    a, b, c = dc("a"), dc("b"), dc("c")
    drivers.failures[("create", "b")] = Conflict("no space for b")
    d = desired(a, b, c, images=False)
    with pytest.raises(RockerError, match=r"create b: no space for b \(1 of 3 actions done"):
        _run(paths, d, *(Create(name=x.name, container=x) for x in (a, b, c)))
    assert [e[:2] for e in drivers.log if e[0] == "create"] == [("create", "a"), ("create", "b")]
    assert drivers.by_name("a")["state"]["status"] == "running"


def test_record_only_update_restamps_without_touching_the_container(fake):
    drivers, paths = fake
    worker = dc("worker", deps=[("web", "healthy")])
    cid = drivers.add("worker", worker.config)
    d = desired(dc("web"), worker, images=False)
    _run(paths, d, Update(name="worker", container=worker, id=cid, record_only=True))
    assert drivers.log == [("record", cid, _stamp(worker, {"web": "healthy"}))]


def test_live_update_passes_the_whole_desired_set_then_restamps(fake):
    drivers, paths = fake
    web = dc("web", limits={"memory": "64m", "cpus": "0.5"}, restart="always",
             labels={"tier": "front"})
    cid = drivers.add("web", dc("web").config)
    drivers.update_warnings = ["memory reservation ignored"]
    d = desired(web, images=False)
    said: list[str] = []
    _run(paths, d, Update(name="web", container=web, id=cid, live=True), progress=said)
    assert drivers.log == [
        ("update", cid, {"limits": dict(web.config["limits"]), "restart": "always",
                         "labels": {"tier": "front"}, "replace_limits": True}),
        ("record", cid, _stamp(web))]
    assert any("applied live, the process kept running; memory reservation ignored" in s
               for s in said), said


def test_adopt_stamps_the_record(fake):
    drivers, paths = fake
    web = dc("web")
    cid = drivers.add("web", web.config)
    _run(paths, desired(web, images=False), Adopt(name="web", container=web, id=cid))
    assert drivers.log == [("record", cid, _stamp(web))]
    assert drivers.containers[cid]["stack"] == _stamp(web)


def test_remove_stops_then_force_removes(fake):
    drivers, paths = fake
    cid = drivers.add("old", dc("old").config)
    _run(paths, desired(images=False), Remove(name="old", id=cid))
    assert drivers.log == [("stop", cid, None), ("remove", cid, True)]
    assert cid not in drivers.containers


def test_remove_of_a_container_gone_meanwhile_is_done(fake):
    drivers, paths = fake
    _run(paths, desired(images=False), Remove(name="old", id="f" * 64))
    assert drivers.log == [("stop", "f" * 64, None)]


def test_restart_stops_then_starts(fake):
    drivers, paths = fake
    web = dc("web")
    cid = drivers.add("web", web.config)
    _run(paths, desired(web, images=False), Restart(name="web", container=web, id=cid))
    assert drivers.log == [("stop", cid, None), ("start", cid)]


def test_wait_waits_for_every_member_and_a_one_shot_job_that_exited_0_is_up(fake):
    drivers, paths = fake
    job = dc("job", restart="no")
    web = dc("web", deps=[("job", "completed")])
    drivers.exits["job"] = 0
    d = desired(job, web, images=False)
    said: list[str] = []
    assert _run(paths, d, Create(name="job", container=job), Create(name="web", container=web),
                wait=True, progress=said) == 2
    assert [e[0] for e in drivers.log] == ["create", "start", "create", "start"]
    assert "job is completed" in " ".join(said)


def test_wait_fails_when_a_member_exits_non_zero(fake):
    drivers, paths = fake
    web = dc("web")
    drivers.exits["web"] = 3
    d = desired(web, images=False)
    with pytest.raises(RockerError, match="web exited with code 3 while waiting for it to be "
                                          "running"):
        _run(paths, d, Create(name="web", container=web), wait=True)


def test_import_passes_source_ref_and_changes_and_records_the_image(fake):
    drivers, paths = fake
    from rocker.observe import stack_record
    img = DesiredImage(name="busybox", ref="busybox:latest", source="/x/busybox.tar",
                       digest=DIGEST, changes=("ENV A=1",))
    drivers.import_digests["busybox:latest"] = DIGEST
    d = type(desired(images=False))(stack="demo", images=(img,))
    _run(paths, d, ImportImage(name=img.ref, image=img))
    assert drivers.log == [("import", "/x/busybox.tar", "busybox:latest", ["ENV A=1"])]
    rec = stack_record(paths, "demo")["images"]["busybox:latest"]
    assert rec["digest"] == DIGEST and rec["id"] == drivers.images["busybox:latest"].id


def test_import_records_the_digest_of_the_bytes_actually_imported(tmp_path, monkeypatch):
    """The tar changed between loading the file and importing it: the record (and the image)
    say what was imported, not what was hashed at load time."""
    from tests.unit.test_images_store import BASIC
    from tests.unit.test_images_tarutil import make_tar
    paths = Paths(str(tmp_path / "root"), str(tmp_path / "run"))
    tar = make_tar(tmp_path / "b.tar", BASIC)
    img = DesiredImage(name="busybox", ref="busybox:latest", source=str(tar), digest=DIGEST)
    d = desired(images=False)
    d = type(d)(stack=d.stack, images=(img,))
    p = Plan(stack=d.stack, actions=(ImportImage(name=img.ref, image=img),))
    apply_mod.Executor(paths, d, progress=lambda s: None).run(p)
    from rocker.images.store import ImageStore
    from rocker.observe import stack_record
    from rocker.stackfile.loader import file_digest
    real = file_digest(str(tar))
    assert real != DIGEST
    assert stack_record(paths, "demo")["images"]["busybox:latest"]["digest"] == real
    store = ImageStore(paths)
    assert store.source_of(store.refs()["busybox:latest"])["digest"] == real


# ---------------------------------------------------------------------------------------------
# observation: a live container whose monitor is gone


def _me() -> dict:
    pid = os.getpid()
    return {"pid": pid, "pid_start": cstate.start_time(pid), "boot_id": cstate.boot_id()}


def test_running_without_its_monitor_is_unsupervised():
    st = dict(_me(), status="running", started_at=time.time() - 200,
              monitor_pid=2 ** 22 + 5, monitor_start=1)
    obs = cstate.observed(st)
    assert obs["status"] == "running" and obs["alive"] and not obs["monitor_alive"]
    assert obs["unsupervised"] and obs["evidence"] == f"monitor {2 ** 22 + 5} is gone"
    assert cstate.status_text(obs).endswith("(unsupervised)")
    assert cstate.status_text(obs).startswith("Up 3 minutes")


def test_running_with_its_monitor_is_supervised():
    me = _me()
    st = dict(me, status="running", started_at=time.time(), monitor_pid=me["pid"],
              monitor_start=me["pid_start"])
    obs = cstate.observed(st)
    assert not obs.get("unsupervised") and "unsupervised" not in cstate.status_text(obs)


def test_observe_reports_unsupervised(tmp_path):
    from rocker.observe import _container
    rec = {"id": "c" * 64, "name": "web", "config": {},
           "state": dict(_me(), status="paused", monitor_pid=2 ** 22 + 5, monitor_start=1)}
    o = _container(rec, [])
    assert o.unsupervised and o.evidence == f"monitor {2 ** 22 + 5} is gone"
