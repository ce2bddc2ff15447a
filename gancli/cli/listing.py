"""`gancli list`: registered architectures, datasets and losses, with the packages behind them."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gancli.cli.datasets import DataRootOpt, show_datasets
from gancli.cli.options import JsonOpt


def list_plugins(
    as_json: JsonOpt = False,
    datasets_only: Annotated[bool, typer.Option("--datasets", help="Show datasets only, with shapes, splits and local files (as `gancli datasets`).")] = False,
    data_root: DataRootOpt = None,
):
    """List architectures, datasets and losses, each with the package that provides it."""
    from gancli.catalog import catalog

    if datasets_only:
        show_datasets(data_root, as_json)
        return

    entries = catalog()
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    console = Console()
    for kind, rows in entries.items():
        table = Table(title=kind)
        for column in ("name", "package", "version", "details"):
            table.add_column(column)
        for row in rows:
            details = row["details"] if row["status"] == "ok" else f"[red]broken: {row['error']}[/red]"
            table.add_row(row["name"], row["package"], row["version"], details)
        console.print(table)
