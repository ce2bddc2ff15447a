"""Latent vectors for sampling: per-image seeds, truncation, and walks between latents."""

from __future__ import annotations

import re

import torch

from gancli.checkpoints.generator import LoadedGenerator
from gancli.config.schema import MAX_SEED
from gancli.errors import ConfigError

MAX_RESAMPLES = 1000  # truncation redraws; whatever still lies outside is clamped
MAX_SEEDS = 100_000  # images `--seeds` may ask for, one per seed: a typo like 0-99999999 is refused, not drawn


def parse_seeds(text: str) -> list[int]:
    """'0-63' or '1,5,10-12' -> the listed seeds, in order (ranges inclusive, as in StyleGAN's tools)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ConfigError(f"--seeds: expected seeds like 0-63 or 1,5,10-12, got {text!r}")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last < first:
            raise ConfigError(f"--seeds: range {part} runs backwards")
        if last > MAX_SEED:
            raise ConfigError(f"--seeds: seeds run from 0 to {MAX_SEED}, got {last}")
        if len(seeds) + last - first + 1 > MAX_SEEDS:
            raise ConfigError(f"--seeds: {text!r} lists more than {MAX_SEEDS:,} seeds; one image each is too many")
        seeds.extend(range(first, last + 1))
    return seeds


def draw(model: LoadedGenerator, count: int, rng: torch.Generator, truncation: float | None) -> torch.Tensor:
    """`count` latents from `rng`; with `truncation`, entries beyond +-truncation are redrawn
    (the truncation trick for Gaussian latents: fewer, more typical images)."""
    latents = model.sample_latent(count, generator=rng)
    if truncation is None:
        return latents
    for _ in range(MAX_RESAMPLES):
        outside = latents.abs() > truncation
        if not outside.any():
            break
        latents = torch.where(outside, model.sample_latent(count, generator=rng), latents)
    return latents.clamp(-truncation, truncation)


def latents_for(model: LoadedGenerator, n: int, seed: int, seeds: list[int] | None = None,
                truncation: float | None = None) -> torch.Tensor:
    """With `seeds`, image i comes from seed seeds[i] alone, so it is the same in any batch or
    list; otherwise `n` latents come from one generator seeded with `seed`. Drawn on the CPU."""
    if truncation is not None and truncation <= 0:
        raise ConfigError(f"--truncation must be positive, got {truncation}")
    if seeds:
        return torch.cat([draw(model, 1, torch.Generator().manual_seed(s), truncation) for s in seeds])
    return draw(model, n, torch.Generator().manual_seed(seed), truncation)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation: keeps the norm typical of Gaussian latents along the walk."""
    if t in (0, 1):
        return (a if t == 0 else b).clone()  # the walk passes through the seeds' own latents exactly
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:
        return torch.lerp(a, b, t)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def walk(latents: torch.Tensor, steps: int) -> torch.Tensor:
    """(S, D) -> (S - 1, steps + 1, D): for each consecutive pair, `steps + 1` points from one to the next."""
    flat = latents.reshape(latents.shape[0], -1)
    rows = [torch.stack([slerp(flat[i], flat[i + 1], k / steps) for k in range(steps + 1)])
            for i in range(flat.shape[0] - 1)]
    return torch.stack(rows).reshape(flat.shape[0] - 1, steps + 1, *latents.shape[1:])
