"""The `gancli` command: its subcommands joined in one place, and error reporting.

A `GancliError` from any command becomes one line on stderr and a non-zero exit; `--debug`
(or GANCLI_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from gancli import __version__
from gancli.core.registry import builtins_only
from gancli.errors import GancliError, debug_requested


def debug_enabled(ctx: typer.Context | None = None) -> bool:
    from_flag = bool(ctx and ctx.obj and ctx.obj.get("debug"))
    return from_flag or debug_requested()


ROOT_FLAGS = ("--debug", "--no-plugins")  # accepted after the command's name too
# Click's UsageError, as the installed Typer ships it (its own copy of Click, or Click itself):
# reached through Typer's public BadParameter, which derives from it.
UsageError = next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "UsageError")


def usage_error(err) -> None:
    """A mistake on the command line as one line, like every other error, and Click's exit code 2."""
    command = err.ctx.command_path if err.ctx is not None else "gancli"
    message = " ".join(err.format_message().split())
    typer.echo(f"Error: {message} (see {command} --help)", err=True)
    raise typer.Exit(err.exit_code) from None


def switches_without_values(params):
    """A switch (--debug, --help, --conditional/--unconditional) takes no value, so --help names none."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class GancliCommand(TyperCommand):
    """A command whose --help names each value as the user types it."""

    def get_params(self, ctx):
        return switches_without_values(super().get_params(ctx))

    def collect_usage_pieces(self, ctx):
        # Click's usage: a required argument by its name alone (CHECKPOINT), an optional one in [ ].
        return [piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece
                for piece in super().collect_usage_pieces(ctx)]


class GancliGroup(TyperGroup):
    def get_params(self, ctx):
        return switches_without_values(super().get_params(ctx))

    def parse_args(self, ctx, args):
        # `gancli train --no-plugins` means `gancli --no-plugins train`; after `--` words are values.
        end = args.index("--") if "--" in args else len(args)
        moved = [arg for arg in args[:end] if arg in ROOT_FLAGS]
        kept = [arg for arg in args[:end] if arg not in ROOT_FLAGS]
        if not args:  # bare `gancli`: Click prints the help, and there is no mistake to report
            return super().parse_args(ctx, args)
        try:
            return super().parse_args(ctx, moved + kept + args[end:])
        except UsageError as err:
            usage_error(err)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UsageError as err:  # a command's own flags: a wrong value, an unknown option
            usage_error(err)
        except GancliError as err:
            if debug_enabled(ctx):
                raise
            from gancli.cli.errors import error_line  # torch loads only when a command needs it
            line = error_line(err)
            if line:
                typer.echo(line, err=True)
            raise typer.Exit(err.exit_code) from None


app = typer.Typer(
    cls=GancliGroup,
    help="Train generative adversarial networks, sample from them and inspect their checkpoints.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def version_callback(value: bool):
    if value:
        typer.echo(f"gancli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False,
    no_plugins: Annotated[bool, typer.Option("--no-plugins", help="Load gancli's built-ins only (as GANCLI_DISABLE_PLUGINS=1).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
):
    ctx.obj = {"debug": debug}
    if no_plugins:
        # Scoped to this command, so an embedding program's later calls see plugins again.
        ctx.with_resource(builtins_only())


# The commands, joined here; their modules import nothing from this one.
from gancli.cli import bench, datasets, evaluate, export, inspect, listing, report, sample, train  # noqa: E402

for name, function in (("train", train.train), ("sample", sample.sample), ("eval", evaluate.evaluate),
                       ("export", export.export), ("inspect", inspect.inspect), ("list", listing.list_plugins),
                       ("bench", bench.bench), ("report", report.report)):
    app.command(name, cls=GancliCommand)(function)

# `gancli datasets` lists them; its subcommands check, pack and prepare their statistics.
datasets_app = typer.Typer(cls=GancliGroup, pretty_exceptions_enable=False)
datasets_app.callback(invoke_without_command=True)(datasets.datasets)
for name, function in (("check", datasets.check), ("pack", datasets.pack), ("stats", datasets.stats)):
    datasets_app.command(name, cls=GancliCommand)(function)
app.add_typer(datasets_app, name="datasets")
