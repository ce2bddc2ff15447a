"""`gancli export`: a checkpoint's generator in a format other runtimes load (ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gancli.cli.options import CheckpointArg


def export(
    checkpoint: CheckpointArg,
    fmt: Annotated[str, typer.Option("--format", help="onnx (needs: pip install \"gancli[onnx]\").")] = "onnx",
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")] = Path("generator.onnx"),
):
    """Export the generator of CHECKPOINT, checked against PyTorch on random latents."""
    from gancli.sampling.export import export as run_export

    result = run_export(checkpoint, output, fmt)
    typer.echo(f"Wrote {result.path} (largest difference from PyTorch on random latents: {result.max_abs_difference:.2g})")
