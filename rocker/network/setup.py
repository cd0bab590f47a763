"""A container's network from start to removal: reserve its host ports, make its links, address
them, write its /etc files, keep the firewall in step, give everything back.

    connect(paths, rec, pid)    the monitor, between the launcher's create and start (the init
                                exists in its new namespaces, the user's command does not run)
    disconnect(conn)            the monitor, when the container's process has exited
    forget(paths, cid)          container removal (rocker.containers.teardown): its leases
    reload(paths)               rebuild rocker's nftables table from state (`network reload`)

Published ports are reserved as Docker does, by binding them in the host's namespace (a TCP
socket bound but never listening, a bound UDP socket) and holding the sockets for the
container's life in its monitor: a port some host process or another container holds is refused
at start with one line, before anything else is made. The traffic itself goes by DNAT in
rocker's own table (rocker.network.firewall), which runs before any socket lookup, so the
reserving sockets never see a packet. When the monitor dies the reservation goes with it; when
the container's namespace goes, the kernel deletes its veths; the lease and the rules a crash
leaves are reclaimed by the next network operation (stale leases) or `rm -f`.

`alive(cid)` (whether a container runs, by rocker's liveness check) is passed in by the callers:
this package sits below the container records.
"""

from __future__ import annotations

import errno
import os
import socket

from rocker.errors import ContainerStartError, HostError
from rocker.network import store
from rocker.network.connection import Connection  # noqa: F401 - what connect returns
from rocker.network.etcfiles import EMBEDDED_DNS, etc_files

NFT_TIMEOUT = 30


# ---- ports ------------------------------------------------------------------------------------
def _reserve(m: dict) -> tuple[socket.socket, dict]:
    """Bind the host side of one mapping; (the socket, the mapping with its real host port)."""
    kind = socket.SOCK_STREAM if m["Protocol"] == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC)
    host_ip = m.get("HostIp") or "0.0.0.0"
    try:
        s.bind((host_ip, int(m.get("HostPort") or 0)))
    except OSError as e:
        s.close()
        where = f"{host_ip}:{m.get('HostPort') or 0}/{m['Protocol']}"
        if e.errno == errno.EADDRINUSE:
            raise ContainerStartError(f"cannot publish port {m['ContainerPort']}/"
                                      f"{m['Protocol']}: {where} is already in use") from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise ContainerStartError(f"cannot publish on {host_ip}: no such address on this "
                                      "host") from None
        raise ContainerStartError(f"cannot publish {where}: {e.strerror}") from None
    return s, dict(m, HostPort=s.getsockname()[1])


def publish_list(cfg: dict, exposed: list[str]) -> list[dict]:
    """The mappings to make: -p, plus each exposed port on a random host port with -P."""
    out = [dict(m) for m in cfg.get("publish") or []]
    if cfg.get("publish_all"):
        from rocker.network.ports import parse_expose
        have = {(m["ContainerPort"], m["Protocol"]) for m in out}
        for spec in exposed:
            port, proto = parse_expose(spec)
            if (port, proto) not in have:
                out.append({"HostIp": "", "HostPort": 0, "ContainerPort": port,
                            "Protocol": proto})
    return out


# ---- firewall ---------------------------------------------------------------------------------
def _last_path(paths) -> str:
    """The script loaded last (RUNROOT: gone after a reboot, when the kernel's table is too)."""
    return os.path.join(paths.runroot, "networks", "ruleset.nft")


def _up(e: dict, alive) -> bool:
    """An attachment in use: marked up, and its container runs, or is still starting (its
    record has no pid yet, so `alive` cannot know: the lease holds the init's pid and start
    time from connect)."""
    from rocker.util.procs import is_alive
    return bool(e.get("up")) and (alive(e["container"]) or
                                  is_alive(e.get("pid"), e.get("pid_start")))


def in_use(st: dict, alive) -> set[str]:
    """Networks with at least one attachment that is up and whose container runs."""
    return {name for name, leases in st["leases"].items()
            if any(_up(e, alive) for e in leases.values())}


def ruleset_of(st: dict, alive) -> str:
    """rocker's table for the networks in use and the ports of running containers; with
    nothing running, a script that deletes the table (rocker leaves no rules behind)."""
    from rocker.network import firewall
    used = in_use(st, alive)
    nets = [firewall.NetRule(n["name"], n["bridge"], n["subnet"], bool(n.get("internal")))
            for n in st["networks"].values() if n["name"] in used]
    ports = []
    for name in sorted(used):
        net = st["networks"].get(name)
        if net is None:
            continue
        for ip, e in st["leases"][name].items():
            if not e.get("ports") or not _up(e, alive):
                continue
            for m in e["ports"]:
                ports.append(firewall.PortRule(e["container"], ip, net["bridge"],
                                               m.get("HostIp") or "", int(m["HostPort"]),
                                               int(m["ContainerPort"]), m["Protocol"]))
    return firewall.ruleset(nets, ports)


