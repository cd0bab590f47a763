"""rocker.observe: a read-only snapshot of what a stack has on the host -> ObservedState.

Owns the one place where stack commands read the host: container records
(rocker.containers.records), liveness corrected by the live kernel
(rocker.containers.state.observed: pid + start time, exit codes, OOM), the limits in force read
back from each running container's cgroup, whether its monitor still supervises it, the image
references of the store and the source identity recorded on each image (rocker_source: tar
digest + canonical changes, whoever imported it), the stack's networks (their records, whether
their bridge exists) and, for each running member, its links as the kernel shows them (the host
end of each veth and the bridge it is on, from one netlink link dump; its addresses, from the
container's /proc/PID/net/fib_trie). The stack's own record under
ROOT/stacks/<name>/stack.json is only read for images imported by an older rocker. It never
writes.

    observe(paths, desired)        everything the planner needs for one stack file
    observe_stack(paths, name)     only the stack's own containers (delete, status without file)
    stack_record(paths, name)      the stack record (images imported, their digests)
"""

from __future__ import annotations

import os
from typing import Iterable

from rocker.paths import Paths
from rocker.plan.model import (
    DesiredState,
    ObservedAttachment,
    ObservedContainer,
    ObservedImage,
    ObservedNetwork,
    ObservedVolume,
    ObservedState,
)
from rocker.states import EXITED, REMOVING, UP

STACK_RECORD = "stack.json"


def stack_dir(paths: Paths, name: str) -> str:
    return os.path.join(paths.stacks, name)


def stack_record(paths: Paths, name: str) -> dict:
    from rocker.errors import CorruptRecord
    from rocker.state.store import read_json
    try:
        rec = read_json(os.path.join(stack_dir(paths, name), STACK_RECORD))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except CorruptRecord:
        return {}
    return rec if isinstance(rec, dict) else {}


def _container(rec: dict, layout_cache: list, net_state: dict | None = None
               ) -> ObservedContainer:
    from rocker.containers import state as cstate
    st = cstate.observed(rec.get("state") or {})
    status = st.get("status", "created")
    limits = None
    attachments: tuple[ObservedAttachment, ...] = ()
    netns = None
    if status in UP:
        limits = _live_limits(rec["id"], layout_cache)
        pid = (rec.get("state") or {}).get("pid")
        if net_state is not None and st.get("alive"):
            attachments = _attachments(rec, pid, net_state)
        if st.get("alive") and pid:
            netns = _netns(pid)
    owner = rec.get("stack") or {}
    deps = owner.get("depends_on") or {}
    health = (st.get("health") or {}).get("status") if status != EXITED else None
    return ObservedContainer(
        name=rec.get("name") or rec["id"][:12], id=rec["id"],
        stack=owner.get("name"), service=owner.get("service"),
        spec_hash=owner.get("spec_hash"), config=rec.get("config") or {},
        status=status, alive=bool(st.get("alive")), exit_code=st.get("exit_code"),
        oom_killed=bool(st.get("oom_killed")), evidence=st.get("evidence"), health=health,
        limits_in_force=limits, image_id=rec.get("image_id"),
        depends_on=tuple(sorted(deps.items())) if isinstance(deps, dict) else (),
        unsupervised=bool(st.get("unsupervised")), attachments=attachments, netns=netns)


def _netns(pid: int) -> int | None:
    """The inode of process `pid`'s network namespace (None when it cannot be read)."""
    try:
        return os.stat(f"/proc/{int(pid)}/ns/net").st_ino
    except (OSError, ValueError):
        return None


def _links(net_state: dict) -> dict[str, str | None]:
    """The host's links -> the bridge each is on: one netlink dump per snapshot, made the first
    time a network or an attachment asks (/sys/class/net would show the namespace /sys was
    mounted in, not ours)."""
    if "links" not in net_state:
        from rocker.network import netlink
        net_state["links"] = netlink.link_masters()
    return net_state["links"]


