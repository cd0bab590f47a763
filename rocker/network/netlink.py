"""Links, addresses and routes through netlink: rocker's bridges and its containers' veth pairs.

The one module that imports pyroute2, and only when a network is being set up. It uses
pyroute2's rtnetlink message classes (ifinfmsg, ifaddrmsg, rtmsg: the encoding and decoding of
every attribute) and pyroute2.netns (entering a namespace), over a plain NETLINK_ROUTE socket
of its own: `pyroute2.IPRoute` and the package's `__init__` load about 370 modules (asyncio,
ndb, ipdb; 110 to 170 ms here) for what takes a handful of requests. So `_pyroute2()` registers
the package without running its `__init__` and imports only those modules (about 25 ms). No
`ip` subprocesses.

A container's attachment is a veth pair: the host end (`rk` + 12 hex of the container id + the
attachment's number, rocker.network.store.veth_name) is made in the host's namespace on the
network's bridge, its peer is created straight inside the container's network namespace
(IFLA_NET_NS_PID), named `eth0`, `eth1`, ... Addresses and the default route inside are set
through a netlink socket opened in that namespace (a socket stays in the namespace it was made
in). When the container's namespace goes (its init and everything holding it exit), the
kernel deletes the pair: a crash leaves no veth.

Sysctls rocker sets, on its own objects only: `route_localnet` on rocker's bridges (so the
host's 127.0.0.1 can reach a published port; never on `all`, CVE-2020-8558) and the host's
`net.ipv4.ip_forward` (containers on a non-internal network reach beyond the host).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys

from rocker.errors import HostError

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE = 20, 22, 24
NLA_F_NESTED = 0x8000
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x2, 0x4, 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFF_UP = 0x1
_HEADER = struct.Struct("=LHHLL")


def _pyroute2():
    """pyroute2's message classes and netns helpers, without the package's heavy __init__."""
    if "pyroute2" not in sys.modules:
        import importlib.util
        import types
        spec = importlib.util.find_spec("pyroute2")
        if spec is None or not spec.submodule_search_locations:
            raise HostError("pyroute2 is not installed")
        pkg = types.ModuleType("pyroute2")
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__spec__ = spec
        pkg.__file__ = spec.origin
        sys.modules["pyroute2"] = pkg
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    from pyroute2.netlink.rtnl.rtmsg import rtmsg
    return ifinfmsg, ifaddrmsg, rtmsg


class Rtnl:
    """A NETLINK_ROUTE socket of this thread's network namespace, with requests that wait for
    the kernel's answer (an error becomes an OSError with the kernel's errno)."""

    def __init__(self) -> None:
        self.ifinfmsg, self.ifaddrmsg, self.rtmsg = _pyroute2()
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  0)  # NETLINK_ROUTE
        self.sock.bind((0, 0))
        self.seq = 0

    def __enter__(self) -> "Rtnl":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def _send(self, msg, mtype: int, flags: int) -> int:
        self.seq += 1
        msg["header"]["type"] = mtype
        msg["header"]["flags"] = flags | NLM_F_REQUEST
        msg["header"]["sequence_number"] = self.seq
        msg.encode()
        self.sock.send(msg.data)
        return self.seq

    def request(self, msg, mtype: int, flags: int = 0) -> None:
        seq = self._send(msg, mtype, flags | NLM_F_ACK)
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + _HEADER.size <= len(data):
                length, typ, _fl, sq, _pid = _HEADER.unpack_from(data, off)
                if typ == NLMSG_ERROR and sq == seq:
                    err = struct.unpack_from("=i", data, off + _HEADER.size)[0]
                    if err:
                        raise OSError(-err, os.strerror(-err))
                    return
                off += max((length + 3) & ~3, _HEADER.size)

    def dump(self, msg, mtype: int, cls) -> list:
        seq = self._send(msg, mtype, NLM_F_DUMP)
        out = []
        while True:
            data = self.sock.recv(1 << 16)
            off = 0
            while off + _HEADER.size <= len(data):
                length, typ, _fl, sq, _pid = _HEADER.unpack_from(data, off)
                if sq == seq:
                    if typ == NLMSG_DONE:
                        return out
                    if typ == NLMSG_ERROR:
                        err = struct.unpack_from("=i", data, off + _HEADER.size)[0]
                        raise OSError(-err, os.strerror(-err))
                    m = cls(data[off:off + length])
                    m.decode()
                    out.append(m)
                off += max((length + 3) & ~3, _HEADER.size)

    # ---- operations ------------------------------------------------------------------------
    def add_link(self, name: str, kind: str, data: dict | None = None) -> None:
        info = [["IFLA_INFO_KIND", kind]] + ([["IFLA_INFO_DATA", data]] if data else [])
        m = self.ifinfmsg()
        m["attrs"] = [["IFLA_IFNAME", name], ["IFLA_LINKINFO", {"attrs": info}]]
        self.request(m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)

    def add_veth(self, name: str, peer: str, peer_pid: int) -> None:
        self.add_link(name, "veth", {"attrs": [["VETH_INFO_PEER", {"attrs": [
            ["IFLA_IFNAME", peer], ["IFLA_NET_NS_PID", peer_pid]]}]]})

    def set_link(self, index: int, up: bool = True, master: int | None = None) -> None:
        m = self.ifinfmsg()
        m["index"] = index
        m["flags"], m["change"] = (IFF_UP if up else 0), IFF_UP
        if master is not None:
            m["attrs"] = [["IFLA_MASTER", master]]
        self.request(m, RTM_NEWLINK)

    def set_hairpin(self, index: int) -> None:
        """Let the bridge send a frame back out of the port it came in on (the port's
        IFLA_BRPORT_MODE): with br_netfilter, a container's packet to its own published port
        is DNAT'd on the bridge and must go back out of its own veth."""
        m = self.ifinfmsg()
        m["family"], m["index"] = socket.AF_BRIDGE, index
        m["attrs"] = [("IFLA_PROTINFO", {"attrs": [["IFLA_BRPORT_MODE", 1]]}, NLA_F_NESTED)]
        self.request(m, RTM_SETLINK)

    def del_link(self, index: int) -> None:
        m = self.ifinfmsg()
        m["index"] = index
        self.request(m, RTM_DELLINK)

    def add_addr(self, index: int, ip: str, prefix: int) -> None:
        m = self.ifaddrmsg()
        m["family"], m["prefixlen"], m["index"] = socket.AF_INET, prefix, index
        m["attrs"] = [["IFA_LOCAL", ip], ["IFA_ADDRESS", ip]]
        try:
            self.request(m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)
        except FileExistsError:
            pass

    def addresses(self) -> list[tuple[int, str]]:
        """(ifindex, "ip/prefix") of every IPv4 address."""
        m = self.ifaddrmsg()
        m["family"] = socket.AF_INET
        return [(a["index"], f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
                for a in self.dump(m, RTM_GETADDR, self.ifaddrmsg)]

    def links(self) -> dict[str, tuple[int, int]]:
        """name -> (ifindex, the index of its master, 0 for none) of every link."""
        m = self.ifinfmsg()
        m["family"] = socket.AF_UNSPEC
        return {x.get_attr("IFLA_IFNAME"): (x["index"], x.get_attr("IFLA_MASTER") or 0)
                for x in self.dump(m, RTM_GETLINK, self.ifinfmsg)}

    def add_default_route(self, gateway: str) -> None:
        r = self.rtmsg()
        r["family"], r["dst_len"], r["table"] = socket.AF_INET, 0, 254   # main
        r["proto"], r["scope"], r["type"] = 3, 0, 1                      # boot, universe, unicast
        r["attrs"] = [["RTA_GATEWAY", gateway]]
        self.request(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL)


def index_of(name: str) -> int | None:
    """The link's index in this thread's network namespace (an ioctl; not /sys/class/net,
    which shows the namespace /sys was mounted in), None if there is none."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def link_exists(name: str) -> bool:
    return index_of(name) is not None


def _sysctl(path: str, value: str) -> None:
    try:
        with open(path) as f:
            if f.read().strip() == value:
                return
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise HostError(f"cannot set {path[len('/proc/sys/'):].replace('/', '.')}: "
                        f"{e.strerror}") from None


def ensure_bridge(nl: Rtnl, net: dict) -> bool:
    """The network's bridge exists, holds the gateway address and is up; True if it was made
    now."""
    name = net["bridge"]
    prefix = int(net["subnet"].split("/")[1])
    made = False
    idx = index_of(name)
    if idx is None:
        try:
            nl.add_link(name, "bridge")
            made = True
        except FileExistsError:
            pass
        except OSError as e:
            raise HostError(f"cannot create bridge {name}: {e.strerror}") from None
        idx = index_of(name)
        if idx is None:
            raise HostError(f"bridge {name} vanished while it was being set up")
    nl.add_addr(idx, net["gateway"], prefix)
    nl.set_link(idx, up=True)
    _sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
    if not net.get("internal"):
        _sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    return made


def delete_link(name: str) -> bool:
    """Delete a link of ours if it is there; True if it was."""
    idx = index_of(name)
    if idx is None:
        return False
    with Rtnl() as nl:
        try:
            nl.del_link(idx)
        except OSError as e:
            if e.errno != errno.ENODEV:
                raise HostError(f"cannot delete {name}: {e.strerror}") from None
    return True


class Link:
    """One attachment to plumb: host end `veth` on `bridge`, `ifname` inside with `ip`."""

    __slots__ = ("veth", "ifname", "bridge", "ip", "prefix", "gateway")

    def __init__(self, veth: str, ifname: str, bridge: str, ip: str, prefix: int,
                 gateway: str | None) -> None:
        self.veth, self.ifname, self.bridge = veth, ifname, bridge
        self.ip, self.prefix, self.gateway = ip, prefix, gateway


def plumb(nl: Rtnl, pid: int, links: list[Link], inside=None) -> None:
    """Make each link's veth pair into the network namespace of `pid`, configure it there, and
    call `inside()` while this thread is in that namespace (to open sockets there). On any
    failure the pairs made so far are deleted again."""
    made: list[str] = []
    try:
        for link in links:
            if link_exists(link.veth):  # a previous start's pair whose namespace lives on
                delete_link(link.veth)
            nl.add_veth(link.veth, link.ifname, pid)
            made.append(link.veth)
            br, idx = index_of(link.bridge), index_of(link.veth)
            if br is None or idx is None:
                raise HostError(f"bridge {link.bridge} or veth {link.veth} is missing")
            nl.set_link(idx, up=True, master=br)
            nl.set_hairpin(idx)
        _configure_inside(pid, links, inside)
    except BaseException as e:
        for name in made:
            try:
                delete_link(name)
            except Exception:  # noqa: BLE001
                pass
        if isinstance(e, HostError) or not isinstance(e, Exception):
            raise
        raise HostError(f"cannot set up the container's network: {e}") from None


def _inside(pid: int, body):
    """Run `body()` with this thread in the network namespace of `pid`; its result."""
    _pyroute2()
    from pyroute2 import netns
    netns.pushns(f"/proc/{pid}/ns/net")
    try:
        return body()
    finally:
        netns.popns()


def _configure_inside(pid: int, links: list[Link], inside) -> None:
    def enter():
        nl = Rtnl()
        indexes = {link.ifname: index_of(link.ifname) for link in links}
        if inside is not None:
            inside()
        return nl, indexes
    nl, indexes = _inside(pid, enter)
    with nl:
        routed = False
        for link in links:
            idx = indexes[link.ifname]
            if idx is None:
                raise HostError(f"{link.ifname} did not appear in the container")
            nl.add_addr(idx, link.ip, link.prefix)
            nl.set_link(idx, up=True)
            if link.gateway and not routed:
                nl.add_default_route(link.gateway)
                routed = True


def addresses_in(pid: int) -> dict[str, list[str]]:
    """ifname -> its IPv4 addresses (CIDR) inside the network namespace of `pid` (drift)."""
    def look():
        with Rtnl() as nl:
            pairs = nl.addresses()
        return {socket.if_indextoname(i): i for i, _ in pairs}, pairs
    names, pairs = _inside(pid, look)
    by_index = {i: n for n, i in names.items()}
    out: dict[str, list[str]] = {}
    for i, addr in pairs:
        out.setdefault(by_index.get(i, "?"), []).append(addr)
    return out


def link_masters() -> dict[str, str | None]:
    """Every link of this thread's network namespace -> the name of the bridge it is on (None
    when on none). Through netlink: /sys/class/net shows the namespace /sys was mounted in."""
    with Rtnl() as nl:
        links = nl.links()
    names = {i: n for n, (i, _) in links.items()}
    return {n: names.get(m) if m else None for n, (_, m) in links.items()}


def bridge_addresses(name: str) -> list[str]:
    """The IPv4 addresses of a link in our namespace."""
    idx = index_of(name)
    if idx is None:
        return []
    with Rtnl() as nl:
        return [a for i, a in nl.addresses() if i == idx]
