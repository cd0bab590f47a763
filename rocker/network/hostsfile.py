"""The container's /etc/hosts and /etc/resolv.conf: rendering them, reading the host's
resolv.conf, and the options that feed them (`--add-host`, `--dns`).

/etc/hosts is written as Docker writes it: the localhost lines, then the `--add-host` entries,
then the container's own addresses with its names. A container with no address of its own
(`--network none`) gets its hostname on the 127.0.0.1 line, as podman does, so that resolving
it does not fail.

/etc/resolv.conf: with rocker's in-container resolver (`embedded`, an address such as
127.0.0.11) the container asks it, and it forwards what it does not know to `upstreams()`.
Without it the container gets `--dns`, or the host's nameservers minus the ones that cannot
work inside a network namespace: loopback ones (127.0.0.0/8, ::1: a local stub resolver such
as systemd-resolved's 127.0.0.53 is not there), IPv6 ones (rocker's networks are IPv4 only, as
Docker drops them on a network without IPv6) and link-local ones with a zone (the host's
interface is not there). When none remain the list is empty: there is no fallback to public
resolvers (many sites have no internet; glibc then asks 127.0.0.1 and fails fast).
"""

from __future__ import annotations

from collections import namedtuple

from rocker.errors import InvalidInput
from rocker.network import iptext
from rocker.network.text import quoted

LOCALHOST_LINES = (
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
)
MAX_ENTRIES = 64
"""At most this many nameservers, search domains and options are kept from a resolv.conf
(glibc uses 3 nameservers and 6 domains): a huge file costs a linear pass, no more."""

HOST_GATEWAY = "host-gateway"


def render_hosts(hostname: str, own: list[tuple[str, list[str]]],
                 extra: list[tuple[str, str]]) -> str:
    """/etc/hosts: the localhost lines, `extra` ((name, ip) pairs of `--add-host`), then one
    line per (ip, names) of the container's own addresses. ValueError for a name or address
    that would not stay one token of one line (the caller validated them; this keeps the
    file's shape whatever it passes)."""
    lines = []
    for ip, names in LOCALHOST_LINES:
        if ip == "127.0.0.1" and not own and hostname:
            names = f"{names} {_token(hostname)}"
        lines.append(f"{ip}\t{names}")
    lines.extend(f"{_token(ip)}\t{_token(name)}" for name, ip in extra)
    for ip, names in own:
        if not names:
            raise ValueError(f"no name for address {ip!r}")
        lines.append(f"{_token(ip)}\t{' '.join(_token(n) for n in names)}")
    return "\n".join(lines) + "\n"


def parse_add_host(spec: str) -> tuple[str, str]:
    """(name, ip) of `--add-host NAME:IP` (or NAME=IP; an IPv6 address may stand in
    brackets); InvalidInput (one line) when the name is not a hostname or the address not an
    IP address. Docker's "host-gateway" is not supported yet."""
    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"invalid add-host {quoted(spec)}: {why}")
    sep = "=" if "=" in spec else ":"
    name, found, ip = spec.partition(sep)
    if not found:
        raise bad("expected NAME:IP")
    if len(ip) > 2 and ip[0] == "[" and ip[-1] == "]":
        ip = ip[1:-1]
    if ip == HOST_GATEWAY:
        raise bad(f"{HOST_GATEWAY} is not supported yet")
    if not is_hostname(name):
        raise bad(f"{quoted(name)} is not a valid hostname")
    try:
        addr = iptext.canonical(ip)
    except ValueError:
        raise bad(f"{quoted(ip)} is not an IP address") from None
    return name, addr


def parse_dns(spec: str) -> str:
    """The address of `--dns IP`, normalised; InvalidInput (one line) otherwise."""
    try:
        return iptext.canonical(spec)
    except ValueError:
        raise InvalidInput(f"invalid dns {quoted(spec)}: not an IP address") from None


