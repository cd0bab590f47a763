"""The network verbs: create, ls, inspect, rm, prune, reload, connect, disconnect, and `port`
(a container's published ports). Records and leases are rocker.network.store's; links are
rocker.network.netlink's."""

from __future__ import annotations

import hashlib

from rocker.containers import records
from rocker.containers.state import container_running
from rocker.errors import Conflict, NotFound
from rocker.network import store
from rocker.paths import Paths


def _alive(paths: Paths):
    return lambda cid: container_running(paths, cid)


def check_exists(paths: Paths, names: list[str]) -> None:
    """Every network a new container names exists (Docker refuses at create)."""
    if not names:
        return
    st = store.snapshot(paths)
    for n in names:
        store.find(st, n)


def create(paths: Paths, name: str, subnet: str | None = None, gateway: str | None = None,
           internal: bool = False, labels: dict | None = None,
           stack: str | None = None) -> dict:
    return store.create(paths, name, subnet, gateway, internal, labels, stack)


def set_owner(paths: Paths, name: str, stack: str, labels: dict) -> dict:
    return store.set_owner(paths, name, stack, labels)


def check_replaceable(paths: Paths, name: str, members: tuple[str, ...]) -> None:
    """A network may be removed once the containers `members` are gone: no other container
    (running or not) is on it. Conflict naming them otherwise (before anything is removed)."""
    st = store.snapshot(paths)
    others = [r for r in _containers_on(paths, name, st) if r["id"] not in members]
    if others:
        raise Conflict(f"network {name} is in use by container(s) "
                       f"{', '.join(r['name'] for r in others)} outside the stack: "
                       "disconnect or remove them first")


def _containers_on(paths: Paths, name: str, st: dict) -> list[dict]:
    """Records of containers attached to network `name` (by config, started or not)."""
    out = []
    for cid in records.list_ids(paths):
        try:
            rec = records.load(paths, cid)
        except Exception:  # noqa: BLE001
            continue
        cfg = rec["config"]
        if (cfg.get("network_mode") or "bridge") != "bridge":
            continue
        nets = [a["name"] for a in store.attachments_of(cfg)]
        if name in nets:
            out.append(rec)
    return out


def connect(paths: Paths, network: str, ref: str, aliases: list[str] | tuple = (),
            ip: str | None = None) -> str:
    """`network connect`: the container joins one more network; a running one at once (a new
    ethN), a stopped one at its next start. Returns the network's name."""
    from rocker.containers.config import parse_attachment
    from rocker.network import setup
    from rocker.state.store import flocked
    cid = records.resolve(paths, ref)
    attachment = parse_attachment(network, aliases, ip)
    attachment["name"] = store.find(store.snapshot(paths), attachment["name"])["name"]
    with flocked(f"{paths.container_dir(cid)}/start.lock", timeout=60):
        rec = records.load(paths, cid)
        cfg = rec["config"]
        mode = cfg.get("network_mode") or "bridge"
        if mode not in ("bridge", "none"):
            raise Conflict(f"container {rec['name']} uses --network {mode}: it cannot join "
                           "other networks")
        current = store.attachments_of(cfg) if mode == "bridge" else []
        if any(a["name"] == attachment["name"] for a in current):
            raise Conflict(f"container {rec['name']} is already on network "
                           f"{attachment['name']}")
        if len(current) >= store.MAX_ATTACHMENTS:
            raise Conflict(f"container {rec['name']} is on {len(current)} networks already "
                           f"(at most {store.MAX_ATTACHMENTS})")
        running = container_running(paths, cid)
        if running and mode == "none":
            raise Conflict(f"container {rec['name']} runs with --network none (no network "
                           "namespace of rocker's to plumb): stop it first")
        new = current + [attachment]

        def save(r: dict) -> None:
            r["config"]["networks"], r["config"]["network_mode"] = new, "bridge"
        rec = records.update(paths, cid, save)
        if running:
            try:
                setup.join(paths, rec, rec["state"]["pid"], attachment, _alive(paths))
            except BaseException:
                def undo(r: dict) -> None:
                    r["config"]["networks"], r["config"]["network_mode"] = (
                        cfg.get("networks"), cfg.get("network_mode"))
                records.update(paths, cid, undo)
                raise
    return attachment["name"]


def disconnect(paths: Paths, network: str, ref: str) -> str:
    """`network disconnect`: the container leaves a network (a running one at once). Leaving
    its last network leaves it with only `lo` (--network none), as in Docker."""
    from rocker.network import setup
    from rocker.state.store import flocked
    cid = records.resolve(paths, ref)
    name = store.find(store.snapshot(paths), network)["name"]
    with flocked(f"{paths.container_dir(cid)}/start.lock", timeout=60):
        rec = records.load(paths, cid)
        cfg = rec["config"]
        if (cfg.get("network_mode") or "bridge") != "bridge" or \
                name not in [a["name"] for a in store.attachments_of(cfg)]:
            raise NotFound(f"container {rec['name']} is not on network {name}")
        running = container_running(paths, cid)
        setup.leave(paths, rec, name, running, _alive(paths))
        rest = [a for a in store.attachments_of(cfg) if a["name"] != name]
        left = bool(rest)
        if rest == [{"name": store.DEFAULT, "aliases": [], "ip": None}]:
            rest = []  # the default, as a new container has it

        def save(r: dict) -> None:
            r["config"]["networks"] = rest
            if not left:
                r["config"]["network_mode"] = "none"
                r["config"]["publish"], r["config"]["publish_all"] = [], False
        records.update(paths, cid, save)
    return name


