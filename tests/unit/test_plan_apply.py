"""The executor (rocker.apply) and the observation of unsupervised containers, with the drivers
replaced by recording fakes: the order of effects, what is recorded, the exit codes. No root."""

from __future__ import annotations

import os
import time

import pytest

from rocker import apply as apply_mod
from rocker.containers import state as cstate
from rocker.errors import Conflict, RockerError
from rocker.paths import Paths
from rocker.plan import (
    DesiredImage,
    ImportImage,
    Plan,
    Replace,
    Start,
    Update,
)
from tests.unit.test_plan import DIGEST, dc, desired


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """lifecycle and records replaced by fakes that log each call."""
    from rocker.containers import records
    from rocker.runtime import lifecycle
    log: list[tuple] = []
    monkeypatch.setattr(lifecycle, "stop", lambda paths, cid, *a, **k: log.append(("stop", cid)))
    monkeypatch.setattr(lifecycle, "remove",
                        lambda paths, cid, **k: log.append(("remove", cid)))
    monkeypatch.setattr(lifecycle, "create", lambda paths, cfg, name=None, stack=None:
                        log.append(("create", name)) or {"id": "new" + "0" * 61})
    monkeypatch.setattr(lifecycle, "start", lambda paths, cid, *a, **k:
                        log.append(("start", cid)) or {"id": cid, "state": {"pid": 7}})
    monkeypatch.setattr(lifecycle, "update", lambda paths, cid, **k:
                        log.append(("update", cid)) or ({}, []))
    monkeypatch.setattr(records, "update", lambda paths, cid, fn:
                        log.append(("record", cid, _stamped(fn))))
    return log, Paths(str(tmp_path / "root"), str(tmp_path / "run"))


def _stamped(fn) -> dict:
    rec: dict = {}
    fn(rec)
    return rec.get("stack")


def test_replace_waits_for_dependencies_before_removing_the_old_container(fake, monkeypatch):
    log, paths = fake
    job = dc("job", restart="no")
    web = dc("web", deps=[("job", "completed")], command=["new"])
    d = desired(job, web, images=False)
    ex = apply_mod.Executor(paths, d, progress=lambda s: None)

    def failing(c, cond):
        log.append(("wait", c.name, cond))
        raise Conflict("job did not complete: it exited with code 1")
    monkeypatch.setattr(ex, "_wait_for", failing)
    p = Plan(stack=d.stack, actions=(Replace(name="web", container=web, id="old-web",
                                             forced_by=("command",)),))
    with pytest.raises(RockerError, match="apply stopped at replace web: job did not complete"):
        ex.run(p)
    assert log == [("wait", "job", "completed")]   # the old web is still there


def test_a_failing_action_exits_1_whatever_its_own_code(fake, monkeypatch):
    log, paths = fake
    from rocker.errors import CommandNotFound
    from rocker.runtime import lifecycle
    web = dc("web")
    d = desired(web, images=False)

    def not_found(*a, **k):
        raise CommandNotFound("nosuch: command not found")
    monkeypatch.setattr(lifecycle, "start", not_found)
    p = Plan(stack=d.stack, actions=(Start(name="web", container=web, id="c1"),))
    with pytest.raises(RockerError) as e:
        apply_mod.Executor(paths, d, progress=lambda s: None).run(p)
    assert e.value.exit_code == 1
    assert "start web" in str(e.value) and "command not found" in str(e.value)


def test_record_only_update_restamps_without_touching_the_container(fake):
    log, paths = fake
    worker = dc("worker", deps=[("web", "healthy")])
    d = desired(dc("web"), worker, images=False)
    p = Plan(stack=d.stack, actions=(Update(name="worker", container=worker, id="c1",
                                            record_only=True),))
    apply_mod.Executor(paths, d, progress=lambda s: None).run(p)
    assert log == [("record", "c1", {"name": "demo", "service": "worker",
                                     "spec_hash": worker.spec_hash,
                                     "depends_on": {"web": "healthy"}})]


def test_restart_stops_then_starts(fake):
    log, paths = fake
    from rocker.plan import Restart
    web = dc("web")
    d = desired(web, images=False)
    p = Plan(stack=d.stack, actions=(Restart(name="web", container=web, id="c1"),))
    apply_mod.Executor(paths, d, progress=lambda s: None).run(p)
    assert log == [("stop", "c1"), ("start", "c1")]


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
    from rocker.spec.loader import file_digest
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