def local_addresses(pid: int) -> set[str] | None:
    """The IPv4 addresses on the interfaces of process `pid`'s network namespace (the LOCAL
    entries of its routing trie), None when it cannot be read."""
    try:
        with open(f"/proc/{int(pid)}/net/fib_trie", encoding="ascii", errors="replace") as f:
            lines = f.read(1 << 20).splitlines()
    except (OSError, ValueError, TypeError):
        return None
    out: set[str] = set()
    last = None
    for line in lines:
        t = line.strip()
        if t.startswith("|-- ") or t.startswith("+-- "):
            last = t[4:].split()[0] if t.startswith("|-- ") else None
        elif last and t.startswith("/32 host LOCAL"):
            out.add(last)
    return out


def _attachments(rec: dict, pid, net_state: dict) -> tuple[ObservedAttachment, ...]:
    from rocker.network import store
    cfg = rec.get("config") or {}
    if cfg.get("network_mode", "bridge") != "bridge":
        return ()
    mine = store.leases_of(net_state, rec["id"])
    if not mine:
        return ()
    local = local_addresses(pid) if pid else None
    out = []
    for net, (ip, e) in sorted(mine.items(), key=lambda kv: store.if_index(kv[1][1])):
        if not e.get("up"):
            continue
        rec_net = net_state["networks"].get(net) or {}
        veth = store.veth_name(rec["id"], store.if_index(e))
        links = _links(net_state)
        master = links.get(veth)
        out.append(ObservedAttachment(
            network=net, ifname=e["ifname"], ip=ip, veth=veth, veth_present=veth in links,
            bridge=rec_net.get("bridge", ""), veth_master=master,
            address_present=None if local is None else ip in local))
    return tuple(out)


def _networks(net_state: dict, stack: str, names: Iterable[str]) -> dict[str, ObservedNetwork]:
    """The networks the stack wants or owns, as recorded, with their bridges' presence."""
    wanted = set(names)
    out: dict[str, ObservedNetwork] = {}
    users: dict[str, list[str]] = {}
    for net, leases in net_state["leases"].items():
        users[net] = sorted({(e.get("names") or [e["container"][:12]])[0]
                             for e in leases.values()})
    for name, n in net_state["networks"].items():
        if name not in wanted and n.get("stack") != stack:
            continue
        bridge = n.get("bridge", "")
        out[name] = ObservedNetwork(
            name=name, id=n["id"], subnet=n["subnet"], gateway=n["gateway"],
            internal=bool(n.get("internal")), labels=dict(n.get("labels") or {}),
            stack=n.get("stack"), bridge=bridge,
            bridge_present=bool(bridge) and bridge in _links(net_state),
            users=tuple(users.get(name, ())))
    return out


def _volumes(paths: Paths, stack: str, names: Iterable[str]) -> dict[str, ObservedVolume]:
    """The volumes the stack wants or owns, as recorded (a deleted one is simply absent)."""
    from rocker.volumes import store
    wanted = set(names)
    return {v["Name"]: ObservedVolume(name=v["Name"], labels=dict(v.get("Labels") or {}),
                                      stack=v.get("Stack"))
            for v in store.list_all(paths) if v["Name"] in wanted or v.get("Stack") == stack}


def _net_state(paths: Paths) -> dict | None:
    """The network records (no lock: one atomic file); None when no network was ever used."""
    from rocker.network import store
    if not os.path.exists(os.path.join(store.folder(paths), "state.json")):
        return None
    return store.snapshot(paths)


def _live_limits(cid: str, layout_cache: list) -> dict | None:
    """The limits in force (None when the cgroup cannot be read)."""
    from rocker.cgroups import detect, manager_for
    from rocker.errors import RockerError
    try:
        if not layout_cache:
            layout_cache.append(detect())
        m = manager_for(cid, layout_cache[0])
        if not m.exists():
            return None
        lim = m.read_limits()
    except (RockerError, OSError):
        return None
    from rocker import fields
    return {f: getattr(lim, f, None) for f in fields.LIMIT_NAMES}


def _cgroup_version(layout_cache: list) -> int:
    if not layout_cache:
        return 1
    return 2 if layout_cache[0].version == 2 else 1


