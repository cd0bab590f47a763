"""Records, names, liveness and the status column (no root)."""

import os
import threading

import pytest

from rocker.containers import records
from rocker.containers import state as cstate
from rocker.errors import Conflict, InvalidInput, NotFound
from rocker.paths import Paths
from rocker.state.store import read_json, update_json, write_json


@pytest.fixture
def paths(tmp_path):
    p = Paths(str(tmp_path / "root"), str(tmp_path / "run"))
    os.makedirs(p.containers)
    return p


def make(paths, cid, name):
    os.makedirs(paths.container_dir(cid))
    write_json(records.record_path(paths, cid), {
        "id": cid, "name": name, "image_id": "sha256:" + "e" * 64, "config": {}, "process": {},
        "rootfs": {}, "state": {"status": "created"}})
    records.claim_name(paths, name, cid)


def test_resolve_by_name_id_and_prefix(paths):
    make(paths, "ab" + "0" * 62, "web")
    make(paths, "ac" + "0" * 62, "db")
    assert records.resolve(paths, "web") == "ab" + "0" * 62
    assert records.resolve(paths, "ab" + "0" * 62) == "ab" + "0" * 62
    assert records.resolve(paths, "ac") == "ac" + "0" * 62
    with pytest.raises(InvalidInput, match="ambiguous"):
        records.resolve(paths, "a")
    with pytest.raises(NotFound, match="no such container: nope"):
        records.resolve(paths, "nope")


def test_name_claim_is_exclusive_and_stale_names_are_reused(paths):
    make(paths, "1" * 64, "web")
    with pytest.raises(Conflict, match="already in use"):
        records.claim_name(paths, "web", "2" * 64)
    # the owner's folder is gone: the name is free again
    import shutil
    shutil.rmtree(paths.container_dir("1" * 64))
    records.claim_name(paths, "web", "2" * 64)
    assert os.readlink(records.name_path(paths, "web")) == "2" * 64


def test_concurrent_claims_one_winner(paths):
    wins, errors = [], []

    def claim(i):
        try:
            cid = f"{i:064x}"
            os.makedirs(paths.container_dir(cid))
            records.claim_name(paths, "same", cid)
            wins.append(cid)
        except Conflict as e:
            errors.append(e)
    threads = [threading.Thread(target=claim, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(errors) == 9


def test_corrupt_record_does_not_hide_the_others(paths):
    make(paths, "1" * 64, "good")
    os.makedirs(paths.container_dir("2" * 64))
    with open(records.record_path(paths, "2" * 64), "w") as f:
        f.write('{"id": "half')
    got = list(records.iter_records(paths))
    assert [(cid, rec is not None, err is not None) for cid, rec, err in got] == [
        ("1" * 64, True, False), ("2" * 64, False, True)]


@pytest.mark.parametrize("body", ['[]', 'null', '{"id": "%s", "name": "x", "config": null}',
                                  '{"id": "someone else"}'])
def test_a_record_of_the_wrong_shape_is_an_error_of_its_own(paths, body):
    make(paths, "1" * 64, "good")
    cid = "2" * 64
    os.makedirs(paths.container_dir(cid))
    with open(records.record_path(paths, cid), "w") as f:
        f.write(body.replace("%s", cid))
    got = list(records.iter_records(paths))
    assert [(c, rec is not None, err is not None) for c, rec, err in got] == [
        ("1" * 64, True, False), (cid, False, True)]
    assert "rm -f 222222222222" in str(got[1][2])


def test_update_json_is_atomic_under_concurrency(tmp_path):
    path = str(tmp_path / "counter.json")

    def bump():
        for _ in range(50):
            update_json(path, lambda old: {"n": (old or {"n": 0})["n"] + 1})
    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert read_json(path) == {"n": 200}
    assert os.listdir(tmp_path) == ["counter.json", "counter.json.lock"] or \
        sorted(os.listdir(tmp_path)) == ["counter.json", "counter.json.lock"]


def test_liveness_uses_pid_and_start_time():
    me = os.getpid()
    start = cstate.start_time(me)
    assert cstate.is_alive(me, start, cstate.boot_id())
    assert not cstate.is_alive(me, start + 1, cstate.boot_id())     # a reused pid
    assert not cstate.is_alive(me, start, "another-boot")           # after a reboot
    assert not cstate.is_alive(None, None)


def test_observed_corrects_a_dead_running_record():
    st = cstate.observed({"status": "running", "pid": 2 ** 22 + 7, "pid_start": 1,
                          "boot_id": cstate.boot_id()})
    assert st["status"] == "exited" and "gone" in st["evidence"]
    st = cstate.observed({"status": "running", "pid": os.getpid(),
                          "pid_start": cstate.start_time(os.getpid()), "boot_id": "old"})
    assert st["status"] == "exited" and "rebooted" in st["evidence"]


def test_status_text():
    now = 1000.0
    assert cstate.status_text({"status": "running", "started_at": 820}, now) == "Up 3 minutes"
    assert cstate.status_text({"status": "exited", "exit_code": 137, "oom_killed": True,
                               "finished_at": 998}, now) == \
        "Exited (137) (OOMKilled) 2 seconds ago"
    assert cstate.status_text({"status": "created"}, now) == "Created"
