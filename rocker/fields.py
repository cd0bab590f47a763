"""The container field table: one row per field of a container's configuration.

A row says everything the rest of rocker needs to know about a field:

    name      the key in ContainerConfig, in records (`rec["config"]`) and in the spec hash
    kind      its type and validation: rocker.containers.config parses each kind (KINDS below);
              the stack model, `spec dump` and the loader treat a field by its kind
    default   the value when the user says nothing (`render` shows only what differs from it)
    options   the `run`/`create` option(s) (click declarations, built by rocker.cli.options)
    stack     the stack-file key, and `aliases` it also accepts (None: not in stack files)
    inspect   where `rocker inspect` shows it ("Config.WorkingDir"); `shown` names the resolved
              value shown instead of the raw one ("process.cwd": the image's default applies)
    live      True: a change is applied in place (`rocker update`, apply's Update); False: a
              change replaces the container (the plan names the field)
    group     the limits are rows of their own, gathered under the `limits` field (they also
              need the cgroup v1 and v2 writers: rocker.cgroups)
    stored    False for inputs merged into another field (`env_file` feeds `env`)

Consumers: rocker.cli.options, rocker.containers.config (build_config), rocker.stackfile.models,
rocker.stackfile.loader, rocker.stackfile.dump, rocker.plan.render, rocker.plan.planner,
rocker.runtime.inspect and rocker.cgroups.limits. Adding an ordinary field (one passed through
to the process or the monitor) means a row here and the code that consumes it. Pure data, no
imports: `rocker run` loads it.
"""

from __future__ import annotations


class Opt:
    """One command-line option: click's declarations (`flags`, the last plain word the dest)."""

    __slots__ = ("flags", "help", "metavar", "flag", "multiple")

    def __init__(self, *flags: str, help: str = "", metavar: str | None = None,
                 flag: bool = False, multiple: bool = False) -> None:
        self.flags, self.help, self.metavar = flags, help, metavar
        self.flag, self.multiple = flag, multiple

    @property
    def dest(self) -> str:
        plain = [f for f in self.flags if not f.startswith("-")]
        if plain:
            return plain[0]
        longest = max((f for f in self.flags if f.startswith("--")), key=len)
        return longest[2:].replace("-", "_")

    @property
    def name(self) -> str:
        """The option as error messages name it: its first long flag (`--cpu-shares`)."""
        return next(f for f in self.flags if f.startswith("--"))


class Field:
    __slots__ = ("name", "kind", "default", "options", "stack", "aliases", "inspect", "shown",
                 "live", "group", "stored", "help")

    def __init__(self, name: str, kind: str, default: object = None, options: tuple = (), *,
                 stack: str | None = "", aliases: tuple[str, ...] = (), inspect: str = "",
                 shown: str = "", live: bool = False, group: str = "", stored: bool = True,
                 help: str = "") -> None:
        self.name, self.kind, self.default, self.options = name, kind, default, options
        self.stack = name if stack == "" else stack
        self.aliases, self.inspect, self.shown = aliases, inspect, shown
        self.live, self.group, self.stored, self.help = live, group, stored, help

    def fresh_default(self) -> object:
        """The default, as a new object when it is mutable ({} or [])."""
        d = self.default
        return type(d)() if isinstance(d, (dict, list)) else d

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.kind!r})"


DEFAULT_STOP_TIMEOUT = 10