def is_hostname(name: str) -> bool:
    """RFC 1123: dot-separated labels of 1 to 63 letters, digits and hyphens, not starting or
    ending with a hyphen; 253 characters at most, no trailing dot."""
    if not 0 < len(name) <= 253:
        return False
    for label in name.split("."):
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not (label.isascii() and label.replace("-", "").isalnum()):
            return False
    return True


class Resolv(namedtuple("Resolv", "nameservers search options")):
    """What a resolv.conf says (immutable; each field is a fresh list of str):

    nameservers   addresses, in order
    search        search domains (the last `search` or `domain` line wins, as in glibc)
    options       option words, such as "ndots:2", in order
    """

    __slots__ = ()

    def __new__(cls, nameservers=(), search=(), options=()):
        return super().__new__(cls, list(nameservers), list(search), list(options))


def parse_resolv(text: str) -> Resolv:
    """The host's resolv.conf as a Resolv. Lines starting with # or ; are comments, and so is
    the rest of a line from a word starting with one; a nameserver that is not an IP address
    is dropped (glibc ignores it too), and so is a word with control characters, # or ; in
    it (it could not be written back); unknown keywords are ignored. One linear pass."""
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = []
        for word in line.split():
            if word[0] in "#;":
                break
            words.append(word)
        if not words:
            continue
        key, args = words[0], [w for w in words[1:] if _is_word(w)]
        if key == "nameserver" and args and len(nameservers) < MAX_ENTRIES:
            addr = _ip_or_none(args[0])
            if addr is not None:
                nameservers.append(addr)
        elif key == "search":
            search = args[:MAX_ENTRIES]
        elif key == "domain":
            search = args[:1]
        elif key == "options":
            options.extend(args[:MAX_ENTRIES - len(options)])
    return Resolv(nameservers, search, options)


def render_resolv(r: Resolv) -> str:
    """A resolv.conf for `r` ("" when it says nothing). ValueError for an entry that would
    not stay one word of its line."""
    lines = [f"nameserver {_token(ns)}" for ns in r.nameservers]
    if r.search:
        lines.append("search " + " ".join(_token(d) for d in r.search))
    if r.options:
        lines.append("options " + " ".join(_token(o) for o in r.options))
    return "".join(line + "\n" for line in lines)


def container_resolv(host: Resolv, dns: list[str], dns_search: list[str],
                     dns_options: list[str], embedded: str | None) -> Resolv:
    """The container's resolv.conf, from the host's and `--dns`, `--dns-search`,
    `--dns-option` (each replaces the host's when given; `--dns-search .` means no search
    domain, as in Docker), with rocker's resolver at `embedded` when it runs (see the module
    docstring for what a container gets without it)."""
    search = [d for d in dns_search if d != "."] if dns_search else host.search
    options = dns_options if dns_options else host.options
    if embedded is not None:
        nameservers = [embedded]
    elif dns:
        nameservers = dns
    else:
        nameservers = [ns for ns in host.nameservers if _works_in_netns(ns)]
    return Resolv(nameservers, search, options)


def upstreams(host: Resolv, dns: list[str]) -> list[str]:
    """Where rocker's resolver forwards the names it does not know: `--dns` when given, else
    the host's nameservers, loopback ones included (the resolver runs on the host's side)."""
    return list(dns) if dns else list(host.nameservers)


def _works_in_netns(ns: str) -> bool:
    addr = _ip_or_none(ns)
    if addr is None:
        return False
    return not iptext.is_loopback_or_ipv6(addr)


def _ip_or_none(text: str) -> str | None:
    try:
        return iptext.canonical(text)
    except ValueError:
        return None


def _is_word(text: str) -> bool:
    """Whether `text` stays one word of one line in a hosts or resolv.conf file."""
    return isinstance(text, str) and text != "" and text.isprintable() and \
        not any(c.isspace() or c in "#;" for c in text)


def _token(text: str) -> str:
    if not _is_word(text):
        raise ValueError(f"not a single word: {text!r}")
    return text
