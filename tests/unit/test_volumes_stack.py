"""Volumes in stack files: loading (`volumes:`, members' short and long syntax, tmpfs,
read_only), the planner's volume actions and notes, and `spec dump` of mounts. No root."""

from __future__ import annotations

import os
import textwrap

import pytest

from rocker.errors import Conflict, SpecError
from rocker.plan import ObservedState, plan
from rocker.plan.model import (
    CreateVolume,
    DesiredState,
    DesiredVolume,
    ObservedVolume,
    RemoveVolume,
    UpdateVolume,
)
from rocker.plan.render import render_text, to_json
from rocker.stackfile.dump import stack_from_records
from rocker.stackfile.loader import load_desired


def _write(tmp_path, text: str) -> str:
    d = tmp_path / "st"
    d.mkdir(exist_ok=True)
    p = d / "stack.yaml"
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(p)


STACK = """
name: vs
volumes:
  data:
    labels: {tier: db}
  shared: {external: true}
containers:
  db:
    image: busybox
    command: [sleep, "1"]
    volumes:
      - data:/data
      - shared:/shared:ro
      - /anon
      - ./site:/site:ro
      - type: bind
        source: ../conf
        target: /conf
        bind: {propagation: rslave}
      - type: tmpfs
        target: /cache
        tmpfs: {size: 1m, mode: 1770}
    tmpfs: [/run]
    read_only: true
"""


def test_a_stack_file_with_volumes(tmp_path):
    d = load_desired(_write(tmp_path, STACK))
    assert d.volumes == (DesiredVolume(name="vs_data", key="data", labels={"tier": "db"}),
                         DesiredVolume(name="shared", key="shared", external=True))
    cfg = d.containers[0].config
    base = str(tmp_path / "st")
    assert cfg["mounts"] == [
        {"type": "volume", "source": "vs_data", "target": "/data", "readonly": False},
        {"type": "volume", "source": "shared", "target": "/shared", "readonly": True},
        {"type": "volume", "source": "", "target": "/anon", "readonly": False},
        {"type": "bind", "source": base + "/site", "target": "/site", "readonly": True,
         "create_host_path": True},
        {"type": "bind", "source": str(tmp_path / "conf"), "target": "/conf",
         "readonly": False, "propagation": "rslave"},
        {"type": "tmpfs", "source": "", "target": "/cache", "readonly": False,
         "tmpfs_size": 1 << 20, "tmpfs_mode": 0o1770}]
    assert cfg["tmpfs"] == {"/run": ""} and cfg["read_only"] is True


@pytest.mark.parametrize("member, message", [
    ("volumes: [undeclared:/x]", "no volume 'undeclared'"),
    ("volumes: ['data:/proc']", "not allowed"),
    ("volumes: [{target: /x, colour: red}]", "containers.db.volumes.0"),
    ("tmpfs: ['/t:huge=1']", "invalid --tmpfs option"),
    ("volumes: [data:/x, /x]", "duplicate mount point"),
])
def test_bad_member_volumes_name_their_key(tmp_path, member, message):
    text = f"""
    volumes:
      data:
    containers:
      db:
        image: busybox
        {member}
    """
    with pytest.raises(SpecError, match=message) as e:
        load_desired(_write(tmp_path, text))
    assert "stack.yaml:" in str(e.value)


def _desired(*vols: DesiredVolume) -> DesiredState:
    return DesiredState(stack="vs", volumes=tuple(vols), source="stack.yaml")


def test_volume_actions():
    data = DesiredVolume(name="vs_data", key="data", labels={"a": "1"})
    p = plan(_desired(data), ObservedState())
    assert [type(a) for a in p.actions] == [CreateVolume] and p.actions[0].volume == data
    assert "+ create volume vs_data" in render_text(p)
    same = ObservedState(volumes={"vs_data": ObservedVolume("vs_data", {"a": "1"}, "vs")})
    assert plan(_desired(data), same).is_empty()
    relabelled = ObservedState(volumes={"vs_data": ObservedVolume("vs_data", {"a": "2"}, "vs")})
    (a,) = plan(_desired(data), relabelled).actions
    assert isinstance(a, UpdateVolume) and a.changes[0].path == "labels.a"
    foreign = ObservedState(volumes={"vs_data": ObservedVolume("vs_data", {"a": "1"}, None)})
    with pytest.raises(Conflict, match="--adopt"):
        plan(_desired(data), foreign)
    (a,) = plan(_desired(data), foreign, adopt=True).actions
    assert isinstance(a, UpdateVolume) and "adopted" in a.reason
    with pytest.raises(SpecError, match="external volume ext not found"):
        plan(_desired(DesiredVolume(name="ext", key="ext", external=True)), ObservedState())


def test_a_volume_no_longer_declared_is_kept_unless_asked():
    old = ObservedState(volumes={"vs_old": ObservedVolume("vs_old", {}, "vs"),
                                 "other": ObservedVolume("other", {}, "else")})
    p = plan(_desired(), old)
    assert p.is_empty() and len(p.notes) == 1 and "vs_old" in p.notes[0]
    assert "Note: volume vs_old" in render_text(p)
    assert to_json(p)["notes"] == list(p.notes)
    p = plan(_desired(), old, prune_volumes=True)
    assert [(type(a), a.name) for a in p.actions] == [(RemoveVolume, "vs_old")]
    assert not p.notes


def test_spec_dump_of_mounts_loads_back_to_the_same_config(tmp_path):
    d = load_desired(_write(tmp_path, STACK))
    rec = {"id": "1" * 64, "name": d.containers[0].name,
           "config": dict(d.containers[0].config),
           "stack": {"name": "vs", "service": "db"}}
    data = stack_from_records([rec], "vs")
    assert data["volumes"] == {"data": {}, "shared": {"external": True}}
    import yaml
    p = tmp_path / "dumped" / "stack.yaml"
    os.makedirs(p.parent)
    p.write_text(yaml.safe_dump(data))
    again = load_desired(str(p))
    assert again.containers[0].config["mounts"] == d.containers[0].config["mounts"]
    assert again.containers[0].spec_hash == d.containers[0].spec_hash


def test_a_running_member_of_a_recreated_volume_is_restarted():
    from dataclasses import replace

    from tests.unit.test_plan import dc, desired, observed, running
    db = dc("db", mounts=["demo_data:/data"])
    vol = DesiredVolume(name="demo_data", key="data")
    want = replace(desired(db), volumes=(vol,))
    here = {"demo_data": ObservedVolume("demo_data", {}, "demo")}
    assert plan(want, observed(running(db), volumes=here)).is_empty()
    p = plan(want, observed(running(db)))     # deleted behind rocker's back
    assert [(a.kind, a.name) for a in p.actions] == [("create", "demo_data"),
                                                     ("restart", "db")]
    assert "demo_data is gone" in p.actions[1].evidence
    stopped = running(db, status="exited", alive=False, exit_code=0)
    assert [a.kind for a in plan(want, observed(stopped)).actions][0] == "create"


def test_volumes_from_services_and_containers(tmp_path):
    d = load_desired(_write(tmp_path, """
    name: vf
    containers:
      data:
        image: busybox
        volumes: [/shared]
      app:
        image: busybox
        volumes_from: [data, "container:other:ro"]
    """))
    app = next(c for c in d.containers if c.service == "app")
    assert app.config["volumes_from"] == ["vf-data-1", "other:ro"]
    assert ("data", "started") in app.depends_on
    with pytest.raises(SpecError, match="no service 'nope'"):
        load_desired(_write(tmp_path, """
        containers:
          app: {image: busybox, volumes_from: [nope]}
        """))