ROWS: tuple[Field, ...] = (
    Field("image", "image", None, (Opt("--image", "image_opt", metavar="IMAGE",
                                       help="Image to run (the original rocker's form)."),),
          inspect="ImageName", shown="record.image",
          help="An image key under `images:` or a reference in the store."),
    Field("command", "command", None, inspect="Config.Cmd",
          help="argv list, or a string (run by /bin/sh -c when it has spaces)."),
    Field("entrypoint", "entrypoint", None, (Opt("--entrypoint",
                                                 help="Override the image's entrypoint."),),
          inspect="Config.Entrypoint", help="Override the image's entrypoint."),
    Field("env", "env", {}, (Opt("-e", "--env", multiple=True, metavar="K=V",
                                 help="Set an environment variable; `-e K` passes the host's "
                                      "value."),),
          inspect="Config.Env", shown="process.env", help="Mapping, or a list of K=V."),
    Field("env_file", "env_file", None, (Opt("--env-file", multiple=True, metavar="FILE",
                                             help="Read KEY=VALUE lines from a file."),),
          stored=False, help="KEY=VALUE file(s), relative to the stack file."),
    Field("workdir", "abspath", None, (Opt("-w", "--workdir",
                                           help="Working directory inside the container."),),
          inspect="Config.WorkingDir", shown="process.cwd"),
    Field("user", "user", None, (Opt("-u", "--user", help="uid[:gid] or name[:group] (from "
                                                         "the image's /etc)."),),
          inspect="Config.User", shown="process.user"),
    Field("hostname", "hostname", None, (Opt("-h", "--hostname",
                                             help="Container hostname (default: short ID)."),),
          inspect="Config.Hostname"),
    Field("tty", "bool", False, (Opt("-t", "--tty", flag=True,
                                     help="Allocate a pseudo-terminal."),),
          inspect="Config.Tty"),
    Field("interactive", "bool", False, (Opt("-i", "--interactive", flag=True,
                                             help="Keep stdin open."),),
          aliases=("stdin_open",), inspect="Config.OpenStdin"),
    Field("labels", "labels", {}, (Opt("-l", "--label", multiple=True, metavar="K=V",
                                       help="Set a label."),),
          inspect="Config.Labels", shown="record.labels", live=True,
          help="Mapping, or a list of K=V."),
    Field("restart", "restart", "no", (Opt("--restart", help="no | on-failure[:N] | always | "
                                                             "unless-stopped [default: no]"),),
          inspect="HostConfig.RestartPolicy", live=True,
          help="no | always | unless-stopped | on-failure[:N]"),
    Field("stop_signal", "signal", "SIGTERM", (Opt("--stop-signal",
                                                   help="Signal that stops the container "
                                                        "[default: SIGTERM]."),),
          inspect="Config.StopSignal"),
    Field("stop_timeout", "timeout", DEFAULT_STOP_TIMEOUT,
          (Opt("--stop-timeout", metavar="SECONDS",
               help="Seconds to wait after the stop signal, 0 to 604800 [default: 10]."),),
          inspect="Config.StopTimeout"),
    Field("auto_remove", "bool", False, (Opt("--rm", "auto_remove", flag=True,
                                             help="Remove the container on exit."),),
          stack=None, inspect="HostConfig.AutoRemove"),
    Field("network_mode", "netmode", "bridge", inspect="HostConfig.NetworkMode",
          help="bridge (the networks below) | none | host | container:NAME"),
    Field("networks", "networks", [], (
        Opt("--network", "--net", "network", multiple=True, metavar="NETWORK",
            help="Connect to a network: a name, or none | host | container:NAME (repeatable) "
                 "[default: bridge]."),
        Opt("--network-alias", multiple=True, metavar="ALIAS",
            help="Another name for the container on its (first) network."),
        Opt("--ip", metavar="IPV4", help="The container's address on its (first) network.")),
          inspect="HostConfig.Networks",
          help="Network names, or name -> {aliases, ipv4_address} [default: the stack's "
               "network]."),
    Field("publish", "ports", [], (Opt("-p", "--publish", multiple=True,
                                       metavar="[IP:][HOST:]CONTAINER[/PROTO]",
                                       help="Publish a container port on the host (ranges "
                                            "too)."),),
          stack="ports", inspect="HostConfig.PortBindings",
          help="[IP:][HOST:]CONTAINER[/tcp|udp] strings, or {target, published, host_ip, "
               "protocol}."),
    Field("publish_all", "bool", False, (Opt("-P", "--publish-all", flag=True,
                                             help="Publish every exposed port of the image on a "
                                                  "random host port."),),
          inspect="HostConfig.PublishAllPorts"),
    Field("dns", "iplist", [], (Opt("--dns", multiple=True, metavar="IP",
                                    help="A DNS server for the container."),),
          inspect="HostConfig.Dns"),
    Field("dns_search", "domains", [], (Opt("--dns-search", multiple=True, metavar="DOMAIN",
                                            help="A DNS search domain."),),
          inspect="HostConfig.DnsSearch"),
    Field("dns_option", "dnsopts", [], (Opt("--dns-option", "--dns-opt", "dns_option",
                                            multiple=True, metavar="OPT",
                                            help="A resolv.conf option (ndots:2)."),),
          stack="dns_opt", inspect="HostConfig.DnsOptions"),
    Field("add_host", "hosts", [], (Opt("--add-host", multiple=True, metavar="NAME:IP",
                                        help="Add a line to /etc/hosts."),),
          stack="extra_hosts", inspect="HostConfig.ExtraHosts",
          help="NAME:IP strings, or a mapping NAME -> IP."),
    Field("mounts", "mounts", [], (
        Opt("-v", "--volume", multiple=True, metavar="[SRC:]DST[:OPTS]",
            help="Mount a volume (SRC a name, or none: anonymous) or a host folder (SRC an "
                 "absolute path; made when missing); OPTS: ro, rw, nocopy, a propagation."),
        Opt("--mount", multiple=True, metavar="type=..,source=..,target=..",
            help="Mount (Docker's long form): type=bind|volume|tmpfs, source, target, "
                 "readonly, bind-propagation, volume-nocopy, volume-label, tmpfs-size, "
                 "tmpfs-mode.")),
          stack="volumes", inspect="HostConfig.Mounts",
          help="SRC:DST[:OPTS] strings, or {type, source, target, read_only, bind, volume, "
               "tmpfs}."),
    Field("volumes_from", "volumes_from", [], (Opt("--volumes-from", multiple=True,
                                                   metavar="CONTAINER[:ro|rw]",
                                                   help="Mount the volumes and binds of "
                                                        "another container."),),
          inspect="HostConfig.VolumesFrom",
          help="Services of the stack (or container:NAME), each [:ro|rw]."),
    Field("tmpfs", "tmpfs", {}, (Opt("--tmpfs", multiple=True, metavar="DST[:OPTS]",
                                     help="Mount a tmpfs (OPTS: size=64m, mode=1777, ...)."),),
          inspect="HostConfig.Tmpfs", help="DST[:OPTS] strings."),
    Field("read_only", "bool", False, (Opt("--read-only", flag=True,
                                           help="Mount the container's root filesystem "
                                                "read-only."),),
          inspect="HostConfig.ReadonlyRootfs"),
    Field("limits", "limits", {}, inspect="HostConfig.Resources", live=True, stack=None),
    Field("memory", "size", None, (Opt("-m", "--memory", help="Memory limit (e.g. 100m, 1g)."),),
          group="limits"),
    Field("memory_swap", "swap", None, (Opt("--memory-swap", help="Memory plus swap limit; -1 "
                                                                  "for unlimited."),),
          group="limits"),
    Field("memory_reservation", "size", None, (Opt("--memory-reservation",
                                                   help="Soft memory limit."),),
          group="limits"),
    Field("cpu_shares", "shares", None, (Opt("--cpu-shares", "--cpushare", "cpu_shares",
                                             metavar="N", help="CPU weight (default 1024)."),),
          group="limits"),
    Field("cpus", "cpus", None, (Opt("--cpus", metavar="N",
                                     help="Number of CPUs (quota over 100 ms)."),),
          group="limits"),
    Field("cpuset_cpus", "cpuset", None, (Opt("--cpuset-cpus", "--cpuset", "cpuset_cpus",
                                              help="CPUs allowed (0-1,3)."),),
          stack="cpuset", aliases=("cpuset_cpus",), group="limits"),
    Field("cpuset_mems", "cpuset", None, (Opt("--cpuset-mems", help="Memory nodes allowed."),),
          group="limits"),
    Field("pids_limit", "pids", None, (Opt("--pids-limit", metavar="N",
                                           help="Maximum number of processes."),),
          group="limits"),
    Field("healthcheck", "healthcheck", None, (
        Opt("--health-cmd", help="Command to check health (run with /bin/sh -c)."),
        Opt("--health-interval", help="Time between checks (30s)."),
        Opt("--health-timeout", help="Time a check may take (30s)."),
        Opt("--health-retries", metavar="N", help="Failures in a row that make it unhealthy "
                                                  "(3)."),
        Opt("--health-start-period", help="Grace period (0s).")),
        inspect="Config.Healthcheck"),
    Field("restart_on_unhealthy", "bool", False, (Opt("--restart-on-unhealthy", flag=True,
                                                      help="Restart the container when it "
                                                           "becomes unhealthy."),),
          inspect="HostConfig.RestartOnUnhealthy"),
)

BY_NAME: dict[str, Field] = {f.name: f for f in ROWS}
CONFIG: tuple[Field, ...] = tuple(f for f in ROWS if f.stored and not f.group)
"""The fields of a ContainerConfig, in order."""
LIMITS: tuple[Field, ...] = tuple(f for f in ROWS if f.group == "limits")
LIMIT_NAMES: tuple[str, ...] = tuple(f.name for f in LIMITS)
LIVE: frozenset[str] = frozenset(f.name for f in ROWS if f.live and not f.group)
"""Config fields a change of which is applied in place; any other change replaces."""
DEFAULTS: dict[str, object] = {f.name: f.default for f in CONFIG}


def option_name(name: str) -> str:
    """The command-line option of a field, as error messages name it (`--cpu-shares`)."""
    return BY_NAME[name].options[0].name


def stack_key(name: str) -> str | None:
    return BY_NAME[name].stack
