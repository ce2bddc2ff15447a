"""`gancli list`: registered architectures, datasets and losses, with the packages behind them.

Plain `gancli list` reads entry-point metadata only: it is fast and imports no plugin. `--check`
loads every entry and reports the broken ones; `gancli list NAME` describes one.
"""

from __future__ import annotations

import json
import textwrap
from typing import Annotated, Any, Optional

import typer

from gancli.cli.datasets import DataRootOpt, show_datasets
from gancli.cli.options import JsonOpt
from gancli.core.registry import REQUIRE_ENV

KINDS = {"architectures": "architecture", "datasets": "dataset", "losses": "loss", "loggers": "logger"}


def list_plugins(
    name: Annotated[Optional[str], typer.Argument(help="Describe the entries of this name (or package:name).",
                                                  show_default=False)] = None,
    check: Annotated[bool, typer.Option("--check", help="Load every entry and report the broken ones; exit 1 if any is broken (or a package GANCLI_REQUIRE_PLUGINS names is missing).")] = False,
    as_json: JsonOpt = False,
    datasets_only: Annotated[bool, typer.Option("--datasets", help="Show datasets only, with shapes, splits and local files (as `gancli datasets`).")] = False,
    data_root: DataRootOpt = None,
):
    """List architectures, datasets, losses and loggers, each with the package that provides it."""
    from gancli.cli.catalog import catalog, entries

    if datasets_only:
        show_datasets(data_root, as_json)
        return
    if as_json:
        loaded = with_names(catalog(name), entries())
        typer.echo(json.dumps(loaded, indent=2))
        if check and (broken_rows(loaded) or missing_required(loaded)):
            raise typer.Exit(1)
        return
    if name is not None:
        described = catalog(name)
        if not any(described.values()):
            raise typer.BadParameter(f"nothing is registered as {name!r}; `gancli list` shows what is",
                                     param_hint="NAME")
        for kind, rows in described.items():
            for row in rows:
                typer.echo(describe(KINDS[kind], row))
        return
    status = with_names(catalog(), entries()) if check else entries()
    for kind, rows in status.items():
        typer.echo(kind)
        for row in rows:
            typer.echo(line(row))
    if not check:
        typer.echo("\ngancli list NAME describes an entry; gancli list --check loads each and reports the broken ones")
        return
    broken, missing = broken_rows(status), missing_required(status)
    for package in missing:
        typer.echo(f"required by {REQUIRE_ENV} but not installed: {package}")
    typer.echo(f"\n{len(broken)} broken (shown above)" if broken else "\nevery entry loads")
    if broken or missing:
        raise typer.Exit(1)  # a CI gate: a broken or missing plugin fails the job


def broken_rows(status: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [row for rows in status.values() for row in rows if row.get("status") == "broken"]


def missing_required(status: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The packages GANCLI_REQUIRE_PLUGINS names that register nothing here."""
    from gancli.core.registry import normalize_package, required_packages

    present = {normalize_package(row["package"]) for rows in status.values() for row in rows}
    return [package for package in required_packages() if package not in present]


def with_names(loaded: dict[str, list[dict[str, Any]]], listed: dict[str, list[dict[str, Any]]]) -> dict:
    """The loaded rows, each with the name that reaches it and what shadows it."""
    names = {(kind, row["name"], row["package"]): row for kind, rows in listed.items() for row in rows}
    return {kind: [{**row, **{k: names[(kind, row["name"], row["package"])][k] for k in ("use_as", "shadowed_by")}}
                   for row in rows] for kind, rows in loaded.items()}


def line(row: dict[str, Any]) -> str:
    text = f"  {row['use_as']:<22} {row['package']} {row['version']}"
    if row.get("shadowed_by"):
        text += f"  ({row['name']} alone is {row['shadowed_by']})"
    if row.get("status") == "broken":
        text += "  BROKEN: " + row["error"]
    return text


def describe(kind: str, row: dict[str, Any]) -> str:
    head = f"{row['name']} ({kind}) from {row['package']} {row['version']}"
    if row["status"] == "broken":
        body = [f"broken: {row['error']}"]
    else:
        body = [row["description"] or "(no description)"]
        if kind == "architecture":
            body.append(f"default loss {row['default_loss']}; {row['d_steps']} D step(s) per G step; "
                        f"image sizes {', '.join(map(str, row['image_sizes'])) or 'any'}; "
                        f"{'class-conditional with --conditional' if row['conditional'] else 'unconditional only'}")
        elif kind == "dataset":
            body.append(f"images {'x'.join(map(str, row['shape']))}; splits {', '.join(row['splits'])}")
    return "\n".join([head] + [textwrap.fill(text, 78, initial_indent="  ", subsequent_indent="  ")
                               for text in body])
