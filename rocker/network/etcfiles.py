"""A container's /etc/hosts and resolv.conf as text: rocker.network.hostsfile's renderers fed
with the host's resolv.conf (host_resolv, the one reader of it).

Apart from the network set-up (rocker.network.setup, which rewrites both files once the
container has its addresses) because every start writes them first, `--network none` too:
this module loads nothing of the set-up, the records or the firewall.
"""

from __future__ import annotations

EMBEDDED_DNS = "127.0.0.11"
"""The address of rocker's resolver inside a container on a user network (Docker's)."""


def host_resolv():
    from rocker.network.hostsfile import Resolv, parse_resolv
    try:
        with open("/etc/resolv.conf", "rb") as f:
            text = f.read(1 << 16).decode("utf-8", "replace")
    except OSError:
        return Resolv([], [], [])
    return parse_resolv(text)


def etc_files(rec: dict, addrs: list[tuple[str, list[str]]], embedded: bool) -> tuple[str, str,
                                                                                     list[str]]:
    """(hosts, resolv.conf, the resolver's upstreams) of a container with addresses `addrs`.
    `embedded`: the container is on a user network, so its resolv.conf names rocker's resolver;
    on the default network it does too when none of the host's resolvers can be reached from a
    container's namespace (all loopback, as systemd-resolved's 127.0.0.53) and no --dns is
    given: the resolver, on the host's side, forwards to them."""
    from rocker.network import hostsfile
    cfg = rec["config"]
    hostname = cfg.get("hostname") or rec["id"][:12]
    extra = [hostsfile.parse_add_host(h) for h in cfg.get("add_host") or []]
    hosts = hostsfile.render_hosts(hostname, addrs, extra)
    host = host_resolv()
    if not embedded and not cfg.get("dns") and host.nameservers and \
            not hostsfile.container_resolv(host, [], [], [], None).nameservers:
        embedded = True
    r = hostsfile.container_resolv(host, list(cfg.get("dns") or []),
                                   list(cfg.get("dns_search") or []),
                                   list(cfg.get("dns_option") or []),
                                   EMBEDDED_DNS if embedded else None)
    return hosts, hostsfile.render_resolv(r), hostsfile.upstreams(host, list(cfg.get("dns")
                                                                              or []))
