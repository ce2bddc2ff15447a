"""`gancli sample`: images from a checkpoint alone, as a grid, files, an array or a latent walk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gancli.cli.options import BestOpt, CheckpointArg, DeviceOpt, SeedOpt, existing_checkpoint


def sample(
    checkpoint: CheckpointArg,
    n: Annotated[int, typer.Option("-n", "--num", min=1, metavar="N", help="Number of images, of each class with --class (ignored with --seeds).")] = 64,
    classes: Annotated[Optional[str], typer.Option("--class", metavar="NAMES", help="A conditional checkpoint's classes, by name or number: 7, cat,dog or all; several make one row each.")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", "--out", metavar="FILE", help="The grid (.png, .jpg or .webp), the .npz, or the strip of --interpolate (a GIF is written beside it).", show_default="samples.png")] = None,
    seed: SeedOpt = 0,
    seeds: Annotated[Optional[str], typer.Option("--seeds", metavar="SEEDS", help="One seed per image: 0-63 or 1,5,10-12; each image is reproducible on its own.")] = None,
    nrow: Annotated[Optional[int], typer.Option("--nrow", min=1, metavar="N", help="Images per row; default: a square grid.")] = None,
    scale: Annotated[int, typer.Option("--scale", min=1, metavar="N", help="Draw each pixel as N x N pixels, for grids of small images.")] = 1,
    individual: Annotated[Optional[Path], typer.Option("--individual", metavar="DIR", help="Write one PNG per image into this folder instead of a grid.")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", metavar="png|npz", help="npz: the images as an (N, H, W, C) uint8 array. Default: npz for -o *.npz, else png.")] = None,
    interpolate: Annotated[Optional[int], typer.Option("--interpolate", metavar="K", help="A latent walk of K steps between consecutive --seeds: a strip and an animated GIF.")] = None,
    truncation: Annotated[Optional[float], typer.Option("--truncation", metavar="T", help="Redraw latent values beyond +-T: more typical, less varied images.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, metavar="N", help="Images per generator call; images stream to disk batch by batch.")] = 256,
    device: DeviceOpt = "auto",
    no_ema: Annotated[bool, typer.Option("--no-ema", help="Use the raw generator, not its moving average.")] = False,
    best: BestOpt = False,
):
    """Rebuild the generator from CHECKPOINT and write its images."""
    checkpoint = existing_checkpoint(checkpoint, best)  # a missing file is one line before torch loads
    from gancli.sampling.latents import parse_seeds
    from gancli.sampling.output import SampleRequest, write_samples

    request = SampleRequest(checkpoint, output, n, seed, parse_seeds(seeds) if seeds else None, nrow, individual,
                            fmt, interpolate, truncation, batch_size, device, ema=not no_ema, classes=classes,
                            scale=scale)
    result = write_samples(request, notify=typer.echo)
    if interpolate is not None:
        typer.echo(f"Wrote a walk through {result.count} seeds to {result.paths[0]} and {result.paths[1]}")
    else:
        typer.echo(f"Wrote {result.count} images to {individual if individual is not None else result.paths[0]}")
