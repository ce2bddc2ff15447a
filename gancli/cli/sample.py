"""`gancli sample`: images from a checkpoint alone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gancli.cli.options import CheckpointArg, DeviceOpt, SeedOpt


def sample(
    checkpoint: CheckpointArg,
    n: Annotated[int, typer.Option("-n", "--num", min=1, help="Number of images.")] = 64,
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG file to write.")] = Path("samples.png"),
    seed: SeedOpt = 0,
    nrow: Annotated[Optional[int], typer.Option("--nrow", min=1, help="Images per row; default: a square grid.")] = None,
    device: DeviceOpt = "auto",
    no_ema: Annotated[bool, typer.Option("--no-ema", help="Use the raw generator, not its moving average.")] = False,
):
    """Rebuild the generator from CHECKPOINT and write a grid of its images."""
    from gancli.sampling import sample_grid

    path = sample_grid(checkpoint, output, n=n, seed=seed, nrow=nrow, device=device, ema=not no_ema)
    typer.echo(f"Wrote {n} images to {path}")
