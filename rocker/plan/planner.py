"""The planner: plan(desired, observed) -> Plan. Pure: no disk, no kernel, no clock.

The rules (docs/stacks.md, "Reconciliation"), for each container the file wants:

    absent                                         Create
    there, not owned by this stack                 refuse (Conflict) unless adopt: Adopt when
                                                   identical, else Replace
    owned, a field other than limits / restart /
      labels differs, or its image ref now points
      at another image (or is re-imported)         Replace, naming each forcing field
    owned, only limits / restart / labels differ,
      or a live cgroup value differs (drift)       Update in place (the process keeps running)
    running, but its monitor is gone               Restart (stop + start), with the evidence
    not running (exited, created, dead)            Start, with the evidence; after an Update
                                                   when one is needed too. Exited 0 with a
                                                   restart policy of `no` / `on-failure` is
                                                   *completed*: nothing to do (one-shot jobs
                                                   do not re-run on every apply)
    only depends_on differs from the record        Update, record-only (the container is not
                                                   touched; removal order needs it)
    running (or paused / restarting), same hash,
      no drift                                     nothing

Containers the stack owns that the file no longer has (gone, or replicas scaled away): Remove.
Images: ImportImage when the reference is missing or points at an image whose source identity
(the sha256 of the tar it was imported from and its canonical changes, recorded on the image by
whoever imported it: this stack, another stack, `rocker import`) is not the file's. A container
whose image has the wanted source identity is current, whatever that image's id.

Members are named `<stack>-<service>-<n>`. A member of an older rocker named by the old scheme
(`web`, `web-2`) is replaced by the member with its number (`<stack>-web-1`, `<stack>-web-2`),
and the plan says it is a rename; scaling down removes the highest numbers and keeps the rest.

Networks (`networks:`, and `<stack>_default` when a member joins it):

    absent                                         CreateNetwork
    external (made outside the stack), absent      refuse (SpecError)
    there, not owned by this stack                 refuse (Conflict) unless adopt: UpdateNetwork
                                                   (taken over) when identical, else Replace
    owned, subnet / gateway / internal differs     ReplaceNetwork; the stack's members on it
                                                   are replaced with it (`networks` forces it)
    owned, only labels differ                      UpdateNetwork (the record only)
    owned, no longer in the file                   RemoveNetwork, after the containers

A running member whose links the kernel no longer shows as made (the host end of a veth gone or
off its bridge, because the bridge was deleted; its address gone from its interface) is
restarted: stop and start make its links again, with the same addresses (drift, with the
evidence).

Volumes (`volumes:`; a member's `volumes:` names them by key):

    absent (never made, or deleted behind rocker's back)  CreateVolume; a running member
                                                   that mounts it is restarted (drift: it
                                                   still holds the deleted folder)
    external, absent                               refuse (SpecError)
    there, not owned by this stack                 refuse (Conflict) unless adopt: UpdateVolume
    owned, only labels differ                      UpdateVolume (the record only)
    owned, no longer in the file                   kept, and the plan says so (a note): its
                                                   data is at stake; RemoveVolume, after the
                                                   containers, only with prune_volumes
                                                   (`apply --prune-volumes`, `delete --volumes`)

A member whose mounts changed is replaced (`volumes`, `tmpfs`, `read_only` force it); a named
volume outlives the replacement with its data.

Order: image imports; removals in reverse dependency order; network and volume creations,
replacements and updates; then the other container actions in dependency order (services
topologically sorted, ties by name); network and volume removals last.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Iterable, Mapping

from rocker import fields
from rocker.errors import Conflict, SpecError
from rocker.states import CREATED, EXITED, LIVE, RUNNING, UP
from rocker.plan.model import (
    Action,
    Adopt,
    Change,
    Create,
    CreateNetwork,
    CreateVolume,
    DesiredContainer,
    DesiredNetwork,
    DesiredState,
    ImportImage,
    PullImage,
    ObservedContainer,
    ObservedNetwork,
    ObservedState,
    Plan,
    Remove,
    RemoveNetwork,
    RemoveVolume,
    Replace,
    ReplaceNetwork,
    Restart,
    Start,
    Update,
    UpdateNetwork,
    UpdateVolume,
)

MEMORY_FIELDS = ("memory", "memory_swap", "memory_reservation")
DEFAULT_SHARES = 1024
DEFAULT_WEIGHT = 100
CFS_PERIOD = 100000

_SIGNALS = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS",
            8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 14: "SIGALRM",
            15: "SIGTERM"}


DEFAULT_NETWORK = "bridge"   # rocker's default network (rocker.network.store.DEFAULT)
_ON_THE_DEFAULT = [{"name": DEFAULT_NETWORK, "aliases": [], "ip": None}]


def plan(desired: DesiredState, observed: ObservedState, adopt: bool = False,
         prune_volumes: bool = False) -> Plan:
    """The actions that make `observed` match `desired`, each with its reason; volumes the
    stack owns and no longer declares are removed only with `prune_volumes`."""
    order = service_order(desired)
    images: list[Action] = []
    reimported: set[str] = set()
    for img in desired.images:
        cur = observed.images.get(img.ref)
        act = PullImage if img.pull else ImportImage
        if cur is None:
            images.append(act(name=img.ref, reason="new image", image=img))
            reimported.add(img.ref)
        elif cur.identity != img.identity and img.pull:
            why = ("the tag now points at a new digest" if cur.source_digest else
                   "the reference points at an image not pulled by this digest")
            images.append(PullImage(name=img.ref, reason=why, image=img, old_id=cur.id,
                                    old_digest=cur.source_digest))
            reimported.add(img.ref)
        elif cur.identity != img.identity:
            if cur.identity is None:
                why = "the reference points at an image of unknown source (not imported from a tar)"
            elif cur.source_digest != img.digest:
                why = "the tar changed"
            else:
                why = "its changes changed"
            images.append(ImportImage(name=img.ref, reason=why, image=img, old_id=cur.id,
                                      old_digest=cur.source_digest))
            reimported.add(img.ref)
    stack_images = {i.ref for i in desired.images}
    for c in desired.containers:
        if c.image_ref not in stack_images and c.image_ref not in observed.images:
            raise SpecError(_where(desired, f"containers.{c.service}.image")
                            + f"no such image {c.config.get('image')!r}: it is neither under "
                            "`images:` nor in the image store")

    # removals: owned by this stack, not wanted any more (members named by the old scheme
    # are replaced by the member with their number instead: a rename)
    wanted = {c.name for c in desired.containers}
    renamed = _renamed(desired, observed)
    doomed = [o for o in observed.containers.values()
              if o.stack == desired.stack and o.name not in wanted
              and o.id not in {r.id for r in renamed.values()}]
    rank = {svc: i for i, svc in enumerate(order)}
    doomed_order = _removal_order(doomed, rank)
    removals: list[Action] = [
        Remove(name=o.name, reason="its removal was interrupted: finishing it", id=o.id,
               service=o.service, interrupted=True)
        for o in sorted(observed.interrupted, key=lambda o: (o.name, o.id))]
    for o in doomed_order:
        svc = o.service or o.name
        why = ("scaled away" if svc in rank else "no longer in the stack file")
        removals.append(Remove(name=o.name, reason=why, id=o.id, service=o.service,
                               running=o.status in LIVE))

    by_service: dict[str, list[DesiredContainer]] = {}
    for c in desired.containers:
        by_service.setdefault(c.service, []).append(c)
    networks, replaced, net_removals = _network_actions(desired, observed, adopt)
    volumes, vol_removals, notes = _volume_actions(desired, observed, adopt, prune_volumes)
    containers: list[Action] = []
    fresh_ns: set[str] = set()   # members whose network namespace this plan makes anew
    for svc in order:
        for c in sorted(by_service.get(svc, []), key=lambda c: (c.index, c.name)):
            acts = _container_actions(desired, c, observed, adopt, reimported,
                                      renamed.get(c.name), replaced)
            acts = _rejoin(c, observed.containers.get(c.name), acts, fresh_ns)
            if any(isinstance(a, (Create, Replace, Start)) for a in acts):
                fresh_ns.add(c.name)
            containers.extend(acts)
    containers += _remount(desired, observed, volumes, {a.name for a in containers})
    return Plan(stack=desired.stack,
                actions=tuple(images + removals + networks + volumes + containers
                              + net_removals + vol_removals),
                source=desired.source, notes=tuple(notes))


# ---------------------------------------------------------------------------------------------
# Names of an older rocker


def legacy_index(o: ObservedContainer) -> int | None:
    """The replica number of a member named by the old scheme (`web` is 1, `web-3` is 3)."""
    svc = o.service
    if not svc:
        return None
    if o.name == svc:
        return 1
    base, _, n = o.name.rpartition("-")
    if base == svc and n.isdigit() and not n.startswith("0"):
        return int(n)
    return None


def _renamed(desired: DesiredState, observed: ObservedState) -> dict[str, ObservedContainer]:
    """New name -> the owned member of the old scheme it replaces (same service and number;
    only when the new name is not taken)."""
    out: dict[str, ObservedContainer] = {}
    want = {(c.service, c.index): c.name for c in desired.containers}
    for o in sorted(observed.containers.values(), key=lambda o: o.name):
        if o.stack != desired.stack or desired.container(o.name) is not None:
            continue
        i = legacy_index(o)
        new = want.get((o.service, i)) if i is not None else None
        if new is not None and new not in observed.containers and new not in out:
            out[new] = o
    return out


# ---------------------------------------------------------------------------------------------
# Networks


def _network_changes(n: DesiredNetwork, o: ObservedNetwork) -> list[Change]:
    """What differs between the file's network and the recorded one; a subnet or gateway the
    file leaves unset is whatever was picked."""
    out = []
    if n.subnet is not None and n.subnet != o.subnet:
        out.append(Change("subnet", o.subnet, n.subnet, True))
    if n.gateway is not None and n.gateway != o.gateway:
        out.append(Change("gateway", o.gateway, n.gateway, True))
    if n.internal != o.internal:
        out.append(Change("internal", o.internal, n.internal, True))
    for k in _ordered_keys(o.labels, n.labels):
        if o.labels.get(k) != n.labels.get(k):
            out.append(Change(f"labels.{k}", o.labels.get(k), n.labels.get(k), False))
    return out


def _network_actions(desired: DesiredState, observed: ObservedState, adopt: bool
                     ) -> tuple[list[Action], dict[str, str], list[Action]]:
    """(creations, replacements and updates; network name -> why its members are replaced;
    removals)."""
    before: list[Action] = []
    replaced: dict[str, str] = {}
    members = {o.name: o for o in observed.containers.values() if o.stack == desired.stack}
    for n in desired.networks:
        o = observed.networks.get(n.name)
        if n.external:
            if o is None and n.name != DEFAULT_NETWORK:   # rocker's own exists unrecorded
                raise SpecError(_where(desired, f"networks.{n.key}") + f"external network "
                                f"{n.name} not found: create it with `rocker network create "
                                f"{n.name}`")
            continue
        if o is None:
            before.append(CreateNetwork(name=n.name, reason="not on the host", network=n))
            continue
        changes = _network_changes(n, o)
        forced = [ch for ch in changes if ch.forces_replacement]
        if o.stack != desired.stack:
            owner = f"stack {o.stack}" if o.stack else \
                "no stack (made by `rocker network create`?)"
            if not adopt:
                raise Conflict(f"network {n.name} exists and belongs to {owner}, not to stack "
                               f"{desired.stack}: remove it, or apply with --adopt to take it "
                               "over")
            if not forced:
                before.append(UpdateNetwork(name=n.name, reason=f"adopted from {owner}",
                                            network=n, id=o.id, changes=tuple(changes)))
                continue
        if forced:
            foreign = [u for u in o.users if u not in members]
            if foreign:
                what = ", ".join(ch.path for ch in forced)
                raise Conflict(f"network {n.name} must be replaced ({what} changed) but "
                               f"container(s) {', '.join(foreign)} outside stack "
                               f"{desired.stack} use it: disconnect them first")
            ids = tuple(members[u].id for u in o.users if u in members)
            why = "changed: " + ", ".join(ch.path for ch in forced)
            before.append(ReplaceNetwork(name=n.name, reason=why, network=n, id=o.id,
                                         changes=tuple(changes), members=ids))
            replaced[n.name] = f"its network {n.name} is replaced"
        elif changes:
            before.append(UpdateNetwork(name=n.name, reason="changed: labels", network=n,
                                        id=o.id, changes=tuple(changes)))
    wanted = {n.name for n in desired.networks}
    made = [a.network for a in before if isinstance(a, (CreateNetwork, ReplaceNetwork))]
    first: list[Action] = []
    after: list[Action] = []
    for o in sorted(observed.networks.values(), key=lambda o: o.name):
        if o.stack != desired.stack or o.name in wanted:
            continue
        heir = next((n for n in made if n.subnet and _overlap(n.subnet, o.subnet)), None)
        if heir is None:
            after.append(RemoveNetwork(name=o.name, reason="no longer in the stack file",
                                       id=o.id))
            continue
        # the new network cannot be made while this one holds the subnet: remove it (and
        # the stack's members on it, which move to their new networks below) first
        foreign = [u for u in o.users if u not in members]
        if foreign:
            raise Conflict(f"network {heir.name} takes over the subnet of network {o.name}, "
                           f"which container(s) {', '.join(foreign)} outside stack "
                           f"{desired.stack} use: disconnect them first")
        first.append(RemoveNetwork(
            name=o.name, reason=f"no longer in the stack file; first, as {heir.name} takes "
            f"over its subnet", id=o.id, members=tuple(members[u].id for u in o.users)))
    return first + before, replaced, after


def _overlap(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_network(a, strict=False).overlaps(ipaddress.ip_network(b,
                                                                                    strict=False))
    except ValueError:
        return False


def _shared_with(c: DesiredContainer) -> str | None:
    """The container whose network namespace `c` joins (`network_mode: container:NAME`)."""
    mode = c.config.get("network_mode") or ""
    return mode[len("container:"):] if mode.startswith("container:") else None


def _rejoin(c: DesiredContainer, o: ObservedContainer | None, acts: list[Action],
            fresh_ns: set[str]) -> list[Action]:
    """A running member that joins the namespace of one this plan creates, replaces, starts or
    restarts is left in the old namespace: it is restarted after it (its start joins the new
    one), unless it is made anew anyway."""
    target = _shared_with(c)
    if target is None or target not in fresh_ns or o is None or o.status not in LIVE:
        return acts
    if any(isinstance(a, (Create, Replace, Start)) for a in acts):
        return acts   # a Restart is a Start: its start joins the new namespace
    why = f"the network namespace of {target} is made anew: joining it again"
    return acts + [Restart(name=c.name, reason=why, container=c, id=o.id, evidence=why)]


def shared_namespace_drift(c: DesiredContainer, o: ObservedContainer,
                           observed: ObservedState) -> str | None:
    """A running member of `container:NAME` mode in another network namespace than NAME's
    (NAME restarted since, e.g. by its restart policy)."""
    target = _shared_with(c)
    t = observed.containers.get(target) if target else None
    if t is None or o.status != RUNNING or t.status != RUNNING or not o.netns or not t.netns:
        return None
    if o.netns != t.netns:
        return f"not in the network namespace of {target} any more ({target} restarted)"
    return None


# ---------------------------------------------------------------------------------------------
# Volumes


def _volume_actions(desired: DesiredState, observed: ObservedState, adopt: bool,
                    prune: bool) -> tuple[list[Action], list[Action], list[str]]:
    """(creations and updates; removals; notes on the volumes kept)."""
    before: list[Action] = []
    for v in desired.volumes:
        o = observed.volumes.get(v.name)
        if v.external:
            if o is None:
                raise SpecError(_where(desired, f"volumes.{v.key}") + f"external volume "
                                f"{v.name} not found: create it with `rocker volume create "
                                f"{v.name}`")
            continue
        if o is None:
            before.append(CreateVolume(name=v.name, reason="not on the host", volume=v))
            continue
        changes = [Change(f"labels.{k}", o.labels.get(k), v.labels.get(k))
                   for k in _ordered_keys(o.labels, v.labels)
                   if o.labels.get(k) != v.labels.get(k)]
        if o.stack != desired.stack:
            owner = f"stack {o.stack}" if o.stack else "no stack (made by `rocker volume " \
                "create` or `run -v`?)"
            if not adopt:
                raise Conflict(f"volume {v.name} exists and belongs to {owner}, not to stack "
                               f"{desired.stack}: remove it, or apply with --adopt to take it "
                               "over (its data is kept)")
            before.append(UpdateVolume(name=v.name, reason=f"adopted from {owner}", volume=v,
                                       changes=tuple(changes)))
        elif changes:
            before.append(UpdateVolume(name=v.name, reason="changed: labels", volume=v,
                                       changes=tuple(changes)))
    wanted = {v.name for v in desired.volumes}
    gone = sorted(o.name for o in observed.volumes.values()
                  if o.stack == desired.stack and o.name not in wanted)
    if prune:
        return before, [RemoveVolume(name=n, reason="no longer in the stack file (its data "
                                                    "goes with it)") for n in gone], []
    return before, [], [f"volume {n} is no longer in the stack file: kept with its data "
                        "(apply --prune-volumes or delete --volumes removes it)" for n in gone]


def _remount(desired: DesiredState, observed: ObservedState, volumes: list[Action],
             acted: set[str]) -> list[Action]:
    """A running member that mounts a volume deleted behind rocker's back still holds the
    deleted folder: restarted once the volume is made again, so it mounts the new one."""
    made = {a.name for a in volumes if isinstance(a, CreateVolume)}
    out: list[Action] = []
    for c in desired.containers:
        o = observed.containers.get(c.name)
        if not made or o is None or c.name in acted or o.status not in UP \
                or o.stack != desired.stack:
            continue
        hit = sorted({m["source"] for m in c.config.get("mounts") or ()
                      if m.get("type") == "volume" and m.get("source") in made})
        if hit:
            out.append(Restart(name=c.name, reason="volume drift", container=c, id=o.id,
                               evidence=f"its volume {hit[0]} is gone from the host: made "
                                        "again (empty), the member restarted to mount it"))
    return out


def network_drift(c: DesiredContainer, o: ObservedContainer) -> list[str]:
    """Evidence that a running member's links are not what its start made (empty: none)."""
    if o.status != RUNNING or not o.alive or (c.config.get("network_mode") or "bridge") != \
            "bridge" or (o.config.get("network_mode") or "bridge") != "bridge":
        return []
    out = []
    seen = {a.network for a in o.attachments}
    for want in (c.config.get("networks") or []):
        if want["name"] not in seen:
            out.append(f"not attached to network {want['name']}")
    for a in o.attachments:
        if not a.veth_present:
            out.append(f"the host end {a.veth} of its {a.ifname} ({a.network}) is gone")
        elif a.veth_master != a.bridge:
            where = f"on {a.veth_master}" if a.veth_master else "on no bridge"
            out.append(f"the host end {a.veth} of its {a.ifname} is {where}, not on "
                       f"{a.bridge} ({a.network})")
        if a.address_present is False:
            out.append(f"its address {a.ip} is gone from {a.ifname} ({a.network})")
    return out


