"""`gancli export`: a checkpoint's generator in a format other runtimes load (ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from gancli.cli.options import BestOpt, CheckpointArg

ONNX_EXTRA = '"gancli[onnx]"'  # square brackets are Rich markup in help: escaped where shown


def export(
    checkpoint: CheckpointArg,
    fmt: Annotated[str, typer.Option("--format", help=f"onnx (needs: pip install {escape(ONNX_EXTRA)}).")] = "onnx",
    output: Annotated[Path, typer.Option("-o", "--output", "--out", help="File to write.")] = Path("generator.onnx"),
    best: BestOpt = False,
):
    """Export the generator of CHECKPOINT, checked against PyTorch on random latents."""
    from gancli.checkpoints.locate import checkpoint_in
    from gancli.sampling.export import export as run_export

    checkpoint = checkpoint_in(checkpoint, best)

    result = run_export(checkpoint, output, fmt)
    typer.echo(f"Wrote {result.path} (largest difference from PyTorch on random latents: {result.max_abs_difference:.2g})")
