"""The `gancli` command: its subcommands joined in one place, and error reporting.

A `GancliError` from any command becomes one line on stderr and a non-zero exit; `--debug`
(or GANCLI_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperGroup

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


class GancliGroup(TyperGroup):
    def parse_args(self, ctx, args):
        # `gancli train --no-plugins` means `gancli --no-plugins train`; after `--` words are values.
        end = args.index("--") if "--" in args else len(args)
        moved = [arg for arg in args[:end] if arg in ROOT_FLAGS]
        kept = [arg for arg in args[:end] if arg not in ROOT_FLAGS]
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

app.command("train")(train.train)
app.command("sample")(sample.sample)
app.command("eval")(evaluate.evaluate)
app.command("export")(export.export)
app.command("inspect")(inspect.inspect)
app.command("list")(listing.list_plugins)
app.command("datasets")(datasets.datasets)
app.command("bench")(bench.bench)
app.command("report")(report.report)
