"""Property: executing a plan against a simulated host converges in one run (the next plan is
empty), from any random observed state, for any random spec."""

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
    Start,
    Update,
    plan,
)
from tests.unit.test_plan import DIGEST, REF, STACK, dc, live_limits

SERVICES = ["db", "api", "web", "job"]
STORE_REF = "alpine:latest"
COMMANDS = [["sleep", "1000"], ["sh", "-c", "echo hi"], ["httpd", "-f"]]
MEMORY = [None, "64m", "128m"]
RESTART = ["no", "always", "on-failure"]
LABELS = [{}, {"tier": "a"}, {"tier": "b"}]
ENV = [{}, {"A": "1"}, {"TOKEN": "x"}]


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
        names = [svc] if replicas == 1 else [f"{svc}-{k}" for k in range(1, replicas + 1)]
        for name in names:
            containers.append(dc(name, svc, deps=tuple(sorted(deps)), **dict(opts)))
    from rocker.plan import DesiredImage
    images = (DesiredImage("busybox", REF, "/x/busybox.tar", DIGEST),) \
        if draw(st.booleans()) or any(c.image_ref == REF for c in containers) else ()
    return DesiredState(stack=STACK, images=images, containers=tuple(containers),
                        source="stack.yaml")


ALL_NAMES = [n for s in SERVICES for n in [s, f"{s}-1", f"{s}-2", f"{s}-3"]] + ["stray"]
IDS = ["sha256:" + "1" * 64, "sha256:" + "2" * 64]


@st.composite
def observed_states(draw, desired: DesiredState):
    images = {STORE_REF: ObservedImage(STORE_REF, IDS[0])}
    img = draw(st.sampled_from(["absent", "same", "same", "changed", "foreign"]))
    if img != "absent":
        images[REF] = ObservedImage(REF, draw(st.sampled_from(IDS)),
                                    {"same": DIGEST, "changed": "sha256:old",
                                     "foreign": None}[img])
    wanted = {c.name: c for c in desired.containers}
    containers = {}
    for name in draw(st.lists(st.sampled_from(ALL_NAMES + list(wanted) * 3), unique=True,
                              max_size=10)):
        svc = name.rsplit("-", 1)[0] if name[-1].isdigit() else name
        if name in wanted and draw(st.booleans()):
            d = wanted[name]            # what apply made, maybe with one field changed since
            if draw(st.booleans()):
                opts = draw(service_configs())
                d = dc(name, svc, **{k: v for k, v in opts.items()
                                     if k in ("limits", "restart", "labels")},
                       command=d.config["command"], env=d.config["env"],
                       image=d.config["image"])
        else:
            d = dc(name, svc, **draw(service_configs()))
        status = draw(st.sampled_from(["running", "running", "exited", "created", "paused",
                                       "restarting"]))
        is_running = status in ("running", "paused")
        live = None
        if is_running:
            live = live_limits(d.config)
            if draw(st.booleans()):
                live["memory"] = draw(st.sampled_from([None, 134217728, 999999999]))
        cur = images.get(d.image_ref)
        containers[name] = ObservedContainer(
            name=name, id=f"id-{name}-0",
            stack=draw(st.sampled_from([STACK, STACK, STACK, None, "other"])),
            service=svc,
            spec_hash=draw(st.sampled_from([d.spec_hash, d.spec_hash, "sha256:stale", None])),
            config=dict(d.config), status=status, alive=is_running,
            exit_code=None if status != "exited" else draw(st.sampled_from([0, 1, 137])),
            oom_killed=draw(st.booleans()), limits_in_force=live,
            image_id=draw(st.sampled_from(IDS + ([cur.id] * 3 if cur else []))),
            depends_on=(),
        )
    return ObservedState(images=images, containers=containers)


def simulate(p, desired: DesiredState, obs: ObservedState) -> ObservedState:
    """A pure, faithful-enough host: apply each action to the observed state."""
    images = dict(obs.images)
    containers = dict(obs.containers)
    counter = [0]

    def fresh(c, old_id=None) -> ObservedContainer:
        counter[0] += 1
        return ObservedContainer(
            name=c.name, id=f"new-{c.name}-{counter[0]}", stack=desired.stack,
            service=c.service, spec_hash=c.spec_hash, config=dict(c.config), status="running",
            alive=True, limits_in_force=live_limits(c.config),
            image_id=images[c.image_ref].id, depends_on=c.depends_on)

    for a in p.actions:
        if isinstance(a, ImportImage):
            images[a.image.ref] = ObservedImage(a.image.ref, "sha256:new" + a.image.digest[7:],
                                                a.image.digest)
        elif isinstance(a, Remove):
            del containers[a.name]
        elif isinstance(a, (Create, Replace)):
            assert isinstance(a, Create) or containers[a.name].id == a.id
            containers[a.name] = fresh(a.container)
        elif isinstance(a, Update):
            o = containers[a.name]
            live = live_limits(a.container.config) if o.status in ("running", "paused") else None
            containers[a.name] = replace(o, config=dict(a.container.config),
                                         spec_hash=a.container.spec_hash, limits_in_force=live)
        elif isinstance(a, Adopt):
            containers[a.name] = replace(containers[a.name], stack=desired.stack,
                                         service=a.container.service,
                                         spec_hash=a.container.spec_hash)
        elif isinstance(a, Start):
            o = containers[a.name]
            containers[a.name] = replace(o, status="running", alive=True, exit_code=None,
                                         limits_in_force=live_limits(o.config))
        else:  # pragma: no cover
            raise AssertionError(a)
    return ObservedState(images=images, containers=containers)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
    after = simulate(p, desired, obs)
    again = plan(desired, after, adopt=adopt)
    assert again.is_empty(), (p.actions, again.actions)
    # nothing outside the stack was touched
    for name, o in obs.containers.items():
        if o.stack != STACK and name not in {c.name for c in desired.containers}:
            assert after.containers[name] == o
    # and the plan is deterministic
    assert plan(desired, obs, adopt=adopt) == p
