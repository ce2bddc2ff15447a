"""Making images from a checkpoint alone."""

from __future__ import annotations

from pathlib import Path

import torch

from gancli.checkpoints.generator import LoadedGenerator, load_generator
from gancli.core.device import resolve_device
from gancli.core.pixels import save_grid, to_uint8


@torch.no_grad()
def generate(model: LoadedGenerator, n: int, seed: int = 0, batch_size: int = 256,
             device: torch.device | str = "cpu") -> torch.Tensor:
    """`n` images as uint8 (n, C, H, W); the latents come from a CPU generator seeded with
    `seed`, so the same seed gives the same images on every device."""
    rng = torch.Generator().manual_seed(seed)
    latents = model.sample_latent(n, generator=rng)
    chunks = [to_uint8(model.generator(z.to(device))).cpu() for z in latents.split(batch_size)]
    return torch.cat(chunks)


def sample_grid(checkpoint: Path, out: Path, n: int = 64, seed: int = 0, nrow: int | None = None,
                device: str = "auto", ema: bool = True) -> Path:
    """Write a PNG grid of `n` images from `checkpoint` to `out`; from its EMA generator when it
    has one, unless `ema` is False."""
    target = resolve_device(device)
    model = load_generator(checkpoint, target, ema=ema)
    save_grid(generate(model, n, seed, device=target), out, nrow)
    return Path(out)
