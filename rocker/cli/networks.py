"""Network commands: the `network` group (create, ls, inspect, rm, prune, reload, connect,
disconnect) and `port`.
Parsing and rendering only; the work is done by rocker.runtime.networks."""

from __future__ import annotations

import json

import click

from rocker.errors import NotFound, RockerError


@click.group("network")
def network_group() -> None:
    """Manage networks: create, ls, inspect, rm, prune, reload, connect, disconnect."""


@network_group.command("create")
@click.option("--subnet", help="IPv4 subnet in CIDR form (default: a free 10.87.N.0/24).")
@click.option("--gateway", help="The bridge's address (default: the subnet's first).")
@click.option("--internal", is_flag=True, help="No route out of the network.")
@click.option("--label", "labels", multiple=True, metavar="K=V", help="Set a label.")
@click.option("-d", "--driver", default="bridge", show_default=True,
              help="Only bridge is supported.")
@click.argument("name")
@click.pass_obj
def create_cmd(obj, subnet, gateway, internal, labels, driver, name) -> None:
    """Create a bridge network."""
    from rocker.containers.config import parse_labels
    from rocker.errors import InvalidInput
    from rocker.runtime import networks
    if driver != "bridge":
        raise InvalidInput(f"network driver {driver!r} is not supported (only bridge)")
    net = networks.create(obj.paths, name, subnet, gateway, internal, parse_labels(labels))
    click.echo(net["id"])


@network_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only IDs.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def ls_cmd(obj, quiet, fmt) -> None:
    """List networks."""
    from rocker.runtime import networks
    rows = networks.listing(obj.paths)
    if quiet:
        for r in rows:
            click.echo(r["id"][:12])
        return
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'NETWORK ID':<14}{'NAME':<24}{'DRIVER':<9}{'SUBNET':<20}INTERNAL")
    for r in rows:
        click.echo(f"{r['id'][:12]:<14}{r['name']:<24}{r['driver']:<9}{r['subnet']:<20}"
                   f"{'yes' if r['internal'] else ''}")


@network_group.command("inspect")
@click.argument("refs", nargs=-1, required=True)
@click.pass_obj
def inspect_cmd(obj, refs) -> None:
    """Show networks as JSON."""
    from rocker.runtime import networks
    out, missing = [], None
    for ref in refs:
        try:
            out.append(networks.inspect(obj.paths, ref))
        except NotFound as e:
            missing = e
    click.echo(json.dumps(out, indent=2))
    if missing is not None:
        raise missing


@network_group.command("rm")
@click.argument("refs", nargs=-1, required=True)
@click.pass_obj
def rm_cmd(obj, refs) -> None:
    """Remove networks no container uses."""
    from rocker.runtime import networks
    failed: RockerError | None = None
    for ref in refs:
        try:
            networks.remove(obj.paths, ref)
            click.echo(ref)
        except RockerError as e:
            click.echo(f"Error: {e}", err=True)
            failed = e
    if failed is not None:
        raise SystemExit(failed.exit_code)


@network_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not ask (rocker never asks).")
@click.pass_obj
def prune_cmd(obj, force) -> None:
    """Remove every user network no container uses."""
    from rocker.runtime import networks
    gone = networks.prune(obj.paths)
    if gone:
        click.echo("Deleted Networks:")
        for n in gone:
            click.echo(n)


@network_group.command("connect")
@click.option("--alias", "aliases", multiple=True, metavar="NAME",
              help="Another name for the container on this network.")
@click.option("--ip", metavar="IPV4", help="The container's address on this network.")
@click.argument("network")
@click.argument("container")
@click.pass_obj
def connect_cmd(obj, aliases, ip, network, container) -> None:
    """Connect a container to a network (a running one at once, as its next ethN)."""
    from rocker.runtime import networks
    networks.connect(obj.paths, network, container, aliases, ip)


@network_group.command("disconnect")
@click.option("-f", "--force", is_flag=True, help="Accepted for Docker's sake.")
@click.argument("network")
@click.argument("container")
@click.pass_obj
def disconnect_cmd(obj, force, network, container) -> None:
    """Disconnect a container from a network."""
    from rocker.runtime import networks
    networks.disconnect(obj.paths, network, container)


@network_group.command("reload")
@click.pass_obj
def reload_cmd(obj) -> None:
    """Rebuild rocker's firewall table from state (after the ruleset was flushed)."""
    from rocker.runtime import networks
    networks.reload(obj.paths)
    click.echo("reloaded rocker's nftables table")


@click.command("port")
@click.argument("container")
@click.argument("port", required=False)
@click.pass_obj
def port_cmd(obj, container, port) -> None:
    """List a container's published ports, or the host address of one (80, 80/udp)."""
    from rocker.network.ports import format_binding, from_json
    from rocker.runtime import networks
    maps = [from_json(m) for m in networks.ports(obj.paths, container)]
    if port:
        num, _, proto = port.partition("/")
        proto = (proto or "tcp").lower()
        hits = [m for m in maps if str(m.container_port) == num and m.proto == proto]
        if not hits:
            raise NotFound(f"no public port '{num}/{proto}' published for {container}")
        for m in hits:
            click.echo(format_binding(m).split(" -> ", 1)[1])
        return
    for m in maps:
        click.echo(format_binding(m))