# ---------------------------------------------------------------------------------------------
# One container


def _container_actions(desired: DesiredState, c: DesiredContainer, observed: ObservedState,
                       adopt: bool, reimported: set[str], legacy: ObservedContainer | None = None,
                       replaced_nets: Mapping[str, str] | None = None) -> list[Action]:
    o = observed.containers.get(c.name)
    if o is None and legacy is not None:
        changes = config_changes(legacy.config, c.config)
        image_change = _image_change(desired, c, legacy, observed, reimported)
        if image_change is not None:
            changes.insert(0, image_change)
        changes.insert(0, Change("name", legacy.name, c.name, forces_replacement=True))
        forced = tuple(dict.fromkeys(ch.path.split(".")[0] for ch in changes
                                     if ch.forces_replacement))
        return [Replace(name=c.name, reason=f"renamed: {legacy.name} -> {c.name} (member "
                        "names are scoped to their stack)", container=c, id=legacy.id,
                        forced_by=forced, changes=tuple(changes),
                        running=legacy.status in LIVE)]
    if o is None:
        return [Create(name=c.name, reason="not on the host", container=c)]
    running = o.status in LIVE
    changes = config_changes(o.config, c.config)
    image_change = _image_change(desired, c, o, observed, reimported)
    if image_change is not None:
        changes.insert(0, image_change)
    if replaced_nets and o.stack == desired.stack:
        hit = [replaced_nets[a["name"]] for a in (c.config.get("networks") or [])
               if a["name"] in replaced_nets]
        if hit and not any(ch.path.split(".")[0] == "networks" for ch in changes):
            nets = c.config.get("networks")
            changes.append(Change("networks", nets, nets, forces_replacement=True))
        if hit:
            return [Replace(name=c.name, reason="; ".join(dict.fromkeys(hit)), container=c,
                            id=o.id, forced_by=tuple(dict.fromkeys(
                                ch.path.split(".")[0] for ch in changes
                                if ch.forces_replacement)),
                            changes=tuple(changes), running=running)]
    forced = tuple(dict.fromkeys(ch.path.split(".")[0] for ch in changes
                                 if ch.forces_replacement))
    if o.stack != desired.stack:
        owner = f"stack {o.stack}" if o.stack else "no stack (made by `rocker run`?)"
        if not adopt:
            raise Conflict(f"container {c.name} exists and belongs to {owner}, not to stack "
                           f"{desired.stack}: remove it, or apply with --adopt to take it over")
        if changes:
            return [Replace(name=c.name, reason=f"adopted from {owner}, and it differs",
                            container=c, id=o.id, forced_by=forced or ("adopt",),
                            changes=tuple(changes), running=running)]
        out: list[Action] = [Adopt(name=c.name, reason=f"identical; owned by {owner}",
                                   container=c, id=o.id, previous_owner=o.stack)]
        drift = tuple(limits_drift(c.config.get("limits") or {}, o.limits_in_force, observed))
        if drift:
            out.append(Update(name=c.name, reason="drift in the live cgroup: "
                              + ", ".join(d.path for d in drift), container=c, id=o.id,
                              changes=drift, live=o.status in UP))
        start = _start_action(c, o, observed)
        return out + ([start] if start else [])
    if forced:
        return [Replace(name=c.name, reason="changed: " + ", ".join(forced), container=c,
                        id=o.id, forced_by=forced, changes=tuple(changes), running=running)]
    out = []
    drift = limits_drift(c.config.get("limits") or {}, o.limits_in_force, observed)
    # a field that changed in the file and whose live value is the recorded one is a change,
    # not drift; live values that differ from both are drift (shown once, with `(live)`)
    by_path = {ch.path: ch for ch in changes}
    drift = [d for d in drift if d.path not in by_path
             or _norm(d.path, d.old, observed) != _norm(d.path, by_path[d.path].old, observed)]
    recorded = [ch for ch in changes if ch.path not in {d.path for d in drift}]
    deps = depends_on_changes(o.depends_on, c.depends_on)
    all_changes = tuple(recorded + drift)
    if all_changes or deps or o.spec_hash != c.spec_hash:
        bits = []
        if recorded or deps:
            bits.append("changed: " + ", ".join(dict.fromkeys(
                ch.path.split(".")[0] for ch in recorded + deps)))
        if drift:
            bits.append("drift in the live cgroup: " + ", ".join(d.path for d in drift))
        why = "; ".join(bits) or "the recorded spec hash is stale (same config)"
        record_only = not all_changes and o.spec_hash == c.spec_hash
        if record_only:
            why += " (recorded only: the container is not touched)"
        out.append(Update(name=c.name, reason=why, container=c, id=o.id,
                          changes=all_changes + tuple(deps),
                          live=o.status in UP, record_only=record_only))
    start = _start_action(c, o, observed)
    if start is not None:
        out.append(start)
    return out