def listing(paths: Paths) -> list[dict]:
    st = store.snapshot(paths)
    rows = [dict(n) for n in sorted(st["networks"].values(), key=lambda n: n["name"])]
    rows += [{"id": hashlib.sha256(f"rocker {m}".encode()).hexdigest(), "name": m,
              "driver": "null" if m == "none" else m,
              "subnet": "", "gateway": "", "internal": False, "labels": {}, "bridge": "",
              "created": "", "mode": True} for m in store.MODES]
    return rows


def inspect(paths: Paths, ref: str) -> dict:
    from rocker.network import netlink
    st = store.snapshot(paths)
    net = store.find(st, ref)
    containers = {}
    for ip, e in sorted(st["leases"].get(net["name"], {}).items()):
        try:
            name = records.load(paths, e["container"])["name"]
        except Exception:  # noqa: BLE001
            name = ""
        prefix = net["subnet"].split("/")[1]
        containers[e["container"]] = {"Name": name, "IPv4Address": f"{ip}/{prefix}",
                                      "Interface": e.get("ifname"), "Aliases": e.get("names"),
                                      "Up": bool(e.get("up")),
                                      "EndpointID": store.veth_name(e["container"], int(
                                          (e.get("ifname") or "eth0")[3:] or 0))}
    return {
        "Name": net["name"], "Id": net["id"], "Created": net["created"], "Driver": "bridge",
        "Scope": "local", "Internal": net["internal"], "Labels": net["labels"],
        "Stack": net.get("stack"),
        "IPAM": {"Driver": "default", "Config": [{"Subnet": net["subnet"],
                                                  "Gateway": net["gateway"]}]},
        "Options": {"bridge": net["bridge"]},
        "BridgePresent": netlink.link_exists(net["bridge"]),
        "Containers": containers,
    }


def remove(paths: Paths, ref: str) -> dict:
    """Remove a network no container uses (running or not), and its bridge."""
    from rocker.network import netlink, setup
    st = store.snapshot(paths)
    net = store.find(st, ref)
    if net.get("default"):
        raise Conflict(f"{net['name']} is a pre-defined network and cannot be removed")
    users = _containers_on(paths, net["name"], st)
    if users:
        raise Conflict(f"network {net['name']} is in use by container(s) "
                       f"{', '.join(r['name'] for r in users)}")
    gone = store.remove(paths, net["name"])
    netlink.delete_link(gone["bridge"])
    setup.reload(paths, _alive(paths), force=False)
    return gone


def prune(paths: Paths) -> list[str]:
    """Remove every user network no container uses; their names."""
    st = store.snapshot(paths)
    out = []
    for net in sorted(st["networks"].values(), key=lambda n: n["name"]):
        if net.get("default") or _containers_on(paths, net["name"], st):
            continue
        try:
            remove(paths, net["name"])
            out.append(net["name"])
        except (Conflict, NotFound):
            pass
    return out


def reload(paths: Paths) -> str:
    """Rebuild rocker's nftables table (and the bridges of running containers' networks)."""
    from rocker.network import netlink, setup
    st = store.snapshot(paths)
    with netlink.Rtnl() as nl:
        for name in {n for n, ls in st["leases"].items()
                     if any(e.get("up") for e in ls.values())}:
            if name in st["networks"]:
                netlink.ensure_bridge(nl, st["networks"][name])
    return setup.reload(paths, _alive(paths), force=True)


def ports(paths: Paths, ref: str) -> list[dict]:
    """The published ports of a running container ({HostIp, HostPort, ContainerPort,
    Protocol}), as they are bound now."""
    cid = records.resolve(paths, ref)
    st = store.snapshot(paths)
    out = []
    for _net, (_ip, e) in store.leases_of(st, cid).items():
        if e.get("up"):
            out += e.get("ports") or []
    return out


def settings(paths: Paths, rec: dict) -> dict:
    """inspect's NetworkSettings of a container (Docker's shape)."""
    st = store.snapshot(paths)
    cfg = rec["config"]
    nets = {}
    for name, (ip, e) in store.leases_of(st, rec["id"]).items():
        net = st["networks"].get(name) or {}
        nets[name] = {"NetworkID": net.get("id", ""), "IPAddress": ip if e.get("up") else "",
                      "LeasedAddress": ip,
                      "IPPrefixLen": int(net.get("subnet", "0/0").split("/")[1]),
                      "Gateway": "" if net.get("internal") else net.get("gateway", ""),
                      "Aliases": e.get("names"), "Interface": e.get("ifname")}
    ports: dict = {}
    for m in cfg.get("publish") or []:
        ports.setdefault(f"{m['ContainerPort']}/{m['Protocol']}", None)
    for _name, (_ip, e) in store.leases_of(st, rec["id"]).items():
        for m in (e.get("ports") or []) if e.get("up") else []:
            key = f"{m['ContainerPort']}/{m['Protocol']}"
            ports[key] = (ports.get(key) or []) + [{"HostIp": m.get("HostIp") or "0.0.0.0",
                                                    "HostPort": str(m["HostPort"])}]
    first = next(iter(nets.values()), {})
    return {"Networks": nets, "Ports": ports, "IPAddress": first.get("IPAddress", ""),
            "Gateway": first.get("Gateway", ""), "NetworkMode": cfg.get("network_mode")}
