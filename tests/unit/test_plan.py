"""The planner from tables of (desired, observed) -> actions, and the renderer. No root, no host."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from rocker.containers.config import build_config
from rocker.errors import Conflict, SpecError
from rocker.plan import (
    Adopt,
    Create,
    DesiredContainer,
    DesiredImage,
    DesiredState,
    ImportImage,
    ObservedContainer,
    ObservedImage,
    ObservedState,
    Remove,
    Replace,
    Start,
    Update,
    plan,
)
from rocker.plan.render import render_json, render_text, summary_line
from rocker.stackfile.hashing import spec_hash

STACK = "demo"
REF = "busybox:latest"
IMG_ID = "sha256:" + "1" * 64
DIGEST = "sha256:" + "a" * 64
NO_CHANGES = "[]"          # rocker.images.store.changes_key([])
IDENTITY = (DIGEST, NO_CHANGES)


# ---------------------------------------------------------------------------------------------
# helpers (also used by test_plan_property.py)


def dc(name: str, service: str | None = None, deps=(), image: str = REF, **opts
       ) -> DesiredContainer:
    """A desired container built through build_config, like the spec loader does."""
    opts.setdefault("command", ["sleep", "1000"])
    limits = opts.pop("limits", None)
    cfg = build_config(image, opts.pop("command"), limits=limits, **opts).to_dict()
    service = service or name
    base, _, n = name.rpartition("-")
    index = int(n) if n.isdigit() and (base == service or base.endswith("-" + service)) else 1
    return DesiredContainer(name=name, service=service, config=cfg, index=index,
                            spec_hash=spec_hash(cfg), image_ref=image, depends_on=tuple(deps))


def desired(*containers: DesiredContainer, images=True) -> DesiredState:
    imgs = (DesiredImage(name="busybox", ref=REF, source="/x/busybox.tar", digest=DIGEST),) \
        if images else ()
    return DesiredState(stack=STACK, images=imgs, containers=tuple(containers),
                        source="stack.yaml")


def live_limits(config) -> dict:
    lim = dict(config.get("limits") or {})
    out = {f: lim.get(f) for f in ("memory", "memory_swap", "memory_reservation", "cpus",
                                   "pids_limit", "cpuset_cpus", "cpuset_mems")}
    out["cpu_shares"] = lim.get("cpu_shares", 1024)
    if out["cpuset_cpus"] is None:
        out["cpuset_cpus"] = "0-1"
    return out


def running(d: DesiredContainer, cid: str = "c1", **kw) -> ObservedContainer:
    """The container as apply would have left it: owned, same hash, running, no drift."""
    base = dict(name=d.name, id=cid, stack=STACK, service=d.service, spec_hash=d.spec_hash,
                config=dict(d.config), status="running", alive=True,
                limits_in_force=live_limits(d.config), image_id=IMG_ID,
                depends_on=d.depends_on, image_identity=IDENTITY)
    base.update(kw)
    return ObservedContainer(**base)


def observed(*containers: ObservedContainer, image=True, **kw) -> ObservedState:
    imgs = {REF: ObservedImage(REF, IMG_ID, DIGEST, NO_CHANGES)} if image else {}
    imgs.update(kw.pop("images", {}))
    return ObservedState(images=imgs, containers={c.name: c for c in containers}, **kw)


def kinds(p) -> list[tuple[str, str]]:
    return [(a.kind, a.name) for a in p.actions]


# ---------------------------------------------------------------------------------------------
# rules


def test_everything_new_imports_then_creates_in_dependency_order():
    web = dc("web")
    w1 = dc("worker-1", "worker", deps=[("web", "healthy")])
    w2 = dc("worker-2", "worker", deps=[("web", "healthy")])
    p = plan(desired(w2, w1, web), observed(image=False))
    assert kinds(p) == [("import", REF), ("create", "web"), ("create", "worker-1"),
                        ("create", "worker-2")]
    assert p.summary() == (4, 0, 0, 0)


def test_same_hash_running_no_drift_is_empty():
    web = dc("web", limits={"memory": "64m"})
    p = plan(desired(web), observed(running(web)))
    assert p.is_empty()
    assert p.summary() == (0, 0, 0, 0)
    assert summary_line(p).startswith("No changes.")


@pytest.mark.parametrize("field,old,new,path", [
    ("limits", {"memory": "128m"}, {"memory": "64m"}, "memory"),
    ("limits", {"cpus": 1}, {"cpus": 0.5}, "cpus"),
    ("limits", {}, {"pids_limit": 10}, "pids_limit"),
    ("restart", "no", "always", "restart"),
    ("labels", {"a": "1"}, {"a": "2"}, "labels.a"),
])
def test_updatable_field_gives_update_in_place(field, old, new, path):
    was = dc("web", **{field: old})
    now = dc("web", **{field: new})
    obs = running(was)
    obs = replace(obs, limits_in_force=live_limits(was.config))
    p = plan(desired(now), observed(obs))
    assert kinds(p) == [("update", "web")]
    a = p.actions[0]
    assert isinstance(a, Update) and a.live
    assert path in [c.path for c in a.changes]
    assert not any(c.forces_replacement for c in a.changes)
    assert p.summary() == (0, 1, 0, 0)


@pytest.mark.parametrize("field,old,new", [
    ("command", ["sleep", "1"], ["sleep", "2"]),
    ("env", {"A": "1"}, {"A": "2"}),
    ("workdir", None, "/srv"),
    ("user", None, "1000"),
    ("hostname", None, "box"),
    ("stop_signal", "SIGTERM", "SIGINT"),
    ("stop_timeout", 10, 3),
    ("healthcheck", None, {"test": "true"}),
    ("entrypoint", None, ["/bin/sh"]),
    ("tty", False, True),
])
def test_other_fields_force_replacement(field, old, new):
    was = dc("web", **{field: old})
    now = dc("web", **{field: new})
    p = plan(desired(now), observed(running(was)))
    assert kinds(p) == [("replace", "web")]
    a = p.actions[0]
    assert isinstance(a, Replace)
    assert a.forced_by == (field,)
    assert all(c.forces_replacement for c in a.changes)
    text = render_text(p)
    assert "# forces replacement" in text and "-/+ replace web" in text
    assert p.summary() == (0, 0, 1, 0)


def test_replace_names_each_forcing_field_and_keeps_updatable_ones_as_changes():
    was = dc("web", command=["a"], env={"X": "1"}, limits={"memory": "64m"})
    now = dc("web", command=["b"], env={"X": "2"}, limits={"memory": "128m"})
    a = plan(desired(now), observed(running(was))).actions[0]
    assert a.forced_by == ("command", "env")
    assert {c.path for c in a.changes} == {"command", "env.X", "memory"}


def test_image_moved_to_another_id_forces_replacement():
    web = dc("web")
    p = plan(desired(web), observed(running(web, image_id="sha256:" + "2" * 64,
                                            image_identity=None)))
    assert kinds(p) == [("replace", "web")]
    assert p.actions[0].forced_by == ("image",)


def test_changed_tar_reimports_and_replaces_its_users():
    web, other = dc("web"), dc("other", image="alpine:latest")
    obs = observed(running(web, image_identity=("sha256:old", NO_CHANGES)),
                   running(other, "c2"),
                   images={REF: ObservedImage(REF, IMG_ID, "sha256:old", NO_CHANGES),
                           "alpine:latest": ObservedImage("alpine:latest", IMG_ID, None)})
    p = plan(desired(web, other), obs)
    assert kinds(p) == [("import", REF), ("replace", "web")]
    assert p.actions[0].old_digest == "sha256:old"
    assert p.summary() == (0, 1, 1, 0)


def test_reference_not_imported_by_the_stack_is_imported():
    web = dc("web")
    obs = observed(running(web), images={REF: ObservedImage(REF, IMG_ID, None)})
    assert kinds(plan(desired(web), obs))[0] == ("import", REF)


def test_unknown_image_is_a_spec_error_with_the_path():
    web = dc("web", image="nosuch:latest")
    with pytest.raises(SpecError, match=r"stack.yaml: containers.web.image: no such image"):
        plan(desired(web), observed())


def test_image_from_the_store_is_fine():
    web = dc("web", image="alpine:latest")
    obs = observed(images={"alpine:latest": ObservedImage("alpine:latest", IMG_ID)})
    assert kinds(plan(desired(web, images=False), obs)) == [("create", "web")]


def test_killed_container_is_started_with_its_evidence():
    web = dc("web")
    obs = running(web, status="exited", alive=False, exit_code=137, limits_in_force=None,
                  evidence="process 4242 is gone")
    p = plan(desired(web), observed(obs))
    assert kinds(p) == [("start", "web")]
    a = p.actions[0]
    assert a.exit_code == 137
    assert "exited with code 137 (SIGKILL)" in a.evidence and "4242" in a.evidence
    assert "> start web" in render_text(p) and "137" in render_text(p)


def test_oom_is_in_the_evidence():
    web = dc("web")
    obs = running(web, status="exited", alive=False, exit_code=137, oom_killed=True,
                  limits_in_force=None)
    assert "OOM" in plan(desired(web), observed(obs)).actions[0].evidence


def test_created_never_started_is_started():
    web = dc("web")
    obs = running(web, status="created", alive=False, limits_in_force=None)
    a = plan(desired(web), observed(obs)).actions[0]
    assert isinstance(a, Start) and "never started" in a.evidence


@pytest.mark.parametrize("restart,code,starts", [
    ("no", 0, False), ("on-failure", 0, False), ("on-failure:3", 0, False),
    ("always", 0, True), ("unless-stopped", 0, True), ("no", 1, True), ("no", None, True),
])
def test_completed_one_shot_jobs_are_not_rerun(restart, code, starts):
    job = dc("job", restart=restart)
    obs = running(job, status="exited", alive=False, exit_code=code, limits_in_force=None)
    p = plan(desired(job), observed(obs))
    assert (kinds(p) == [("start", "job")]) is starts


def test_exited_with_a_limit_change_is_updated_then_started():
    was = dc("web", limits={"memory": "128m"})
    now = dc("web", limits={"memory": "64m"})
    obs = running(was, status="exited", alive=False, exit_code=1, limits_in_force=None)
    p = plan(desired(now), observed(obs))
    assert kinds(p) == [("update", "web"), ("start", "web")]
    assert not p.actions[0].live
    assert p.summary() == (0, 1, 0, 0)   # one object, one change


def test_drift_in_the_live_cgroup_is_an_update():
    web = dc("web", limits={"memory": "64m"})
    live = dict(live_limits(web.config), memory=134217728)
    p = plan(desired(web), observed(running(web, limits_in_force=live)))
    assert kinds(p) == [("update", "web")]
    ch = p.actions[0].changes[0]
    assert ch.live and ch.path == "memory" and ch.old == 134217728 and ch.new == 67108864
    assert "memory: 134217728 (live) -> 67108864" in render_text(p)
    assert "drift" in p.actions[0].reason


def test_drift_on_an_unset_limit_is_an_update_back_to_unlimited():
    web = dc("web")
    live = dict(live_limits(web.config), memory=134217728, pids_limit=5)
    a = plan(desired(web), observed(running(web, limits_in_force=live))).actions[0]
    assert {c.path for c in a.changes} == {"memory", "pids_limit"}
    assert all(c.new is None for c in a.changes)


def test_kernel_defaults_and_rounding_are_not_drift():
    web = dc("web", limits={"memory": 100000001, "cpus": 0.5})
    live = dict(live_limits(web.config), memory=100000001 // 4096 * 4096, cpus=0.5,
                cpu_shares=1024, cpuset_cpus="0-1", pids_limit=None)
    assert plan(desired(web), observed(running(web, limits_in_force=live))).is_empty()


def test_cgroup_v2_shares_are_compared_as_weights():
    web = dc("web", limits={"cpu_shares": 512})
    live = dict(live_limits(web.config), cpu_shares=501)  # weight 20 read back as shares
    obs = observed(running(web, limits_in_force=live), cgroup_version=2)
    assert plan(desired(web), obs).is_empty()
    obs1 = observed(running(web, limits_in_force=live), cgroup_version=1)
    assert kinds(plan(desired(web), obs1)) == [("update", "web")]


def test_cpuset_spelling_is_not_drift():
    web = dc("web", limits={"cpuset_cpus": "0,1"})
    live = dict(live_limits(web.config), cpuset_cpus="0-1")
    assert plan(desired(web), observed(running(web, limits_in_force=live))).is_empty()


def test_stale_hash_with_identical_config_restamps():
    web = dc("web")
    p = plan(desired(web), observed(running(web, spec_hash="sha256:old")))
    assert kinds(p) == [("update", "web")]
    assert p.actions[0].changes == ()


def test_owned_container_gone_from_the_file_is_removed():
    web, old = dc("web"), dc("old")
    p = plan(desired(web), observed(running(web), running(old, "c2")))
    assert kinds(p) == [("remove", "old")]
    assert p.actions[0].reason == "no longer in the stack file"
    assert "- remove old" in render_text(p)
    assert p.summary() == (0, 0, 0, 1)


def test_an_interrupted_removal_is_finished_before_its_name_is_created_again():
    web = dc("web")
    ghost = running(web, "g" * 64, status="removing", alive=False)
    obs = replace(observed(), interrupted=(ghost,))
    p = plan(desired(web), obs)
    assert kinds(p) == [("remove", "web"), ("create", "web")]
    rm = p.actions[0]
    assert rm.interrupted and rm.id == "g" * 64 and "interrupted" in rm.reason
    assert p.summary() == (1, 0, 0, 1)          # two objects: the ghost and the new member
    assert json.loads(render_json(p))["actions"][0]["interrupted"] is True
    # beside a live member of the same name (the replace case): the live one stays
    p = plan(desired(web), replace(observed(running(web)), interrupted=(ghost,)))
    assert kinds(p) == [("remove", "web")] and p.actions[0].id == "g" * 64
    # and `delete` (nothing desired) removes it too
    p = plan(DesiredState(stack=STACK), obs)
    assert kinds(p) == [("remove", "web")]


def test_scaling_down_removes_the_highest_replicas_first():
    ws = [dc(f"w-{i}", "w") for i in (1, 2, 3, 4)]
    p = plan(desired(*ws[:2]), observed(*[running(w, f"c{i}") for i, w in enumerate(ws)]))
    assert kinds(p) == [("remove", "w-4"), ("remove", "w-3")]
    assert all(a.reason == "scaled away" for a in p.actions)


def test_scaling_from_one_to_two_renames():
    one = dc("w")
    two = [dc("w-1", "w"), dc("w-2", "w")]
    p = plan(desired(*two), observed(running(one)))
    # the member of the old scheme is renamed into the first replica: a replacement that says so
    assert kinds(p) == [("replace", "w-1"), ("create", "w-2")]
    assert p.actions[0].reason.startswith("renamed")


def test_removals_run_in_reverse_dependency_order():
    db = dc("db")
    api = dc("api", deps=[("db", "healthy")])
    front = dc("front", deps=[("api", "started")])
    p = plan(desired(), observed(running(db, "1"), running(api, "2"), running(front, "3")))
    assert [a.name for a in p.actions if isinstance(a, Remove)] == ["front", "api", "db"]


def test_containers_of_others_are_never_touched():
    web = dc("web")
    theirs = replace(running(dc("x"), "c9"), stack="other")
    mine = replace(running(dc("y"), "c8"), stack=None)
    assert plan(desired(web), observed(running(web), theirs, mine)).is_empty()


@pytest.mark.parametrize("owner", [None, "other"])
def test_same_name_not_owned_is_refused_without_adopt(owner):
    web = dc("web")
    obs = observed(replace(running(web), stack=owner))
    with pytest.raises(Conflict, match="--adopt"):
        plan(desired(web), obs)


def test_adopt_identical_takes_over():
    web = dc("web")
    obs = observed(replace(running(web), stack=None, spec_hash=None))
    p = plan(desired(web), obs, adopt=True)
    assert kinds(p) == [("adopt", "web")]
    assert isinstance(p.actions[0], Adopt)


def test_adopt_identical_but_exited_adopts_then_starts():
    web = dc("web")
    obs = observed(replace(running(web), stack=None, status="exited", exit_code=2,
                           limits_in_force=None))
    assert kinds(plan(desired(web), obs, adopt=True)) == [("adopt", "web"), ("start", "web")]


def test_adopt_different_replaces():
    was, now = dc("web", command=["a"]), dc("web", command=["b"])
    obs = observed(replace(running(was), stack=None))
    p = plan(desired(now), obs, adopt=True)
    assert kinds(p) == [("replace", "web")] and p.actions[0].forced_by == ("command",)


def test_dependency_cycle_is_a_spec_error():
    a = dc("a", deps=[("b", "started")])
    b = dc("b", deps=[("a", "started")])
    with pytest.raises(SpecError, match="dependency cycle: a -> b -> a"):
        plan(desired(a, b), observed())


def test_paused_and_restarting_are_left_alone():
    web = dc("web", restart="always")
    assert plan(desired(web), observed(running(web, status="paused"))).is_empty()
    obs = running(web, status="restarting", alive=False, limits_in_force=None)
    assert plan(desired(web), observed(obs)).is_empty()


# ---------------------------------------------------------------------------------------------
# rendering


def test_text_has_symbols_summary_and_no_colour_by_default():
    web = dc("web", command=["a"])
    new = dc("new")
    job = dc("job")
    p = plan(desired(dc("web", command=["b"]), new, job),
             observed(running(web), running(job, "c3", status="exited", exit_code=3,
                                            limits_in_force=None),
                      running(dc("gone"), "c4")))
    text = render_text(p)
    for s in ("+ create new", "-/+ replace web", "> start job", "- remove gone",
              'command: ["a"] -> ["b"]   # forces replacement',
              "Plan: 1 to add, 1 to change, 1 to replace, 1 to remove."):
        assert s in text, s
    assert "\033[" not in text
    assert "\033[" in render_text(p, color=True)


def test_secrets_are_masked_in_text_and_json():
    was = dc("web", env={"DB_PASSWORD": "hunter2", "api_token": "t0k", "MODE": "x"})
    now = dc("web", env={"DB_PASSWORD": "hunter3", "api_token": "t0k2", "MODE": "y",
                         "SECRET_KEY": "s3"})
    p = plan(desired(now), observed(running(was)))
    text, js = render_text(p), render_json(p)
    for secret in ("hunter2", "hunter3", "t0k", "s3"):
        assert secret not in text and secret not in js
    assert "(sensitive)" in text and '"y"' in text
    created = render_text(plan(desired(now), observed()))
    assert "hunter3" not in created and "(sensitive)" in created


def test_json_form():
    was = dc("web", limits={"memory": "64m"})
    now = dc("web", limits={"memory": "128m"})
    d = json.loads(render_json(plan(desired(now), observed(running(was)))))
    assert d["changes"] is True
    assert d["summary"] == {"add": 0, "change": 1, "replace": 0, "remove": 0}
    a = d["actions"][0]
    assert a["action"] == "update" and a["name"] == "web"
    assert a["changes"][0] == {"field": "memory", "old": 67108864, "new": 134217728,
                               "forces_replacement": False, "live": False}
    empty = json.loads(render_json(plan(desired(now), observed(running(now)))))
    assert empty["changes"] is False and empty["actions"] == []


def test_plans_are_frozen_values():
    web = dc("web")
    p = plan(desired(web), observed(image=False))
    with pytest.raises(Exception):
        p.actions = ()  # type: ignore[misc]
    assert isinstance(p.actions[0], ImportImage) and isinstance(p.actions[1], Create)
    assert plan(desired(web), observed(image=False)) == p


def test_a_changed_limit_is_a_change_not_drift_when_live_matches_the_record():
    was = dc("web", limits={"memory": "64m"})
    now = dc("web", limits={"memory": "96m"})
    a = plan(desired(now), observed(running(was))).actions[0]
    assert a.changes[0].path == "memory" and not a.changes[0].live
    assert a.reason == "changed: memory"
    # ...but when someone also wrote the cgroup by hand, the live value is what is shown
    live = dict(live_limits(was.config), memory=134217728)
    a = plan(desired(now), observed(running(was, limits_in_force=live))).actions[0]
    assert a.changes[0].live and a.changes[0].old == 134217728


# ---------------------------------------------------------------------------------------------
# source identity of images (shared references, `changes`)


def test_reference_imported_by_someone_else_from_the_same_tar_is_current():
    """Another stack or `rocker import` imported the same tar: another image id (ids are not
    deterministic), the same source identity: nothing to import, nothing to replace."""
    web = dc("web")
    other_id = "sha256:" + "3" * 64
    obs = observed(running(web), images={REF: ObservedImage(REF, other_id, DIGEST, NO_CHANGES)})
    assert plan(desired(web), obs).is_empty()


def test_container_of_an_image_with_the_same_source_is_not_replaced():
    web = dc("web")
    p = plan(desired(web), observed(running(web, image_id="sha256:" + "2" * 64)))
    assert p.is_empty()


def test_changed_changes_reimport_and_replace_users():
    web = dc("web")
    img = DesiredImage(name="busybox", ref=REF, source="/x/busybox.tar", digest=DIGEST,
                       changes=("ENV A=2",), changes_key='[["ENV",{"A":"2"}]]')
    d = replace(desired(web), images=(img,))
    obs = observed(running(web, image_identity=(DIGEST, '[["ENV",{"A":"1"}]]')),
                   images={REF: ObservedImage(REF, IMG_ID, DIGEST, '[["ENV",{"A":"1"}]]')})
    p = plan(d, obs)
    assert kinds(p) == [("import", REF), ("replace", "web")]
    assert p.actions[0].reason == "its changes changed"
    assert p.actions[1].forced_by == ("image",)


def test_shared_store_image_reimported_by_hand_is_current():
    """`image: alpine` from the store, re-imported with `rocker import` from the same tar."""
    web = dc("web", image="alpine:latest")
    ident = ("sha256:" + "b" * 64, NO_CHANGES)
    obs = observed(running(web, image_identity=ident),
                   images={"alpine:latest": ObservedImage("alpine:latest", "sha256:" + "4" * 64,
                                                          *ident)})
    assert plan(desired(web, images=False), obs).is_empty()


# ---------------------------------------------------------------------------------------------
# unsupervised containers, depends_on restamps


def test_running_unsupervised_is_restarted_with_the_evidence():
    web = dc("web")
    obs = observed(running(web, unsupervised=True, evidence="monitor 4242 is gone"))
    p = plan(desired(web), obs)
    assert kinds(p) == [("restart", "web")]
    assert "monitor 4242 is gone" in p.actions[0].evidence
    assert p.summary() == (0, 1, 0, 0)
    text = render_text(p)
    assert "> restart web  (running unsupervised: monitor 4242 is gone)" in text


def test_depends_on_change_is_a_record_only_update():
    was = dc("worker", deps=[("web", "started")])
    now = dc("worker", deps=[("web", "healthy")])
    assert was.spec_hash == now.spec_hash
    p = plan(desired(dc("web"), now), observed(running(dc("web"), "c0"), running(was)))
    assert kinds(p) == [("update", "worker")]
    a = p.actions[0]
    assert a.record_only and [(c.path, c.old, c.new) for c in a.changes] == [
        ("depends_on.web", "started", "healthy")]
    assert "depends_on" in a.reason and "not touched" in a.reason
    assert json.loads(render_json(p))["actions"][0]["record_only"] is True
    # with a limit change too, it is a normal update that also restamps
    now2 = dc("worker", deps=[("web", "healthy")], limits={"memory": "64m"})
    a = plan(desired(dc("web"), now2), observed(running(dc("web"), "c0"), running(was))
             ).actions[0]
    assert not a.record_only and {c.path for c in a.changes} == {"memory", "depends_on.web"}


# ---------------------------------------------------------------------------------------------
# rendering details


def test_colour_of_the_action_survives_the_bold_name():
    p = plan(desired(dc("new")), observed())
    line = next(ln for ln in render_text(p, color=True).splitlines() if "create" in ln)
    assert line.count("\033[0m") == 1 and line.endswith("\033[0m")
    assert "\033[1mnew\033[22m" in line


def test_reimport_is_shown_as_a_change():
    web = dc("web")
    obs = observed(running(web, image_identity=("sha256:old", NO_CHANGES)),
                   images={REF: ObservedImage(REF, IMG_ID, "sha256:old", NO_CHANGES)})
    p = plan(desired(web), obs)
    text = render_text(p)
    assert "  ~ re-import image busybox:latest  (the tar changed)" in text
    assert "+ import" not in text
    assert p.summary() == (0, 1, 1, 0)
    new = render_text(plan(desired(web), observed(image=False)))
    assert "  + import image busybox:latest  (new image)" in new


def test_removing_memory_does_not_report_the_derived_swap():
    was = dc("web", limits={"memory": "64m"})
    now = dc("web")
    live = dict(live_limits(was.config), memory=67108864, memory_swap=134217728)
    p = plan(desired(now), observed(running(was, limits_in_force=live)))
    assert [c.path for c in p.actions[0].changes] == ["memory"]
    # a swap limit that is not derived from the memory limit is still drift
    live["memory_swap"] = 999997952
    p = plan(desired(now), observed(running(was, limits_in_force=live)))
    assert [c.path for c in p.actions[0].changes] == ["memory", "memory_swap"]


def test_a_member_sharing_a_namespace_follows_its_target():
    """`network_mode: container:T` joins T's namespace at start: when the plan makes T's
    namespace anew (replace, create, start, restart) the member is restarted after T; when T
    restarted behind the plan's back (its restart policy), the namespaces differ: drift."""
    web = dc("web", network_mode="none")
    side = dc("side", network_mode="container:web", deps=[("web", "started")])
    changed = dc("web", network_mode="none", command=["sleep", "2"])
    p = plan(desired(changed, side), observed(running(web, "c1", netns=7),
                                               running(side, "c2", netns=7)))
    assert kinds(p) == [("replace", "web"), ("restart", "side")]
    assert "the network namespace of web is made anew" in p.actions[1].reason
    # nothing to do while they share one namespace; drift when they do not
    assert plan(desired(web, side), observed(running(web, "c1", netns=7),
                                             running(side, "c2", netns=7))).is_empty()
    p = plan(desired(web, side), observed(running(web, "c1", netns=8),
                                          running(side, "c2", netns=7)))
    assert kinds(p) == [("restart", "side")]
    assert "not in the network namespace of web any more" in p.actions[0].evidence
    # a stopped member is started anyway, and a replaced one joins by itself
    p = plan(desired(changed, side), observed(running(web, "c1"),
                                               replace(running(side, "c2"), status="exited",
                                                       alive=False, exit_code=1)))
    assert kinds(p) == [("replace", "web"), ("start", "side")]
