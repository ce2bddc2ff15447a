"""`gancli datasets`: each dataset's native shape, splits, and whether its files are here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from gancli.cli.options import JsonOpt

DataRootOpt = Annotated[Optional[Path], typer.Option("--data-root", help="Folder to look in; default: $GANCLI_DATA or the user cache.")]


def show_datasets(data_root: Optional[Path], as_json: bool) -> None:
    from gancli.cli.catalog import dataset_rows

    rows = dataset_rows(data_root)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    root = rows[0]["root"] if rows else str(data_root)
    table = Table(title=f"datasets (files looked for in {root})")
    for column in ("name", "shape", "splits", "present", "details"):
        table.add_column(column)
    for row in rows:
        if row["status"] != "ok":
            table.add_row(row["name"], "", "", "", f"[red]broken: {row['error']}[/red]")
            continue
        present = "given as --data folder:PATH" if row["present"] is None else ", ".join(row["present"]) or "no"
        table.add_row(row["name"], row["shape"], ", ".join(row["splits"]), present, row["description"])
    Console().print(table)


def datasets(data_root: DataRootOpt = None, as_json: JsonOpt = False):
    """List datasets: native shape, splits, and which splits have their files locally."""
    show_datasets(data_root, as_json)
