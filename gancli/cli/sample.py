"""`gancli sample`: images from a checkpoint alone, as a grid, files, an array or a latent walk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gancli.cli.options import BestOpt, CheckpointArg, DeviceOpt, SeedOpt


def sample(
    checkpoint: CheckpointArg,
    n: Annotated[int, typer.Option("-n", "--num", min=1, help="Number of images, of each class with --class (ignored with --seeds).")] = 64,
    classes: Annotated[Optional[str], typer.Option("--class", help="A conditional checkpoint's classes, by name or number: 7, cat,dog or all; several make one row each.")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", "--out", help="Grid PNG, .npz file, or strip PNG of --interpolate (a GIF is written beside it).", show_default="samples.png or samples.npz")] = None,
    seed: SeedOpt = 0,
    seeds: Annotated[Optional[str], typer.Option("--seeds", help="One seed per image: 0-63 or 1,5,10-12; each image is reproducible on its own.")] = None,
    nrow: Annotated[Optional[int], typer.Option("--nrow", min=1, help="Images per row; default: a square grid.")] = None,
    individual: Annotated[Optional[Path], typer.Option("--individual", help="Write one PNG per image into this folder instead of a grid.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="png or npz (images as an (N, H, W, C) uint8 array).")] = "png",
    interpolate: Annotated[Optional[int], typer.Option("--interpolate", help="A latent walk of K steps between consecutive --seeds: strip PNG and animated GIF.")] = None,
    truncation: Annotated[Optional[float], typer.Option("--truncation", help="Redraw latent values beyond +-T: more typical, less varied images.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per generator call; images stream to disk batch by batch.")] = 256,
    device: DeviceOpt = "auto",
    no_ema: Annotated[bool, typer.Option("--no-ema", help="Use the raw generator, not its moving average.")] = False,
    best: BestOpt = False,
):
    """Rebuild the generator from CHECKPOINT and write its images."""
    from gancli.checkpoints.locate import checkpoint_in
    from gancli.sampling.latents import parse_seeds
    from gancli.sampling.output import SampleRequest, write_samples

    checkpoint = checkpoint_in(checkpoint, best)

    request = SampleRequest(checkpoint, output, n, seed, parse_seeds(seeds) if seeds else None, nrow, individual,
                            fmt, interpolate, truncation, batch_size, device, ema=not no_ema, classes=classes)
    result = write_samples(request)
    if interpolate is not None:
        typer.echo(f"Wrote a walk through {result.count} seeds to {result.paths[0]} and {result.paths[1]}")
    else:
        typer.echo(f"Wrote {result.count} images to {individual if individual is not None else result.paths[0]}")