def _start_action(c: DesiredContainer, o: ObservedContainer, observed: ObservedState
                  ) -> Start | None:
    if o.unsupervised and o.status == RUNNING:
        return Restart(name=c.name, reason="running unsupervised", container=c, id=o.id,
                       evidence=f"running unsupervised: {o.evidence or 'its monitor is gone'}")
    drift = network_drift(c, o)
    shared = shared_namespace_drift(c, o, observed)
    if shared:
        drift.append(shared)
    if drift:
        return Restart(name=c.name, reason="network drift", container=c, id=o.id,
                       evidence="network drift: " + "; ".join(drift))
    if o.status in LIVE:
        return None
    if o.status == EXITED and is_completed(c.config, o.exit_code):
        return None
    return Start(name=c.name, reason="not running", container=c, id=o.id,
                 evidence=evidence_text(o), exit_code=o.exit_code, oom_killed=o.oom_killed)


def is_completed(config: Mapping[str, Any], exit_code: int | None) -> bool:
    """Exited 0 under a policy that would not restart it: a finished one-shot job."""
    policy = str(config.get("restart") or "no").partition(":")[0]
    return exit_code == 0 and policy in ("no", "on-failure")


def evidence_text(o: ObservedContainer) -> str:
    if o.status == CREATED:
        return "created, never started"
    bits = []
    if o.exit_code is not None:
        code = f"exited with code {o.exit_code}"
        if o.exit_code > 128 and o.exit_code - 128 in _SIGNALS:
            code += f" ({_SIGNALS[o.exit_code - 128]})"
        bits.append(code)
    else:
        bits.append("exited")
    if o.oom_killed:
        bits.append("killed by the OOM killer")
    if o.evidence:
        bits.append(o.evidence)
    return ", ".join(bits)


