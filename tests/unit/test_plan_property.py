"""Property: executing a plan against a simulated host converges in one run (the next plan is
empty), from any random observed state, for any random spec.

The simulated host covers image references shared with other stacks / `rocker import` (same
source identity, another image id), edits of an image's `changes`, depends_on edits (restamped
in the record only) and containers running unsupervised (their monitor is gone)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rocker.errors import Conflict
from rocker.plan import (
    Adopt,
    Create,
    DesiredState,
    ImportImage,
    ObservedContainer,
    ObservedImage,
    ObservedState,
    Remove,
    Replace,
    Restart,
    Start,
    Update,
    plan,
)
from tests.unit.test_plan import DIGEST, NO_CHANGES, REF, STACK, dc, live_limits

SERVICES = ["db", "api", "web", "job"]
STORE_REF = "alpine:latest"
COMMANDS = [["sleep", "1000"], ["sh", "-c", "echo hi"], ["httpd", "-f"]]
MEMORY = [None, "64m", "128m"]
RESTART = ["no", "always", "on-failure"]
LABELS = [{}, {"tier": "a"}, {"tier": "b"}]
ENV = [{}, {"A": "1"}, {"TOKEN": "x"}]
CHANGES = [((), NO_CHANGES), (("ENV A=1",), '[["ENV",{"A":"1"}]]')]
DEP_CONDS = ["started", "healthy", "completed"]


@st.composite
def service_configs(draw):
    opts = {"command": draw(st.sampled_from(COMMANDS)), "restart": draw(st.sampled_from(RESTART)),
            "labels": draw(st.sampled_from(LABELS)), "env": draw(st.sampled_from(ENV))}
    mem = draw(st.sampled_from(MEMORY))
    if mem:
        opts["limits"] = {"memory": mem}
    opts["image"] = draw(st.sampled_from([REF, STORE_REF]))
    return opts


@st.composite
def desired_states(draw):
    n = draw(st.integers(0, len(SERVICES)))
    services = SERVICES[:n]
    containers = []
    for i, svc in enumerate(services):
        opts = draw(service_configs())
        replicas = draw(st.integers(0, 3))
        deps = []
        for earlier in services[:i]:
            if draw(st.booleans()):
                deps.append((earlier, draw(st.sampled_from(["started", "healthy",
                                                             "completed"]))))
        names = [f"{STACK}-{svc}-{k}" for k in range(1, replicas + 1)]
        for name in names:
            containers.append(dc(name, svc, deps=tuple(sorted(deps)), **dict(opts)))
    from rocker.plan import DesiredImage
    changes, key = draw(st.sampled_from(CHANGES))
    images = (DesiredImage("busybox", REF, "/x/busybox.tar", DIGEST, changes, key),) \
        if draw(st.booleans()) or any(c.image_ref == REF for c in containers) else ()
    return DesiredState(stack=STACK, images=images, containers=tuple(containers),
                        source="stack.yaml")


# members named by the stack-scoped scheme (demo-db-1) and by an older rocker's (db, db-2)
ALL_NAMES = [n for s in SERVICES for n in [s, f"{s}-1", f"{s}-2", f"{s}-3", f"{STACK}-{s}-1",
                                           f"{STACK}-{s}-2", f"{STACK}-{s}-4"]] + ["stray"]


def _service_of(name: str) -> str:
    """The service a generated name belongs to, in either naming scheme."""
    if name.startswith(STACK + "-"):
        return name[len(STACK) + 1:].rsplit("-", 1)[0]
    return name.rsplit("-", 1)[0] if name[-1].isdigit() else name

IDS = ["sha256:" + "1" * 64, "sha256:" + "2" * 64]


@st.composite
def observed_states(draw, desired: DesiredState):
    images = {STORE_REF: ObservedImage(STORE_REF, IDS[0],
                                       *draw(st.sampled_from([(None, None),
                                                              ("sha256:alp", NO_CHANGES)])))}
    wanted_identity = desired.images[0].identity if desired.images else (DIGEST, NO_CHANGES)
    other_changes = NO_CHANGES if wanted_identity[1] != NO_CHANGES else CHANGES[1][1]
    identities = {"same": wanted_identity, "changed tar": ("sha256:old", wanted_identity[1]),
                  "changed changes": (wanted_identity[0], other_changes),
                  "foreign": (None, None)}
    img = draw(st.sampled_from(["absent", "same", "same", "changed tar", "changed changes",
                                "foreign"]))
    if img != "absent":
        # "same" with any id: imported by this stack, another stack or `rocker import`
        images[REF] = ObservedImage(REF, draw(st.sampled_from(IDS)), *identities[img])
    wanted = {c.name: c for c in desired.containers}
    services = sorted({c.service for c in desired.containers}) + ["gone"]
    containers = {}
    for name in draw(st.lists(st.sampled_from(ALL_NAMES + list(wanted) * 3), unique=True,
                              max_size=10)):
        svc = _service_of(name)
        deps = None
        if name in wanted and draw(st.booleans()):
            d = wanted[name]            # what apply made, maybe with one field changed since
            deps = d.depends_on
            if draw(st.booleans()):
                opts = draw(service_configs())
                d = dc(name, svc, **{k: v for k, v in opts.items()
                                     if k in ("limits", "restart", "labels")},
                       command=d.config["command"], env=d.config["env"],
                       image=d.config["image"])
        else:
            d = dc(name, svc, **draw(service_configs()))
        if deps is None or draw(st.booleans()):   # recorded dependencies, maybe stale
            deps = tuple(sorted(draw(st.dictionaries(st.sampled_from(services),
                                                     st.sampled_from(DEP_CONDS),
                                                     max_size=2)).items()))
        status = draw(st.sampled_from(["running", "running", "exited", "created", "paused",
                                       "restarting"]))
        is_running = status in ("running", "paused")
        live = None
        if is_running:
            live = live_limits(d.config)
            if draw(st.booleans()):
                live["memory"] = draw(st.sampled_from([None, 134217728, 999999999]))
        unsupervised = status == "running" and draw(st.integers(0, 3)) == 0
        cur = images.get(d.image_ref)
        image_id = draw(st.sampled_from(IDS + ([cur.id] * 3 if cur else [])))
        # one image id has one identity (the id the reference points at has the ref's)
        image_identity = cur.identity if cur and image_id == cur.id else draw(st.sampled_from(
            [wanted_identity, wanted_identity, None, ("sha256:old", NO_CHANGES),
             (wanted_identity[0], other_changes)]))
        containers[name] = ObservedContainer(
            name=name, id=f"id-{name}-0",
            stack=draw(st.sampled_from([STACK, STACK, STACK, None, "other"])),
            service=svc,
            spec_hash=draw(st.sampled_from([d.spec_hash, d.spec_hash, "sha256:stale", None])),
            config=dict(d.config), status=status, alive=is_running,
            exit_code=None if status != "exited" else draw(st.sampled_from([0, 1, 137])),
            oom_killed=draw(st.booleans()), limits_in_force=live,
            image_id=image_id, image_identity=image_identity,
            depends_on=deps, unsupervised=unsupervised,
            evidence="monitor 99 is gone" if unsupervised else None,
        )
    return ObservedState(images=images, containers=containers)


def simulate(p, desired: DesiredState, obs: ObservedState) -> ObservedState:
    """A pure, faithful-enough host: apply each action to the observed state."""
    images = dict(obs.images)
    containers = dict(obs.containers)
    counter = [0]

    def fresh(c, old_id=None) -> ObservedContainer:
        counter[0] += 1
        img = images[c.image_ref]
        return ObservedContainer(
            name=c.name, id=f"new-{c.name}-{counter[0]}", stack=desired.stack,
            service=c.service, spec_hash=c.spec_hash, config=dict(c.config), status="running",
            alive=True, limits_in_force=live_limits(c.config),
            image_id=img.id, image_identity=img.identity, depends_on=c.depends_on)

    for a in p.actions:
        if isinstance(a, ImportImage):
            # a new image id every time (import ids are not deterministic), and the source
            # identity recorded on it
            counter[0] += 1
            images[a.image.ref] = ObservedImage(a.image.ref, f"sha256:new{counter[0]}",
                                                a.image.digest, a.image.changes_key)
        elif isinstance(a, Remove):
            del containers[a.name]
        elif isinstance(a, (Create, Replace)):
            if isinstance(a, Replace) and a.name not in containers:
                # a member of the old naming scheme renamed into its replica's new name
                assert a.reason.startswith("renamed"), a
                old = [n for n, o in containers.items() if o.id == a.id]
                assert len(old) == 1, (a, old)
                del containers[old[0]]
            else:
                assert isinstance(a, Create) or containers[a.name].id == a.id
            containers[a.name] = fresh(a.container)
        elif isinstance(a, Update):
            o = containers[a.name]
            if a.record_only:   # the container is not touched: only the stamp changes
                assert a.changes and all(ch.path.startswith("depends_on.") for ch in a.changes)
                assert o.spec_hash == a.container.spec_hash
                containers[a.name] = replace(o, depends_on=a.container.depends_on)
                continue
            live = live_limits(a.container.config) if o.status in ("running", "paused") else None
            containers[a.name] = replace(o, config=dict(a.container.config),
                                         spec_hash=a.container.spec_hash, limits_in_force=live,
                                         depends_on=a.container.depends_on)
        elif isinstance(a, Adopt):
            containers[a.name] = replace(containers[a.name], stack=desired.stack,
                                         service=a.container.service,
                                         spec_hash=a.container.spec_hash,
                                         depends_on=a.container.depends_on)
        elif isinstance(a, Restart):
            o = containers[a.name]
            assert o.unsupervised and o.status == "running"
            assert "monitor 99 is gone" in a.evidence
            containers[a.name] = replace(o, unsupervised=False, evidence=None,
                                         limits_in_force=live_limits(o.config))
        elif isinstance(a, Start):
            o = containers[a.name]
            containers[a.name] = replace(o, status="running", alive=True, exit_code=None,
                                         limits_in_force=live_limits(o.config))
        else:  # pragma: no cover
            raise AssertionError(a)
    return ObservedState(images=images, containers=containers)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(desired_states(), st.data(), st.booleans())
def test_apply_converges_in_one_run(desired, data, adopt):
    obs = data.draw(observed_states(desired))
    try:
        p = plan(desired, obs, adopt=adopt)
    except Conflict:
        # refused only when a wanted name is held by a container the stack does not own
        assert not adopt
        wanted = {c.name for c in desired.containers}
        assert any(o.stack != STACK for n, o in obs.containers.items() if n in wanted)
        event("refused (not owned, no --adopt)")
        return
    for kind in sorted({a.kind for a in p.actions}):
        event(f"plan has {kind}")
    if any(isinstance(a, Update) and a.record_only for a in p.actions):
        event("plan has a record-only restamp (depends_on)")
    if any(isinstance(a, Replace) and a.reason.startswith("renamed") for a in p.actions):
        event("plan renames a member of the old naming scheme")
    cur = obs.images.get(REF)
    if desired.images and cur is not None and cur.identity == desired.images[0].identity:
        event("reference current by source identity")
        assert not any(isinstance(a, ImportImage) for a in p.actions)
    after = simulate(p, desired, obs)
    again = plan(desired, after, adopt=adopt)
    assert again.is_empty(), (p.actions, again.actions)
    # nothing outside the stack was touched
    for name, o in obs.containers.items():
        if o.stack != STACK and name not in {c.name for c in desired.containers}:
            assert after.containers[name] == o
    # and the plan is deterministic
    assert plan(desired, obs, adopt=adopt) == p


def _as_stack(d: DesiredState, stack: str, prefix: str) -> DesiredState:
    return replace(d, stack=stack, containers=tuple(
        replace(c, name=prefix + c.name) for c in d.containers))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(desired_states(), desired_states(), st.data())
def test_stacks_sharing_an_image_reference_converge(a, b, data):
    """Two stacks (and a manual `rocker import` of the same tar) importing the same reference:
    after each has applied once, neither plans anything, whoever imported the image last."""
    b = _as_stack(b, "second", "b-")
    if a.images and b.images:
        b = replace(b, images=a.images)   # the same tar and changes under the same reference
    obs = data.draw(observed_states(a))
    obs = replace(obs, containers={n: o for n, o in obs.containers.items()
                                   if o.stack == STACK})
    after = simulate(plan(a, obs), a, obs)
    after = simulate(plan(b, after), b, after)
    assert plan(a, after).is_empty(), plan(a, after).actions
    assert plan(b, after).is_empty(), plan(b, after).actions
    if a.images and data.draw(st.booleans()):
        # `rocker import busybox.tar busybox` again: a new image id, the same source identity
        img = a.images[0]
        images = dict(after.images)
        images[img.ref] = ObservedImage(img.ref, "sha256:manual", img.digest, img.changes_key)
        after = replace(after, images=images)
        event("re-imported by hand")
        assert plan(a, after).is_empty(), plan(a, after).actions
        assert plan(b, after).is_empty(), plan(b, after).actions