def _settle(paths, st: dict, alive) -> None:
    """Bridges of networks no running container uses go (as podman's netavark does: nothing
    of rocker's stays on the host once nothing runs), and the rules follow the state."""
    from rocker.network import netlink
    used = in_use(st, alive)
    for n in st["networks"].values():
        if n["name"] not in used and netlink.link_exists(n["bridge"]):
            netlink.delete_link(n["bridge"])
    apply_ruleset(paths, ruleset_of(st, alive))


def apply_ruleset(paths, script: str, force: bool = False) -> bool:
    """Load `script` with `nft -f -` unless it is what was loaded last (force: always);
    True if it ran."""
    last = _last_path(paths)
    if not force:
        try:
            with open(last) as f:
                if f.read() == script:
                    return False
        except OSError:
            pass
    import shutil
    import subprocess
    nft = shutil.which("nft") or ("/usr/sbin/nft" if os.path.exists("/usr/sbin/nft") else None)
    if nft is None:
        raise HostError("nft (nftables) is not installed: rocker's networks need it "
                        "(apt install nftables)")
    try:
        p = subprocess.run([nft, "-f", "-"], input=script, capture_output=True, text=True,
                           timeout=NFT_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as e:
        raise HostError(f"nft failed: {e}") from None
    if p.returncode != 0:
        raise HostError("nft refused rocker's ruleset: "
                        + (p.stderr.strip().splitlines() or ["(no message)"])[0])
    os.makedirs(os.path.dirname(last), mode=0o700, exist_ok=True)
    tmp = last + f".{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(script)
    os.replace(tmp, last)
    return True


def reload(paths, alive, force: bool = True) -> str:
    """Rebuild rocker's table from state (after someone flushed the ruleset)."""
    with store.locked(paths) as st:
        script = ruleset_of(st, alive)
        apply_ruleset(paths, script, force=force)
    return script


# ---- connect / disconnect -----------------------------------------------------------------------
def _names(rec: dict, attachment: dict) -> list[str]:
    names = [rec["name"]] + list(attachment.get("aliases") or [])
    stack = rec.get("stack") or {}
    for extra in (stack.get("service"), stack.get("replica")):
        if extra and extra not in names:
            names.append(extra)
    return names


def _write_in_place(path: str, text: str) -> None:
    """Same inode (the container's bind mount of the file keeps seeing it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        os.ftruncate(fd, 0)
        data = text.encode()
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def _write_etc_files(paths, rec: dict, addrs: list[tuple[str, list[str]]],
                     embedded: bool) -> list[str]:
    """Rewrite the container's /etc/hosts and resolv.conf in place; the upstreams."""
    rundir = paths.container_rundir(rec["id"])
    hosts, resolv, upstreams = etc_files(rec, addrs, embedded)
    _write_in_place(os.path.join(rundir, "hosts"), hosts)
    _write_in_place(os.path.join(rundir, "resolv.conf"), resolv)
    return upstreams


def _addresses(rec: dict, st: dict) -> tuple[list[tuple[str, list[str]]], bool]:
    """The container's addresses in interface order, its hostname for each, and whether one
    of them is on a user network."""
    hostname = rec["config"].get("hostname") or rec["id"][:12]
    mine = sorted(store.leases_of(st, rec["id"]).items(),
                  key=lambda kv: store.if_index(kv[1][1]))
    return ([(ip, [hostname]) for _n, (ip, _e) in mine],
            any(not st["networks"].get(n, {}).get("default") for n, _ in mine))


def join(paths, rec: dict, pid: int, attachment: dict, alive) -> str:
    """`network connect` of a running container (process `pid`): a lease on one more network,
    its veth `ethN`, the address, a default route only if the container has none, /etc/hosts
    and resolv.conf rewritten; the embedded resolver (its socket is in every bridged
    container) answers the new network's names at once. Returns the interface name (the first
    free ethN; a restart numbers the interfaces in the order of the container's networks)."""
    from rocker.network import netlink
    cid = rec["id"]

    def me_too(c: str) -> bool:
        return c == cid or alive(c)
    with store.locked(paths) as st:
        net = store.find(st, attachment["name"])
        mine = store.leases_of(st, cid)
        if net["name"] in mine:
            from rocker.errors import Conflict
            raise Conflict(f"container {rec['name']} is already on network {net['name']}")
        used = {e["ifname"] for _ip, e in mine.values()}
        index = next((i for i in range(store.MAX_ATTACHMENTS) if f"eth{i}" not in used), None)
        if index is None:
            from rocker.errors import InvalidInput
            raise InvalidInput(f"at most {store.MAX_ATTACHMENTS} networks per container")
        ifname = f"eth{index}"
        routed = any(not st["networks"].get(n, {}).get("internal") for n in mine)
        with netlink.Rtnl() as nl:
            netlink.ensure_bridge(nl, net)
        ip = store.lease(st, net, cid, attachment.get("ip"), _names(rec, attachment), ifname)
        st["leases"][net["name"]][ip]["up"] = True
        link = netlink.Link(store.veth_name(cid, index), ifname, net["bridge"], ip,
                            int(net["subnet"].split("/")[1]),
                            None if (routed or net.get("internal")) else net["gateway"])
        try:
            with netlink.Rtnl() as nl:
                netlink.plumb(nl, pid, [link])
        except BaseException:
            del st["leases"][net["name"]][ip]
            _settle(paths, st, me_too)
            raise
        apply_ruleset(paths, ruleset_of(st, me_too))
        addrs, user_net = _addresses(rec, st)
    _write_etc_files(paths, rec, addrs, user_net)
    return ifname


def leave(paths, rec: dict, network: str, running: bool, alive) -> None:
    """`network disconnect`: the container's lease on `network` goes, with its veth (whose
    peer in the container goes with it) and rules; a running container's /etc files are
    rewritten. Refused for the attachment its published ports go through."""
    from rocker.network import netlink
    cid = rec["id"]
    with store.locked(paths) as st:
        net = store.find(st, network)
        mine = store.leases_of(st, cid)
        if net["name"] in mine:
            ip, e = mine[net["name"]]
            if running and e.get("ports"):
                from rocker.errors import Conflict
                raise Conflict(f"container {rec['name']} publishes ports through network "
                               f"{net['name']}: it cannot be disconnected while it runs")
            if running and e.get("ifname", "").startswith("eth"):
                netlink.delete_link(store.veth_name(cid, store.if_index(e)))
            del st["leases"][net["name"]][ip]
        _settle(paths, st, lambda c: running if c == cid else alive(c))
        addrs, user_net = _addresses(rec, st)
    if running:
        _write_etc_files(paths, rec, addrs, user_net)


def connect(paths, rec: dict, pid: int, alive) -> Connection:
    """Everything a bridge-mode container needs before its command runs (see the docstring)."""
    from rocker.network import netlink
    from rocker.util.trace import mark
    mark("network: connect")
    cid, cfg = rec["id"], rec["config"]
    attachments = store.attachments_of(cfg)

    def me_too(c: str) -> bool:
        return c == cid or alive(c)
    reservations: list[socket.socket] = []
    bound: list[dict] = []
    dns_box: list = []
    try:
        for m in publish_list(cfg, (rec.get("process") or {}).get("exposed") or []):
            s, real = _reserve(m)
            reservations.append(s)
            bound.append(real)
        links: list = []
        with store.locked(paths) as st:
            nets = [store.find(st, a["name"]) for a in attachments]
            with netlink.Rtnl() as nl:
                for net in nets:
                    netlink.ensure_bridge(nl, net)
            mark("network: bridges")
            for i, (a, net) in enumerate(zip(attachments, nets)):
                names = _names(rec, a)
                ip = store.lease(st, net, cid, a.get("ip"), names, f"eth{i}")
                prefix = int(net["subnet"].split("/")[1])
                links.append(netlink.Link(store.veth_name(cid, i), f"eth{i}", net["bridge"], ip,
                                          prefix, None if net.get("internal") else
                                          net["gateway"]))
            addrs, user_net = _addresses(rec, st)
            mine = store.leases_of(st, cid)
            from rocker.util.procs import start_time
            started = start_time(pid)
            for _net, (_ip, e) in mine.items():
                e["up"], e["ports"] = True, []  # in use from now on: no one removes its bridge
                e["pid"], e["pid_start"] = pid, started
            if bound:  # the ports go to the first attachment's address
                min(mine.values(), key=lambda v: store.if_index(v[1]))[1]["ports"] = bound
            mark("network: leases")
            # the DNAT rules may be there a moment before the veth is: packets of that moment
            # find no route and are dropped, as for a container that is still starting
            apply_ruleset(paths, ruleset_of(st, me_too))
            mark("network: ruleset")

        def inside() -> None:
            # every bridged container gets the socket (a later `network connect` to a user
            # network needs it, and the forwarder serves hosts whose resolvers are loopback)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            s.bind((EMBEDDED_DNS, 53))
            dns_box.append(s)

        # the resolver needs 127.0.0.11 on lo, which the init brought up in its namespace
        with netlink.Rtnl() as nl:
            netlink.plumb(nl, pid, links, inside)
        mark("network: plumbed")
        upstreams = _write_etc_files(paths, rec, addrs, user_net)
    except BaseException:
        for s in reservations + dns_box:
            s.close()
        try:
            forget(paths, cid, alive)
        except Exception:  # noqa: BLE001
            pass
        raise
    return Connection(cid, reservations, dns_box[0] if dns_box else None, upstreams, bound)


def disconnect(paths, cid: str, conn: Connection | None, alive) -> None:
    """The container's process is gone: its ports and names go (its addresses stay leased)."""
    if conn is not None:
        conn.close()
    with store.locked(paths) as st:
        for _net, (_ip, e) in store.leases_of(st, cid).items():
            e["up"], e["ports"] = False, []
        _settle(paths, st, lambda c: c != cid and alive(c))


def forget(paths, cid: str, alive) -> None:
    """Container removal: its leases go, and its rules if it still had any."""
    if not os.path.exists(os.path.join(store.folder(paths), "state.json")):
        return
    with store.locked(paths) as st:
        for leases in st["leases"].values():
            for ip in [ip for ip, e in leases.items() if e["container"] == cid]:
                del leases[ip]
        _settle(paths, st, lambda c: c != cid and alive(c))
