"""Entry point of the `rocker` command: global options, lazy sub-commands, one exit path.

Every verb lives in a module of rocker.cli and is imported only when it runs (see COMMANDS).
All expected errors are RockerError subclasses: they print one line on stderr and exit with the
error's code. Anything else is a bug: one line, exit 70, and the traceback with --debug. Every
failure goes through rocker.errors.exit_code_for(), the one place where a code depends on the
command (`run`, `create` and `exec` exit 125 for any failure of rocker itself, as Docker's do).
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from rocker import __version__
from rocker.errors import INTERNAL_ERROR_EXIT, RockerError, exit_code_for
from rocker.paths import Paths

# name -> "module:attribute"; the module is imported only when the command runs.
COMMANDS: dict[str, str] = {
    # images
    "import": "rocker.cli.images:import_cmd",
    "images": "rocker.cli.images:images_cmd",
    "image": "rocker.cli.images:image_group",
    "tag": "rocker.cli.images:tag_cmd",
    "rmi": "rocker.cli.images:rmi_cmd",
    "pull": "rocker.cli.images:pull_cmd",
    "push": "rocker.cli.images:push_cmd",
    "load": "rocker.cli.images:load_cmd",
    "save": "rocker.cli.images:save_cmd",
    "export": "rocker.cli.images:export_cmd",
    "history": "rocker.cli.images:history_cmd",
    "login": "rocker.cli.images:login_cmd",
    "logout": "rocker.cli.images:logout_cmd",
    "system": "rocker.cli.images:system_group",
    # containers
    "run": "rocker.cli.containers:run_cmd",
    "create": "rocker.cli.containers:create_cmd",
    "ps": "rocker.cli.containers:ps_cmd",
    "logs": "rocker.cli.containers:logs_cmd",
    "stop": "rocker.cli.containers:stop_cmd",
    "kill": "rocker.cli.containers:kill_cmd",
    "start": "rocker.cli.containers:start_cmd",
    "restart": "rocker.cli.containers:restart_cmd",
    "wait": "rocker.cli.containers:wait_cmd",
    "rm": "rocker.cli.containers:rm_cmd",
    "exec": "rocker.cli.containers:exec_cmd",
    "commit": "rocker.cli.containers:commit_cmd",
    "inspect": "rocker.cli.containers:inspect_cmd",
    "attach": "rocker.cli.containers:attach_cmd",
    # networks
    "network": "rocker.cli.networks:network_group",
    "port": "rocker.cli.networks:port_cmd",
    # volumes
    "volume": "rocker.cli.volumes:volume_group",
    "cp": "rocker.cli.volumes:cp_cmd",
    # resources
    "update": "rocker.cli.resources:update_cmd",
    "stats": "rocker.cli.resources:stats_cmd",
    "top": "rocker.cli.resources:top_cmd",
    "pause": "rocker.cli.resources:pause_cmd",
    "unpause": "rocker.cli.resources:unpause_cmd",
    # stacks
    "diff": "rocker.cli.stacks:diff_cmd",
    "apply": "rocker.cli.stacks:apply_cmd",
    "delete": "rocker.cli.stacks:delete_cmd",
    "down": "rocker.cli.stacks:down_cmd",
    "status": "rocker.cli.stacks:status_cmd",
    "spec": "rocker.cli.stacks:spec_group",
}


class LazyGroup(click.Group):
    invoked: str | None = None
    """The sub-command this invocation runs, once click has found it (for exit_code_for)."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name, cmd, rest = super().resolve_command(ctx, args)
        LazyGroup.invoked = cmd.name if cmd is not None else name
        return name, cmd, rest

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name == module:
                return None
            raise
        return getattr(mod, attr, None)


class Context:
    """What every command gets through click: storage paths and the debug flag."""

    def __init__(self, paths: Paths, debug: bool) -> None:
        self.paths = paths
        self.debug = debug


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar="ROCKER_ROOT", default=None, metavar="DIR",
              help="Persistent storage root [default: /var/lib/rocker, or $ROCKER_ROOT].")
@click.option("--runroot", envvar="ROCKER_RUNROOT", default=None, metavar="DIR",
              help="Runtime state root [default: /var/run/rocker, or $ROCKER_RUNROOT].")
@click.option("--debug", is_flag=True, envvar="ROCKER_DEBUG", help="Show tracebacks on errors.")
@click.version_option(__version__, "--version", prog_name="rocker")
@click.pass_context
def cli(ctx: click.Context, root: str | None, runroot: str | None, debug: bool) -> None:
    """rocker: daemonless Linux containers, declared in stack files or run by hand."""
    ctx.obj = Context(Paths.from_env(root, runroot), debug)


def _exit(code: int) -> None:
    """Flush and leave without the interpreter's teardown (it costs ~10 ms per command)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or 141
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    from rocker.util.trace import mark
    mark("cli: imports done")
    try:
        _main(argv)
    except SystemExit as e:
        code = e.code
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        _exit(code)


def _gone_container(e: OSError) -> str | None:
    """The id of the container whose folder (record, runtime files, lock) vanished under
    this command, if that is what `e` is about."""
    import re
    for name in (e.filename, e.filename2):
        m = re.search(r"/containers/\.?(?:rm-|new-)?([0-9a-f]{64})(?:/|$)", str(name or ""))
        if m and not os.path.isdir(str(name)[:m.end(1)]):
            return m.group(1)
    return None


def _internal(e: BaseException, debug: bool) -> None:
    """A bug: one line and exit 70 (125 for run verbs); the traceback only with --debug."""
    if debug:
        raise e
    click.echo(f"rocker: internal error: {type(e).__name__}: {e} (run with --debug for details)",
               err=True)
    sys.exit(exit_code_for(LazyGroup.invoked, INTERNAL_ERROR_EXIT))


def _main(argv: list[str] | None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(
        os.environ.get("ROCKER_DEBUG"))
    LazyGroup.invoked = None

    def fail(code: int) -> None:
        sys.exit(exit_code_for(LazyGroup.invoked, code))

    try:
        rv = cli.main(args=argv, prog_name="rocker", standalone_mode=False)
    except RockerError as e:
        if debug:
            import traceback
            traceback.print_exc()
        click.echo(f"rocker: {e}", err=True)
        fail(e.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        fail(130)
    except click.ClickException as e:
        e.show()
        fail(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        fail(130)
    except BrokenPipeError:
        fail(141)
    except FileNotFoundError as e:
        gone = _gone_container(e)
        if gone is None or debug:
            _internal(e, debug)
        from rocker.errors import ContainerGone
        click.echo(f"rocker: container {gone[:12]} was removed meanwhile (by another command)",
                   err=True)
        fail(ContainerGone.exit_code)
    except OSError as e:
        from rocker.state.store import NO_SPACE
        if e.errno not in NO_SPACE or debug:
            _internal(e, debug)
        from rocker.errors import HostError
        where = f" ({e.filename})" if e.filename else ""
        click.echo(f"rocker: no space left on device{where}: free some (rocker rm, rmi) and "
                   "try again", err=True)
        fail(HostError.exit_code)
    except Exception as e:  # a bug: one line, traceback only with --debug
        _internal(e, debug)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
