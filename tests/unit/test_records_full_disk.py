"""Record writes without a kernel: the pieces of issue 8 item 4 that need no full disk (a write
into a reserve, the monitor note and how `load` reads it), and status writes checked against
the one transition table."""

from __future__ import annotations

import json
import os

from rocker.containers import records
from rocker.paths import Paths
from rocker.state import store


def _record(paths: Paths, cid: str, state: dict) -> str:
    folder = paths.container_dir(cid)
    os.makedirs(folder)
    records.prepare_folder(folder)
    store.write_json(os.path.join(folder, records.RECORD),
                     {"id": cid, "name": "c", "image_id": "x", "config": {}, "process": {},
                      "rootfs": {}, "state": state})
    return folder


def _note(folder: str, note: dict) -> None:
    with open(os.path.join(folder, records.NOTE), "r+b") as f:
        f.write(records.encode_note(note))


def test_prepare_folder_allocates_reserves_and_note(tmp_path):
    records.prepare_folder(str(tmp_path))
    for name in records.RESERVES:
        assert os.path.getsize(tmp_path / name) == store.RESERVE_SIZE
    assert os.path.getsize(tmp_path / records.NOTE) == records.NOTE_SIZE
    assert records.read_note(str(tmp_path)) == {}  # zeros: nothing noted yet


def test_write_into_reserve_is_whole_and_the_reserve_is_used_up(tmp_path):
    reserve = tmp_path / ".reserve-1"
    assert store.make_reserve(str(reserve))
    target = tmp_path / "rec.json"
    target.write_text('{"old": true}')
    data = json.dumps({"new": list(range(100))}).encode()
    assert store._write_into_reserve(str(reserve), str(tmp_path / ".tmp"), data, 0o644)
    os.replace(tmp_path / ".tmp", target)
    assert json.loads(target.read_bytes()) == {"new": list(range(100))}
    assert not reserve.exists()
    # a reserve smaller than the data is not taken
    assert store.make_reserve(str(reserve), 16)
    assert not store._write_into_reserve(str(reserve), str(tmp_path / ".tmp"), data, 0o644)
    assert reserve.exists()


def test_load_takes_the_exit_of_the_recorded_process_from_the_note(tmp_path):
    paths = Paths(str(tmp_path / "root"), str(tmp_path / "run"))
    cid = "a" * 64
    folder = _record(paths, cid, {"status": "running", "pid": 4242, "pid_start": 99,
                                  "exit_code": None})
    _note(folder, {"log_dropped": 12, "exit": {"pid": 4242, "pid_start": 99, "exit_code": 7,
                                               "oom_killed": False, "finished_at": 5.0}})
    st = records.load(paths, cid)["state"]
    assert (st["exit_code"], st["log_dropped"], st["finished_at"]) == (7, 12, 5.0)
    # an update writes down what the note knew
    records.update_state(paths, cid, status="exited")
    os.truncate(os.path.join(folder, records.NOTE), 0)
    st = records.load(paths, cid)["state"]
    assert (st["status"], st["exit_code"], st["log_dropped"]) == ("exited", 7, 12)


def test_a_note_about_another_process_or_half_written_is_ignored(tmp_path):
    paths = Paths(str(tmp_path / "root"), str(tmp_path / "run"))
    cid = "b" * 64
    folder = _record(paths, cid, {"status": "running", "pid": 4242, "pid_start": 99})
    _note(folder, {"exit": {"pid": 4242, "pid_start": 98, "exit_code": 7}})  # an earlier run
    assert records.load(paths, cid)["state"].get("exit_code") is None
    with open(os.path.join(folder, records.NOTE), "r+b") as f:
        f.write(b'{"log_dropped": 5, "exit": {"pid"')
    assert records.load(paths, cid)["state"].get("exit_code") is None


def test_an_exited_record_is_not_read_against_the_note(tmp_path):
    paths = Paths(str(tmp_path / "root"), str(tmp_path / "run"))
    cid = "c" * 64
    folder = _record(paths, cid, {"status": "exited", "pid": 1, "pid_start": 2,
                                  "exit_code": 0})
    _note(folder, {"exit": {"pid": 1, "pid_start": 2, "exit_code": 9}})
    assert records.load(paths, cid)["state"]["exit_code"] == 0


def test_a_note_too_long_is_not_encoded():
    assert records.encode_note({"x": "y" * records.NOTE_SIZE}) is None


def test_a_status_write_is_checked_against_the_transition_table(tmp_path):
    import pytest

    from rocker.errors import Conflict
    paths = Paths(str(tmp_path / "root"), str(tmp_path / "run"))
    cid = "d" * 64
    _record(paths, cid, {"status": "created"})
    records.update_state(paths, cid, status="running", pid=1)
    records.update_state(paths, cid, status="paused")
    records.update_state(paths, cid, status="removing")
    with pytest.raises(Conflict, match="from created to paused"):
        other = "e" * 64
        _record(paths, other, {"status": "created"})
        records.update_state(paths, other, status="paused")
    # a removal stays marked: a monitor finishing beside rm -f writes its exit, not the status
    st = records.update_state(paths, cid, status="exited", exit_code=137)["state"]
    assert (st["status"], st["exit_code"]) == ("removing", 137)
