"""Click options shared by `run` and `create` (and mirrored by stack file fields)."""

from __future__ import annotations

import click

RUN_CONTEXT = {"help_option_names": ["--help"], "allow_interspersed_args": False}


def container_options(f):
    opts = [
        click.option("--image", "image_opt", metavar="IMAGE",
                     help="Image to run (the original rocker's form)."),
        click.option("--name", help="Container name (default: generated)."),
        click.option("-e", "--env", multiple=True, metavar="K=V",
                     help="Set an environment variable; `-e K` passes the host's value."),
        click.option("--env-file", multiple=True, type=click.Path(dir_okay=False),
                     help="Read KEY=VALUE lines from a file."),
        click.option("-w", "--workdir", help="Working directory inside the container."),
        click.option("-u", "--user", help="uid[:gid] or name[:group] (from the image's /etc)."),
        click.option("-h", "--hostname", help="Container hostname (default: short ID)."),
        click.option("--entrypoint", help="Override the image's entrypoint."),
        click.option("-i", "--interactive", is_flag=True, help="Keep stdin open."),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-terminal."),
        click.option("-l", "--label", multiple=True, metavar="K=V", help="Set a label."),
        click.option("--restart", default="no", show_default=True,
                     help="no | on-failure[:N] | always | unless-stopped"),
        click.option("--stop-signal", default="SIGTERM", show_default=True),
        click.option("--stop-timeout", default=None, metavar="SECONDS",
                     help="Seconds to wait after the stop signal, 0 to 604800 [default: 10]."),
        click.option("--rm", "auto_remove", is_flag=True, help="Remove the container on exit."),
        click.option("-m", "--memory", help="Memory limit (e.g. 100m, 1g)."),
        click.option("--memory-swap", help="Memory plus swap limit; -1 for unlimited."),
        click.option("--memory-reservation", help="Soft memory limit."),
        click.option("--cpu-shares", "--cpushare", "cpu_shares", metavar="N",
                     help="CPU weight (default 1024)."),
        click.option("--cpus", metavar="N", help="Number of CPUs (quota over 100 ms)."),
        click.option("--cpuset-cpus", "--cpuset", "cpuset_cpus", help="CPUs allowed (0-1,3)."),
        click.option("--cpuset-mems", help="Memory nodes allowed."),
        click.option("--pids-limit", metavar="N", help="Maximum number of processes."),
        click.option("--health-cmd", help="Command to check health (run with /bin/sh -c)."),
        click.option("--health-interval", default=None, help="Time between checks (30s)."),
        click.option("--health-timeout", default=None, help="Time a check may take (30s)."),
        click.option("--health-retries", default=None, metavar="N",
                     help="Failures in a row that make it unhealthy (3)."),
        click.option("--health-start-period", default=None, help="Grace period (0s)."),
        click.option("--restart-on-unhealthy", is_flag=True,
                     help="Restart the container when it becomes unhealthy."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


LIMIT_KEYS = ("memory", "memory_swap", "memory_reservation", "cpu_shares", "cpus",
              "cpuset_cpus", "cpuset_mems", "pids_limit")


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
    hc = None
    if o.get("health_cmd"):
        hc = {"test": o["health_cmd"]}
        for k in ("interval", "timeout", "retries", "start_period"):
            if o.get(f"health_{k}") is not None:
                hc[k] = o[f"health_{k}"]
    cfg = build_config(
        image, command or None, entrypoint=o.get("entrypoint"), env=o.get("env") or (),
        env_file=o.get("env_file") or (), workdir=o.get("workdir"), user=o.get("user"),
        hostname=o.get("hostname"), tty=o.get("tty"), interactive=o.get("interactive"),
        labels=o.get("label") or (), restart=o.get("restart"),
        stop_signal=o.get("stop_signal"), stop_timeout=o.get("stop_timeout"),
        auto_remove=o.get("auto_remove"),
        limits={k: o.get(k) for k in LIMIT_KEYS if o.get(k) is not None},
        healthcheck=hc, restart_on_unhealthy=o.get("restart_on_unhealthy"))
    return cfg, o.get("name")
