"""Latents to images: the one function every generated image passes through, and sampling a
checkpoint alone."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from gancli.checkpoints.generator import LoadedGenerator, load_generator
from gancli.core.device import resolve_device
from gancli.core.pixels import save_grid, to_uint8


@torch.no_grad()
def images_from_latents(generator: nn.Module, latents: torch.Tensor, device: torch.device | str,
                        batch_size: int = 256, labels: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """uint8 image batches (B, C, H, W) on the CPU, one generator call per `batch_size` latents;
    a conditional generator makes image i of class `labels[i]`.

    The generator runs in eval mode (batch norm uses its running statistics, as a user's sample
    would) and is put back in the mode it was in; images are rounded exactly as a PNG holds them.
    """
    was_training = generator.training
    generator.eval()
    try:
        if labels is None:
            for chunk in latents.split(batch_size):
                yield to_uint8(generator(chunk.to(device))).cpu()
        else:
            for chunk, chunk_labels in zip(latents.split(batch_size), labels.split(batch_size)):
                yield to_uint8(generator(chunk.to(device), chunk_labels.to(device, torch.int64))).cpu()
    finally:
        generator.train(was_training)


def class_labels(model: LoadedGenerator, n: int, labels: torch.Tensor | None = None) -> torch.Tensor | None:
    """The labels `n` images are made for: `labels` as given, else (for a conditional generator)
    every class in turn, 0, 1, ..., K-1, 0, ...; None for an unconditional one."""
    if labels is not None or not model.classes:
        return labels
    return torch.arange(n) % len(model.classes)


def generate(model: LoadedGenerator, n: int, seed: int = 0, batch_size: int = 256,
             device: torch.device | str = "cpu", labels: torch.Tensor | None = None) -> torch.Tensor:
    """`n` images as uint8 (n, C, H, W); the latents come from a CPU generator seeded with
    `seed`, so the same seed gives the same latents on every device (and the same images on the
    same machine; elsewhere, the same to rounding). A conditional generator
    makes image i of class `labels[i]`, by default the classes in turn (`class_labels`)."""
    latents = model.sample_latent(n, generator=torch.Generator().manual_seed(seed))
    labels = class_labels(model, n, labels)
    return torch.cat(list(images_from_latents(model.generator, latents, device, batch_size, labels)))


def sample_grid(checkpoint: Path, out: Path, n: int = 64, seed: int = 0, nrow: int | None = None,
                device: str = "auto", ema: bool = True) -> Path:
    """Write a PNG grid of `n` images from `checkpoint` to `out`; from its EMA generator when it
    has one, unless `ema` is False."""
    target = resolve_device(device)
    model = load_generator(checkpoint, target, ema=ema)
    save_grid(generate(model, n, seed, device=target), out, nrow)
    return Path(out)
