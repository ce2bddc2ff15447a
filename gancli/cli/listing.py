"""`gancli list`: registered architectures, datasets and losses, with the packages behind them."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gancli.cli.datasets import DataRootOpt, show_datasets
from gancli.cli.options import JsonOpt

# Per kind, the columns after name, package and version: (heading, row -> text).
COLUMNS = {
    "architectures": [
        ("loss", lambda row: row["default_loss"]),
        ("D steps", lambda row: str(row["d_steps"])),
        ("image sizes", lambda row: ", ".join(map(str, row["image_sizes"])) or "any"),
    ],
    "datasets": [
        ("shape", lambda row: "x".join(map(str, row["shape"]))),
        ("splits", lambda row: ", ".join(row["splits"])),
    ],
    "losses": [],
}


def _row(kind: str, row: dict[str, Any]) -> list[str]:
    cells = [row["name"], row["package"], row["version"]]
    if row["status"] != "ok":
        return cells + [""] * len(COLUMNS[kind]) + ["[red]broken (see below)[/red]"]
    return cells + [cell(row) for _, cell in COLUMNS[kind]] + [row["description"]]


def list_plugins(
    as_json: JsonOpt = False,
    datasets_only: Annotated[bool, typer.Option("--datasets", help="Show datasets only, with shapes, splits and local files (as `gancli datasets`).")] = False,
    data_root: DataRootOpt = None,
):
    """List architectures, datasets and losses, each with the package that provides it."""
    from gancli.cli.catalog import catalog

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
        for heading in ("name", "package", "version", *(h for h, _ in COLUMNS[kind]), "description"):
            table.add_column(heading, no_wrap=heading != "description")
        for row in rows:
            table.add_row(*_row(kind, row))
        console.print(table)
        # Errors go below the table, whole: a narrow terminal would cut them off inside it.
        for row in rows:
            if row["status"] != "ok":
                detail = escape(f"{row['name']} from {row['package']} {row['version']}: {row['error']}")
                console.print(f"[red]broken:[/red] {detail}", highlight=False, soft_wrap=True)
