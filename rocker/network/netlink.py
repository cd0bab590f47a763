"""Links, addresses and routes through netlink: rocker's bridges and its containers' veth pairs.

The one module that imports pyroute2 (and only when a network is being set up: pyroute2's
package loads about 370 modules, 70 ms here, so nothing imports this at module level on the
run path). No `ip` subprocesses.

A container's attachment is a veth pair: the host end (`rk` + 12 hex of the container id + the
attachment's number, rocker.network.store.veth_name) is made in the host's namespace on the
network's bridge, its peer is created straight inside the container's network namespace
(IFLA_NET_NS_PID), named `eth0`, `eth1`, ... Addresses and the default route inside are set
through a netlink socket opened in that namespace (pyroute2.netns.pushns/popns around its
creation: a socket stays in the namespace it was made in). When the container's namespace goes
(its init and everything holding it exit), the kernel deletes the pair: a crash leaves no veth.

Sysctls rocker sets, on its own objects only: `route_localnet` on rocker's bridges (so the
host's 127.0.0.1 can reach a published port; never on `all`, CVE-2020-8558) and the host's
`net.ipv4.ip_forward` (containers on a non-internal network reach beyond the host).
"""

from __future__ import annotations

import errno

from rocker.errors import HostError


def _ipr():
    from pyroute2.iproute.linux import IPRoute
    return IPRoute()


def _sysctl(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise HostError(f"cannot set {path[len('/proc/sys/'):].replace('/', '.')}: "
                        f"{e.strerror}") from None


def _sysctl_is(path: str, value: str) -> bool:
    try:
        with open(path) as f:
            return f.read().strip() == value
    except OSError:
        return False


def link_exists(name: str) -> bool:
    """Is there a link of that name in this thread's network namespace (an ioctl, no netlink
    socket; not /sys/class/net, which shows the namespace /sys was mounted in)."""
    import socket
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def bridge_address(ipr, name: str) -> list[str]:
    idx = ipr.link_lookup(ifname=name)
    if not idx:
        return []
    return [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ipr.get_addr(index=idx[0], family=2)]


def ensure_bridge(ipr, net: dict) -> bool:
    """The network's bridge exists, holds the gateway address and is up; True if it was made
    (or mended) now."""
    name = net["bridge"]
    prefix = int(net["subnet"].split("/")[1])
    want = f"{net['gateway']}/{prefix}"
    made = False
    idx = ipr.link_lookup(ifname=name)
    if not idx:
        try:
            ipr.link("add", ifname=name, kind="bridge")
        except Exception as e:  # noqa: BLE001 - pyroute2's NetlinkError
            if getattr(e, "code", None) != errno.EEXIST:
                raise HostError(f"cannot create bridge {name}: {e}") from None
        idx = ipr.link_lookup(ifname=name)
        made = True
    if want not in bridge_address(ipr, name):
        ipr.addr("add", index=idx[0], address=net["gateway"], prefixlen=prefix)
        made = True
    ipr.link("set", index=idx[0], state="up")
    conf = f"/proc/sys/net/ipv4/conf/{name}/route_localnet"
    if not _sysctl_is(conf, "1"):
        _sysctl(conf, "1")
    if not net.get("internal") and not _sysctl_is("/proc/sys/net/ipv4/ip_forward", "1"):
        _sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    return made


def delete_link(name: str) -> bool:
    """Delete a link of ours if it is there; True if it was."""
    if not link_exists(name):
        return False
    with _ipr() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if idx:
            try:
                ipr.link("del", index=idx[0])
            except Exception as e:  # noqa: BLE001
                if getattr(e, "code", None) != errno.ENODEV:
                    raise HostError(f"cannot delete {name}: {e}") from None
            return True
    return False


class Link:
    """One attachment to plumb: host end `veth` on `bridge`, `ifname` inside with `ip`."""

    __slots__ = ("veth", "ifname", "bridge", "ip", "prefix", "gateway")

    def __init__(self, veth: str, ifname: str, bridge: str, ip: str, prefix: int,
                 gateway: str | None) -> None:
        self.veth, self.ifname, self.bridge = veth, ifname, bridge
        self.ip, self.prefix, self.gateway = ip, prefix, gateway


def plumb(pid: int, links: list[Link], inside=None) -> None:
    """Make each link's veth pair into the network namespace of `pid`, configure it there, and
    call `inside()` while this thread is in that namespace (to open sockets there). On any
    failure the pairs made so far are deleted again."""
    made: list[str] = []
    try:
        with _ipr() as ipr:
            for link in links:
                if link_exists(link.veth):  # a previous start's pair whose namespace lives on
                    delete_link(link.veth)
                ipr.link("add", ifname=link.veth, kind="veth",
                         peer={"ifname": link.ifname, "net_ns_pid": pid})
                made.append(link.veth)
                br = ipr.link_lookup(ifname=link.bridge)
                if not br:
                    raise HostError(f"bridge {link.bridge} is missing")
                idx = ipr.link_lookup(ifname=link.veth)[0]
                ipr.link("set", index=idx, master=br[0], state="up")
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


def _configure_inside(pid: int, links: list[Link], inside) -> None:
    from pyroute2 import netns
    netns.pushns(f"/proc/{pid}/ns/net")
    try:
        ipr = _ipr()
        if inside is not None:
            inside()
    finally:
        netns.popns()
    with ipr:
        routed = False
        for link in links:
            idx = ipr.link_lookup(ifname=link.ifname)[0]
            ipr.addr("add", index=idx, address=link.ip, prefixlen=link.prefix)
            ipr.link("set", index=idx, state="up")
            if link.gateway and not routed:
                ipr.route("add", dst="0.0.0.0/0", gateway=link.gateway)
                routed = True


def addresses_in(pid: int) -> dict[str, list[str]]:
    """ifname -> its IPv4 addresses (CIDR) inside the network namespace of `pid` (drift)."""
    from pyroute2 import netns
    netns.pushns(f"/proc/{pid}/ns/net")
    try:
        ipr = _ipr()
    finally:
        netns.popns()
    out: dict[str, list[str]] = {}
    with ipr:
        names = {ln["index"]: ln.get_attr("IFLA_IFNAME") for ln in ipr.get_links()}
        for a in ipr.get_addr(family=2):
            out.setdefault(names.get(a["index"], "?"), []).append(
                f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
    return out
