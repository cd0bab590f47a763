"""Network records and address leases: ROOT/networks/state.json, read and written under one lock.

    {"networks": {NAME: {id, name, driver, subnet, gateway, internal, labels, bridge, created}},
     "leases":   {NAME: {IP: {container, names, ifname, up, ports}}}}

One file and one lock (ROOT/networks/.lock) for every network: creating a network, taking or
giving back an address, and marking an attachment up or down are short read-modify-writes, so
a single lock costs nothing and makes every change atomic (a name is claimed in the same write
that creates the network; two `run`s never get one address). The default network `bridge`
(DEFAULT) exists without being created: it is written the first time anything reads the
state. `host` and `none` are modes, not networks, but are listed like Docker lists them.

A lease belongs to a container until the container is removed; a restart keeps its address.
A lease whose container folder is gone (a `run` or `rm` killed half-way) is stale and is
reclaimed by the next write (`reclaim`), so a crash never keeps an address for good. Whether a
leased container runs is the caller's question (`alive`): this module knows nothing of records.
"""

from __future__ import annotations

import contextlib
import os
import re
import time

from rocker.errors import Conflict, InvalidInput, NotFound
from rocker.paths import Paths
from rocker.state.store import flocked, makedirs, read_json, write_json

DEFAULT = "bridge"
DEFAULT_BRIDGE = "rk0"
MODES = ("host", "none")
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}\Z")
MAX_ATTACHMENTS = 16


def folder(paths: Paths) -> str:
    return os.path.join(paths.root, "networks")


def _state_path(paths: Paths) -> str:
    return os.path.join(folder(paths), "state.json")


def bridge_name(net_id: str) -> str:
    """`rk-` and 12 hex digits: 15 characters, the kernel's limit (IFNAMSIZ - 1)."""
    return "rk-" + net_id[:12]


def veth_name(cid: str, index: int) -> str:
    """The host end of a container's attachment number `index` (0..15): `rk`, 12 hex, 1 hex."""
    return f"rk{cid[:12]}{index:x}"


DEFAULT_ID = "8786a3227d0f3cea8bbd7de33fa24b39888e2d6f4622f0a9b78202dc33d2b71d"
"""sha256 of b"rocker default bridge" (a constant: hashlib, OpenSSL's, costs a process about
4 MiB, and the slim monitor reads this record)."""


def _default_record(created: str) -> dict:
    from rocker.network.ipam import DEFAULT_SUBNET, gateway_for, parse_subnet
    subnet = parse_subnet(DEFAULT_SUBNET)
    return {"id": DEFAULT_ID, "name": DEFAULT,
            "driver": "bridge", "subnet": str(subnet), "gateway": str(gateway_for(subnet, None)),
            "internal": False, "labels": {}, "bridge": DEFAULT_BRIDGE, "created": created,
            "default": True}


def _read(paths: Paths) -> dict:
    try:
        st = read_json(_state_path(paths))
    except FileNotFoundError:
        st = {}
    if not isinstance(st, dict):
        st = {}
    st.setdefault("networks", {})
    st.setdefault("leases", {})
    return st


@contextlib.contextmanager
def locked(paths: Paths):
    """The state under the network lock; what the body leaves in it is written back (only if it
    changed). Stale leases are reclaimed on the way."""
    makedirs(folder(paths), 0o700)
    with flocked(os.path.join(folder(paths), ".lock")):
        st = _read(paths)
        before = repr(st)
        if DEFAULT not in st["networks"]:
            from rocker.util.timefmt import now_rfc3339
            st["networks"][DEFAULT] = _default_record(now_rfc3339())
        reclaim(paths, st)
        yield st
        if repr(st) != before:
            write_json(_state_path(paths), st)


def snapshot(paths: Paths) -> dict:
    """The state as it is now (no lock: one atomic file), with the default network in it."""
    st = _read(paths)
    if DEFAULT not in st["networks"]:
        from rocker.util.timefmt import now_rfc3339
        st["networks"][DEFAULT] = _default_record(now_rfc3339())
    return st


def reclaim(paths: Paths, st: dict) -> list[tuple[str, str]]:
    """Drop the leases of containers whose folder is gone; returns (network, ip) dropped."""
    dropped = []
    for net, leases in st["leases"].items():
        for ip, entry in list(leases.items()):
            if not os.path.isdir(paths.container_dir(entry.get("container", ""))):
                del leases[ip]
                dropped.append((net, ip))
    return dropped


# ---- networks ---------------------------------------------------------------------------------
def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(f"invalid network name {name!r}: use letters, digits and _ . - "
                           "(up to 128, starting with a letter or digit)")
    return name


def _host_routes() -> list[str]:
    """IPv4 destinations of the host's main routing table (so a new subnet never overlaps a
    network the host already reaches), from /proc/net/route (no netlink needed)."""
    import ipaddress
    out = []
    try:
        with open("/proc/net/route") as f:
            next(f, None)
            for line in f:
                p = line.split()
                if len(p) < 8 or p[1] == "00000000":
                    continue
                dest = ipaddress.IPv4Address(bytes.fromhex(p[1])[::-1])
                mask = ipaddress.IPv4Address(bytes.fromhex(p[7])[::-1])
                out.append(str(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)))
    except (OSError, ValueError):
        pass
    return out