def _image_change(desired: DesiredState, c: DesiredContainer, o: ObservedContainer,
                  observed: ObservedState, reimported: set[str]) -> Change | None:
    """The container's image is current when it is the image its reference points at, or an
    image with the same source identity (the same tar and changes, whoever imported it)."""
    wanted = next((i for i in desired.images if i.ref == c.image_ref), None)
    if wanted is not None:
        if o.image_identity is not None and o.image_identity == wanted.identity:
            return None
        if c.image_ref in reimported:
            how = "pulled at " + wanted.digest[:19] if wanted.pull else "re-imported"
            return Change("image", o.image_id, f"{c.image_ref} ({how})",
                          forces_replacement=True)
    cur = observed.images.get(c.image_ref)
    if cur is not None and o.image_id and cur.id != o.image_id:
        if o.image_identity is not None and o.image_identity == cur.identity:
            return None
        return Change("image", o.image_id, cur.id, forces_replacement=True)
    return None


# ---------------------------------------------------------------------------------------------
# Field diffs


def depends_on_changes(old: Iterable[tuple[str, str]], new: Iterable[tuple[str, str]]
                       ) -> list[Change]:
    """Recorded dependencies -> desired ones, one Change per service (`depends_on.web`). They
    live only in the ownership record: an Update that changes nothing else is record-only."""
    a, b = dict(old), dict(new)
    return [Change(f"depends_on.{s}", a.get(s), b.get(s), False)
            for s in sorted(set(a) | set(b)) if a.get(s) != b.get(s)]


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Recorded config -> desired config, one Change per leaf (limits, env, labels, healthcheck
    flattened: `memory`, `env.K`, `labels.K`, `healthcheck.interval`)."""
    out: list[Change] = []
    for key in new:
        a, b = old.get(key, _MISSING), new[key]
        if key == "networks":
            a, b = _attachments(old, a), _attachments(new, b)
        if _same(a, b):
            continue
        forces = key not in fields.LIVE  # the live rows change in place
        if key == "limits":
            a = a if isinstance(a, Mapping) else {}
            b = b or {}
            for f in _ordered_keys(a, b, fields.LIMIT_NAMES):
                va, vb = a.get(f), b.get(f)
                if not _same(va, vb):
                    out.append(Change(f, va, vb, False))
        elif isinstance(b, Mapping) and isinstance(a, Mapping):
            for k in _ordered_keys(a, b):
                va, vb = a.get(k, _MISSING), b.get(k, _MISSING)
                if not _same(va, vb):
                    out.append(Change(f"{key}.{k}", _none(va), _none(vb), forces))
        else:
            out.append(Change(key, _none(a), b, forces))
    return out


def _attachments(config: Mapping[str, Any], networks: Any) -> Any:
    """A bridge-mode config's networks, `[]` spelled out: `rocker run` records no networks
    for rocker's default one, which a stack file names (`networks: [bridge]`)."""
    if networks in ([], None) and (config.get("network_mode") or "bridge") == "bridge":
        return _ON_THE_DEFAULT
    return networks


