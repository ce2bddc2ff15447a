"""`gancli inspect`: a checkpoint's metadata and parameter counts, and with --tensors its tensors,
without loading them."""

from __future__ import annotations

import json
from pathlib import Path

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gancli.cli.options import BestOpt, CheckpointArg, JsonOpt, existing_checkpoint
from gancli.errors import CheckpointError


def inspect(checkpoint: CheckpointArg, as_json: JsonOpt = False, best: BestOpt = False,
            tensors: Annotated[bool, typer.Option("--tensors", help="List every tensor too: name, shape, dtype "
                                                                     "and elements (--json always does).")] = False):
    """Show what CHECKPOINT holds: metadata and parameter counts; its tensors with --tensors."""
    checkpoint = existing_checkpoint(checkpoint, best)  # a missing file is one line before torch loads
    from gancli.checkpoints.inspection import describe_checkpoint

    report = describe_checkpoint(checkpoint)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        show(checkpoint, report, tensors or not report["gancli"])  # another file's tensors are all it has
    if not report["gancli"]:
        raise CheckpointError(f"{checkpoint} is a safetensors file but not a gancli checkpoint: it has no "
                              f"gancli.* metadata (its tensors are listed above)")


def show(checkpoint: Path, report: dict, list_tensors: bool = False) -> None:
    from gancli.metrics.protocol import Protocol

    console = Console()
    meta = Table(title=f"{checkpoint}", show_header=False)
    meta.add_column("key", style="bold")
    meta.add_column("value", overflow="fold")
    for key, value in report["metadata"].items():
        if key == "config":
            continue  # the full config is long; --json shows it
        if key == "classes" and isinstance(value, list):  # a conditional generator's: label, name
            meta.add_row(key, f"{len(value)}: " + ", ".join(f"{label} {name}" if name != str(label) else name
                                                            for label, name in enumerate(map(str, value))))
            continue
        if key == "score_protocol" and Protocol.from_dict(value) is not None:  # what the best's scores mean
            value = Protocol.from_dict(value).line().removeprefix("protocol: ")
        if key == "precision" and report["metadata"].get("config", {}).get("precision") == "auto":
            value = f"{value} (precision: auto, on {report['metadata'].get('kernels', 'its machine')})"
        meta.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    for network, counts in report["networks"].items():
        if counts["parameters"] is not None:
            meta.add_row(f"{network} parameters", f"{counts['parameters']:,}")
    console.print(meta)
    if not list_tensors:
        count = len(report["tensors"])
        typer.echo(f"{count} tensor{'' if count == 1 else 's'}; --tensors lists them")
        return

    tensors = Table(title="tensors")
    for column in ("name", "shape", "dtype"):
        tensors.add_column(column)
    tensors.add_column("elements", justify="right")
    for tensor in report["tensors"]:
        tensors.add_row(tensor["name"], "x".join(map(str, tensor["shape"])) or "scalar", tensor["dtype"], f"{tensor['numel']:,}")
    console.print(tensors)