def create(paths: Paths, name: str, subnet: str | None = None, gateway: str | None = None,
           internal: bool = False, labels: dict | None = None,
           stack: str | None = None) -> dict:
    """Claim `name` and record a new bridge network (the bridge itself is made on first use);
    `stack`: the stack that owns it (rocker apply)."""
    from rocker.network import ipam
    from rocker.util.timefmt import now_rfc3339
    check_name(name)
    if name in MODES:
        raise Conflict(f"network name {name!r} is reserved (it is a network mode)")
    with locked(paths) as st:
        if name in st["networks"]:
            raise Conflict(f"network with name {name} already exists")
        used = [n["subnet"] for n in st["networks"].values()]
        if subnet is None:
            net = ipam.pick_subnet(used + _host_routes())
        else:
            net = ipam.parse_subnet(subnet)
            for other in st["networks"].values():
                if net.overlaps(ipam.parse_subnet(other["subnet"])):
                    raise Conflict(f"subnet {net} overlaps network {other['name']} "
                                   f"({other['subnet']})")
        gw = ipam.gateway_for(net, gateway)
        created = now_rfc3339()
        import hashlib  # here: see DEFAULT_ID
        nid = hashlib.sha256(f"{name}\0{created}\0{os.getpid()}\0{time.time_ns()}".encode()
                             ).hexdigest()
        rec = {"id": nid, "name": name, "driver": "bridge", "subnet": str(net),
               "gateway": str(gw), "internal": bool(internal), "labels": dict(labels or {}),
               "bridge": bridge_name(nid), "created": created, "default": False}
        if stack:
            rec["stack"] = stack
        st["networks"][name] = rec
        return dict(rec)


def set_owner(paths: Paths, name: str, stack: str, labels: dict) -> dict:
    """A stack takes a network over, or changes its labels (rocker apply)."""
    with locked(paths) as st:
        net = find(st, name)
        if net.get("default"):
            raise Conflict(f"{net['name']} is a pre-defined network: a stack cannot own it")
        net["stack"], net["labels"] = stack, dict(labels)
        return dict(net)


def find(st: dict, ref: str) -> dict:
    """A network by name, full id or unique id prefix."""
    nets = st["networks"]
    if ref in nets:
        return nets[ref]
    hits = [n for n in nets.values() if len(ref) >= 1 and n["id"].startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise Conflict(f"network id prefix {ref!r} is ambiguous")
    raise NotFound(f"network {ref} not found")


def users(st: dict, name: str) -> list[str]:
    """Container ids holding a lease on network `name`."""
    return sorted({e["container"] for e in st["leases"].get(name, {}).values()})


def remove(paths: Paths, ref: str) -> dict:
    """Forget a network no container uses (the caller deletes its bridge)."""
    with locked(paths) as st:
        net = find(st, ref)
        if net.get("default"):
            raise Conflict(f"{net['name']} is a pre-defined network and cannot be removed")
        held = users(st, net["name"])
        if held:
            raise Conflict(f"network {net['name']} is in use by container(s) "
                           f"{', '.join(c[:12] for c in held)}")
        del st["networks"][net["name"]]
        st["leases"].pop(net["name"], None)
        return net


# ---- leases -------------------------------------------------------------------------------------
def lease(st: dict, net: dict, cid: str, want: str | None, names: list[str],
          ifname: str) -> str:
    """The address of container `cid` on `net` (its old lease if it has one; under `locked`)."""
    import ipaddress

    from rocker.network import ipam
    leases = st["leases"].setdefault(net["name"], {})
    for ip, e in leases.items():
        if e["container"] == cid:
            if want and want != ip:
                break  # asked for another one now: give the old one back below
            e["names"], e["ifname"] = names, ifname
            return ip
    for ip in [ip for ip, e in leases.items() if e["container"] == cid]:
        del leases[ip]
    subnet = ipam.parse_subnet(net["subnet"])
    ip = str(ipam.allocate(subnet, ipaddress.IPv4Address(net["gateway"]), leases.keys(), want))
    leases[ip] = {"container": cid, "names": names, "ifname": ifname, "up": False, "ports": []}
    return ip


def attachments_of(cfg: dict) -> list[dict]:
    """A bridge-mode container's networks ({name, aliases, ip}) from its config, in interface
    order: none listed means the default network."""
    return [dict(a) for a in cfg.get("networks") or []] or [{"name": DEFAULT, "aliases": [],
                                                             "ip": None}]


def if_index(entry: dict) -> int:
    """A lease's interface number (eth3 -> 3): interface order, which is not name order."""
    return int(entry["ifname"][3:])


def leases_of(st: dict, cid: str) -> dict[str, tuple[str, dict]]:
    """network name -> (ip, entry) for container `cid`."""
    out = {}
    for net, leases in st["leases"].items():
        for ip, e in leases.items():
            if e["container"] == cid:
                out[net] = (ip, e)
    return out