def _ordered_keys(a: Mapping, b: Mapping, first: Iterable[str] = ()) -> list[str]:
    keys = [k for k in first if k in a or k in b]
    keys += sorted(k for k in set(a) | set(b) if k not in keys)
    return keys


class _Missing:
    def __repr__(self) -> str:
        return "(unset)"


_MISSING = _Missing()


def _none(v: Any) -> Any:
    return None if v is _MISSING else v


def _same(a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return a is b
    return _canon(a) == _canon(b)


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def limits_drift(wanted: Mapping[str, Any], live: Mapping[str, Any] | None,
                 observed: ObservedState) -> list[Change]:
    """Fields whose value in the cgroup differs from the desired one, compared the way the
    kernel stores them. `live` is None when the container does not run (nothing to compare).
    Unset desired fields count as drift only when the live value is not the kernel default
    (unlimited memory/pids/quota, default CPU weight); an unset cpuset is never drift (its
    default is the parent's, which only the host knows)."""
    if live is None:
        return []
    out = []
    for f in fields.LIMIT_NAMES:
        w, h = wanted.get(f), live.get(f)
        if w is None and f == "memory_swap" and wanted.get("memory") is not None:
            if h is None:
                continue  # no swap accounting on this host
            lm = live.get("memory")
            if lm is not None and _norm(f, h, observed) == _norm(f, 2 * int(lm), observed):
                continue  # the derived default follows the memory limit in force
            w = 2 * int(wanted["memory"])  # Docker's default, written by Limits.effective()
        if w is None and f == "memory_swap" and wanted.get("memory") is None:
            lm = live.get("memory")
            if _is_default(f, h, observed) or (lm is not None and _norm(f, h, observed) ==
                                                _norm(f, 2 * int(lm), observed)):
                continue  # derived from the memory limit (reported itself), or unlimited
        if w is None:
            if f in ("cpuset_cpus", "cpuset_mems") or _is_default(f, h, observed):
                continue
        elif _norm(f, w, observed) == _norm(f, h, observed):
            continue
        out.append(Change(f, h, w, False, live=True))
    return out


def _is_default(f: str, v: Any, observed: ObservedState) -> bool:
    if v is None or v == -1:
        return True
    if f == "cpu_shares":
        if observed.cgroup_version == 2:
            return shares_to_weight(int(v)) == DEFAULT_WEIGHT
        return int(v) == DEFAULT_SHARES
    return False


def _norm(f: str, v: Any, observed: ObservedState) -> Any:
    if v is None or v == -1:
        return None
    if f in MEMORY_FIELDS:
        return int(v) // observed.page_size * observed.page_size
    if f == "cpus":
        return int(round(float(v) * CFS_PERIOD))
    if f == "cpu_shares" and observed.cgroup_version == 2:
        return shares_to_weight(int(v))
    if f in ("cpuset_cpus", "cpuset_mems"):
        return _cpuset(str(v))
    return v


def shares_to_weight(shares: int) -> int:
    """Same formula as rocker.cgroups.limits.shares_to_weight (kept here: plan is pure)."""
    if shares == 0:
        return DEFAULT_WEIGHT
    return 1 + ((shares - 2) * 9999) // 262142


def _cpuset(text: str) -> Any:
    out: set[int] = set()
    try:
        for part in text.replace(" ", "").split(","):
            if "-" in part:
                lo, hi = part.split("-", 1)
                out.update(range(int(lo), int(hi) + 1))
            elif part:
                out.add(int(part))
    except ValueError:
        return text
    return sorted(out)


# ---------------------------------------------------------------------------------------------
# Ordering


def service_order(desired: DesiredState) -> list[str]:
    """Services in dependency order (Kahn; ties by name). A cycle raises SpecError."""
    deps: dict[str, set[str]] = {}
    for c in desired.containers:
        deps.setdefault(c.service, set()).update(s for s, _ in c.depends_on)
    return topological(deps, desired)


def topological(deps: Mapping[str, set[str]], desired: DesiredState | None = None) -> list[str]:
    nodes = set(deps)
    for d in deps.values():
        nodes |= set(d)
    remaining = {n: set(deps.get(n, ())) & nodes for n in nodes}
    order: list[str] = []
    while remaining:
        ready = sorted(n for n, d in remaining.items() if not d)
        if not ready:
            cycle = _find_cycle(remaining)
            where = _where(desired, f"containers.{cycle[0]}.depends_on") if desired else ""
            raise SpecError(f"{where}dependency cycle: {' -> '.join(cycle)}")
        for n in ready:
            order.append(n)
            del remaining[n]
        for d in remaining.values():
            d.difference_update(ready)
    return order


def _find_cycle(graph: Mapping[str, set[str]]) -> list[str]:
    start = sorted(graph)[0]
    seen: list[str] = []
    n = start
    while n not in seen:
        seen.append(n)
        n = sorted(graph[n])[0]
    return seen[seen.index(n):] + [n]


def _removal_order(doomed: list[ObservedContainer], rank: Mapping[str, int]) -> list[
        ObservedContainer]:
    """Dependents before what they depend on: reverse topological order of the recorded
    dependencies of the doomed containers (a service still in the file keeps its rank)."""
    deps: dict[str, set[str]] = {}
    for o in doomed:
        deps.setdefault(o.service or o.name, set()).update(s for s, _ in o.depends_on)
    try:
        order = topological(deps)
    except SpecError:
        order = sorted(deps)
    pos = {s: i for i, s in enumerate(order)}
    def key(o: ObservedContainer):
        base, n = _replica_key(o.name)
        return (-pos.get(o.service or o.name, 0), base, -n)
    return sorted(doomed, key=key)


def _replica_key(name: str) -> tuple:
    base, _, n = name.rpartition("-")
    return (base, int(n)) if base and n.isdigit() else (name, 0)


def _where(desired: DesiredState | None, path: str) -> str:
    if desired is None:
        return ""
    line = desired.lines.get(path)
    src = desired.source or "stack"
    return f"{src}:{line}: {path}: " if line else f"{src}: {path}: "
