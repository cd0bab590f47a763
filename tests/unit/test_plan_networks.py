"""The planner's networks (rocker.plan.planner, pure): created, updated in place, replaced with
their members, removed after (or, when a new network takes over the subnet, before) their
members; external ones used, never touched; members whose links drifted restarted."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rocker.errors import Conflict, SpecError
from rocker.plan.model import (
    CreateNetwork,
    DesiredNetwork,
    ObservedAttachment,
    ObservedNetwork,
    RemoveNetwork,
    ReplaceNetwork,
    UpdateNetwork,
)
from rocker.plan.planner import plan
from tests.unit.test_plan import STACK, dc, desired, kinds, observed, running

DEF = f"{STACK}_default"
BACK = f"{STACK}_back"


def member(name: str = "web", nets=(DEF,)):
    return dc(name, networks=list(nets))


def net(name: str = DEF, key: str = "default", **kw) -> DesiredNetwork:
    return DesiredNetwork(name=name, key=key, **kw)


def seen(name: str = DEF, subnet: str = "10.87.1.0/24", users=(), **kw) -> ObservedNetwork:
    base = dict(name=name, id="n-" + name, subnet=subnet, gateway=subnet.rsplit(".", 1)[0]
                + ".1", stack=STACK, bridge="rk-" + name[-12:], bridge_present=True,
                users=tuple(users))
    base.update(kw)
    return ObservedNetwork(**base)


def linked(c, network: str = DEF, **kw) -> ObservedAttachment:
    base = dict(network=network, ifname="eth0", ip="10.87.1.2", veth="rk" + "a" * 12 + "0",
                veth_present=True, bridge="rk-" + network[-12:], veth_master="rk-" +
                network[-12:], address_present=True)
    base.update(kw)
    return ObservedAttachment(**base)


def state(*containers, networks=(), **kw):
    return replace(observed(*containers, **kw), networks={n.name: n for n in networks})


def with_nets(d, *nets):
    return replace(d, networks=tuple(nets))


def test_a_new_stack_creates_its_network_before_its_members():
    web = member()
    p = plan(with_nets(desired(web), net()), state())
    assert kinds(p) == [("create", DEF), ("create", "web")]
    assert isinstance(p.actions[0], CreateNetwork)


def test_converged_network_and_member_plan_nothing():
    web = member()
    obs = state(running(web, attachments=(linked(web),)), networks=[seen(users=["web"])])
    assert plan(with_nets(desired(web), net()), obs).is_empty()


def test_labels_change_in_place_and_subnet_replaces_with_members():
    web = member()
    obs = state(running(web, "c1", attachments=(linked(web),)),
                networks=[seen(users=["web"], labels={"a": "1"})])
    p = plan(with_nets(desired(web), net(labels={"a": "2"})), obs)
    assert kinds(p) == [("update", DEF)] and isinstance(p.actions[0], UpdateNetwork)
    p = plan(with_nets(desired(web), net(subnet="10.66.0.0/24")), obs)
    assert kinds(p) == [("replace", DEF), ("replace", "web")]
    r = p.actions[0]
    assert isinstance(r, ReplaceNetwork) and r.members == ("c1",)
    assert "subnet" in r.reason and "network" in p.actions[1].reason
    # an unset subnet in the file is whatever was picked: no change
    assert plan(with_nets(desired(web), net(labels={"a": "1"})), obs).is_empty()


def test_a_network_the_file_dropped_goes_after_its_members():
    web = member(nets=(DEF,))
    was = member(nets=(DEF, BACK))
    obs = state(running(was, "c1", attachments=(linked(was), linked(was, BACK, ifname="eth1"))),
                networks=[seen(users=["web"]), seen(BACK, "10.87.2.0/24", users=["web"])])
    p = plan(with_nets(desired(web), net()), obs)
    assert kinds(p) == [("replace", "web"), ("remove", BACK)]
    assert isinstance(p.actions[-1], RemoveNetwork) and not p.actions[-1].members


def test_a_new_network_taking_over_a_dropped_subnet_removes_the_old_one_first():
    web = member(nets=(f"{STACK}_back2",))
    was = member(nets=(BACK,))
    obs = state(running(was, "c1", attachments=(linked(was, BACK),)),
                networks=[seen(BACK, "10.66.0.0/24", users=["web"])])
    p = plan(with_nets(desired(web), net(f"{STACK}_back2", "back2", subnet="10.66.0.0/24")),
             obs)
    assert kinds(p) == [("remove", BACK), ("create", f"{STACK}_back2"), ("replace", "web")]
    assert p.actions[0].members == ("c1",) and "takes over its subnet" in p.actions[0].reason
    # refused when a container outside the stack holds it
    obs = replace(obs, networks={BACK: seen(BACK, "10.66.0.0/24", users=["web", "theirs"])})
    with pytest.raises(Conflict, match="theirs"):
        plan(with_nets(desired(web), net(f"{STACK}_back2", "back2", subnet="10.66.0.0/24")),
             obs)


def test_a_network_of_someone_else_is_refused_or_adopted():
    web = member()
    obs = state(networks=[seen(stack=None)])
    with pytest.raises(Conflict, match="--adopt"):
        plan(with_nets(desired(web), net()), obs)
    p = plan(with_nets(desired(web), net()), obs, adopt=True)
    assert kinds(p)[0] == ("update", DEF) and "adopted" in p.actions[0].reason
    # replacing it is refused while containers outside the stack use it
    obs = state(networks=[seen(users=["theirs"])])
    with pytest.raises(Conflict, match="theirs"):
        plan(with_nets(desired(web), net(subnet="10.66.0.0/24")), obs)


def test_external_networks_are_used_never_touched():
    web = member(nets=("shared",))
    ext = net("shared", "shared", external=True)
    with pytest.raises(SpecError, match="external network shared not found"):
        plan(with_nets(desired(web), ext), state())
    obs = state(networks=[seen("shared", stack=None, labels={"x": "y"})])
    assert [a.kind for a in plan(with_nets(desired(web), ext), obs).actions] == ["create"]
    # rocker's default network exists before anything recorded it
    bridge = dc("web", networks=["bridge"])
    p = plan(with_nets(desired(bridge), net("bridge", "bridge", external=True)), state())
    assert kinds(p) == [("create", "web")]


@pytest.mark.parametrize("drift,evidence", [
    (dict(veth_present=False), "is gone"),
    (dict(veth_master=None), "is on no bridge"),
    (dict(veth_master="rk-other"), "is on rk-other"),
    (dict(address_present=False), "its address 10.87.1.2 is gone"),
])
def test_link_drift_restarts_the_member(drift, evidence):
    web = member()
    obs = state(running(web, attachments=(linked(web, **drift),)),
                networks=[seen(users=["web"])])
    p = plan(with_nets(desired(web), net()), obs)
    assert kinds(p) == [("restart", "web")]
    assert p.actions[0].evidence.startswith("network drift: ") and evidence in \
        p.actions[0].evidence
    # a member not attached to a network it should be on
    obs = state(running(web), networks=[seen(users=["web"])])
    assert "not attached to network" in plan(with_nets(desired(web), net()), obs) \
        .actions[0].evidence