def _containers(paths: Paths, stack: str, names: set[str], net_state: dict | None
                ) -> tuple[dict, list, tuple]:
    """(members by name, the cgroup layout cache, records whose removal was interrupted)."""
    from rocker.containers.records import iter_records
    layout_cache: list = []
    out: dict[str, ObservedContainer] = {}
    interrupted: list[ObservedContainer] = []
    for cid, rec, err in iter_records(paths):
        if rec is None:
            continue
        owner = (rec.get("stack") or {}).get("name")
        if owner != stack and rec.get("name") not in names:
            continue
        o = _container(rec, layout_cache, net_state)
        if (rec.get("state") or {}).get("status") == REMOVING:
            interrupted.append(o)   # a removal cut short: the plan finishes it
            continue
        out[o.name] = o
    return out, layout_cache, tuple(interrupted)


class _Sources:
    """Source identities of images, read from their config documents (rocker_source), cached
    per image id. An image imported by an older rocker (no rocker_source) that this stack's
    record says it imported from a tar is taken as that tar without changes."""

    def __init__(self, paths: Paths, stack: str) -> None:
        from rocker.images.store import ImageStore
        self.store = ImageStore(paths)
        self.paths = paths
        self.stack = stack
        self._legacy: dict[str, str] | None = None
        self._seen: dict[str, tuple[str, str] | None] = {}

    def legacy(self) -> dict[str, str]:
        if self._legacy is None:
            recorded = stack_record(self.paths, self.stack).get("images") or {}
            self._legacy = {r["id"]: r["digest"] for r in recorded.values()
                            if isinstance(r, dict) and isinstance(r.get("id"), str)
                            and isinstance(r.get("digest"), str)}
        return self._legacy

    def of(self, image_id: str | None) -> tuple[str, str] | None:
        if not image_id:
            return None
        if image_id not in self._seen:
            from rocker.images.store import changes_key
            src = self.store.source_of(image_id)
            if src is not None:
                self._seen[image_id] = (src["digest"], changes_key(src.get("changes")))
            elif image_id in self.legacy() and os.path.exists(self.store.config_path(image_id)):
                self._seen[image_id] = (self.legacy()[image_id], changes_key([]))
            else:
                self._seen[image_id] = None
        return self._seen[image_id]


def _images(paths: Paths, refs: Iterable[str], sources: _Sources) -> dict[str, ObservedImage]:
    from rocker.errors import RockerError
    store = sources.store
    try:
        table = store.refs()
    except RockerError:
        table = {}
    out: dict[str, ObservedImage] = {}
    for ref in dict.fromkeys(refs):
        image_id = table.get(ref)
        if image_id is None:
            try:
                image_id = store.resolve(ref).id    # an id or id prefix
            except RockerError:
                continue
        src = sources.of(image_id)
        out[ref] = ObservedImage(ref=ref, id=image_id, source_digest=src and src[0],
                                 source_changes=src and src[1])
    return out


def observe(paths: Paths, desired: DesiredState) -> ObservedState:
    import dataclasses
    names = {c.name for c in desired.containers}
    net_state = _net_state(paths)
    containers, layout, interrupted = _containers(paths, desired.stack, names, net_state)
    sources = _Sources(paths, desired.stack)
    refs = [i.ref for i in desired.images] + [c.image_ref for c in desired.containers]
    containers = {n: dataclasses.replace(o, image_identity=sources.of(o.image_id))
                  for n, o in containers.items()}
    networks = _networks(net_state, desired.stack, [n.name for n in desired.networks]) \
        if net_state is not None else {}
    return ObservedState(images=_images(paths, refs, sources), containers=containers,
                         interrupted=interrupted, networks=networks,
                         volumes=_volumes(paths, desired.stack,
                                          [v.name for v in desired.volumes]),
                         cgroup_version=_cgroup_version(layout),
                         page_size=os.sysconf("SC_PAGE_SIZE"))


def observe_stack(paths: Paths, stack: str) -> ObservedState:
    net_state = _net_state(paths)
    containers, layout, interrupted = _containers(paths, stack, set(), net_state)
    networks = _networks(net_state, stack, ()) if net_state is not None else {}
    return ObservedState(containers=containers, interrupted=interrupted, networks=networks,
                         volumes=_volumes(paths, stack, ()),
                         cgroup_version=_cgroup_version(layout),
                         page_size=os.sysconf("SC_PAGE_SIZE"))
