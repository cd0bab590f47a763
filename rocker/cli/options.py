"""Click options shared by `run` and `create`, made from the container field table
(rocker.fields): each row's options, in the table's order."""

from __future__ import annotations

import click

from rocker import fields

RUN_CONTEXT = {"help_option_names": ["--help"], "allow_interspersed_args": False}


def _click_option(opt: fields.Opt):
    kw: dict = {"help": opt.help or None}
    if opt.metavar:
        kw["metavar"] = opt.metavar
    if opt.flag:
        kw["is_flag"] = True
    if opt.multiple:
        kw["multiple"] = True
    return click.option(*opt.flags, **kw)


def container_options(f):
    opts = [click.option("--name", help="Container name (default: generated).")]
    opts += [_click_option(o) for row in fields.ROWS for o in row.options]
    opts += [click.option("--pull", "pull_policy", default="missing",
                          type=click.Choice(["missing", "always", "never"]),
                          help="Pull the image: when missing (default), always, never."),
             click.option("--platform", "pull_platform", default=None, metavar="OS/ARCH",
                          help="The platform to pull (default: the host's).")]
    for o in reversed(opts):
        f = o(f)
    return f


def limit_options(f):
    """The limit rows' options alone (`rocker update`)."""
    for o in reversed([o for row in fields.LIMITS for o in row.options]):
        f = _click_option(o)(f)
    return f


def _healthcheck(o: dict) -> dict | None:
    if not o.get("health_cmd"):
        return None
    hc = {"test": o["health_cmd"]}
    for k in ("interval", "timeout", "retries", "start_period"):
        if o.get(f"health_{k}") is not None:
            hc[k] = o[f"health_{k}"]
    return hc


def _value(row: fields.Field, o: dict):
    """The raw value of one field from click's options (validated later by build_config)."""
    if row.kind == "healthcheck":
        return _healthcheck(o)
    if row.kind == "netmode":  # --network none | host | container:X (any other is a name)
        modes = [n for n in o.get("network") or () if n in ("none", "host", "bridge", "default")
                 or n.startswith("container:")]
        return modes[0] if len(modes) == 1 and modes[0] not in ("bridge", "default") else None
    if row.kind == "networks":
        names = [n for n in o.get("network") or () if n != "default"]
        if len([n for n in names if n in ("none", "host") or n.startswith("container:")]) == 1 \
                and len(names) == 1:
            names = []
        if not (names or o.get("network_alias") or o.get("ip")):
            return None
        return {"names": names, "aliases": list(o.get("network_alias") or ()),
                "ip": o.get("ip")}
    if row.kind == "mounts":  # -v and --mount, in that order
        if not (o.get("volume") or o.get("mount")):
            return None
        return {"volume": list(o.get("volume") or ()), "mount": list(o.get("mount") or ())}
    if row.kind == "limits":
        return {r.name: o[r.options[0].dest] for r in fields.LIMITS
                if o.get(r.options[0].dest) is not None}
    v = o.get(row.options[0].dest)
    return (v or None) if row.options[0].multiple else v


def config_from_options(o: dict, args: tuple[str, ...]):
    """Options of `run`/`create` -> (ContainerConfig, name), through the one builder."""
    from rocker.containers.config import build_config
    from rocker.errors import UsageError
    if o.get("image_opt"):
        image, command = o["image_opt"], list(args)
    elif args:
        image, command = args[0], list(args[1:])
    else:
        raise UsageError("an image is required: rocker run [OPTIONS] IMAGE [COMMAND [ARG...]]")
    values = {row.name: _value(row, o) for row in fields.ROWS
              if not row.group and row.kind not in ("image", "command")
              and (row.options or row.kind in ("limits", "netmode"))}
    return build_config(image, command or None, **values), o.get("name")
