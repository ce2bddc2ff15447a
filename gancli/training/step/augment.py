"""Differentiable augmentation of everything the discriminator sees (DiffAugment, Zhao et al. 2020).

With few images a discriminator memorises them and training collapses. Augmenting only the real
images would teach the generator to make augmented images; DiffAugment applies the same family
of random transformations to real and fake images alike, each image its own draw, and keeps
every operation differentiable, so the generator's gradient flows back through the
augmentation of its fakes. The policies, applied in this order:

- `color`: brightness (+U(-0.5, 0.5)), saturation (x U(0, 2) around each pixel's channel mean)
  and contrast (x U(0.5, 1.5) around the image mean), on images in [-1, 1] as the original does
  on its own range;
- `translation`: a shift of up to 1/8 of each side, the uncovered border zero (mid-grey);
- `cutout`: a square of half the side, anywhere (even partly outside), set to zero.

Every draw comes from one generator on the training device (the step's own, which also draws the
latents), so no host work happens per step, a CUDA graph captures the draws, and a checkpoint's
saved generator state makes a resume exact.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

TRANSLATION = 1 / 8   # the paper's ratios
CUTOUT = 1 / 2


def uniform(x: torch.Tensor, rng: torch.Generator, low: float, high: float) -> torch.Tensor:
    """One U(low, high) per image, shaped (N, 1, 1, 1) to broadcast over it."""
    draw = torch.rand(x.shape[0], 1, 1, 1, generator=rng, device=x.device, dtype=torch.float32)
    return (draw * (high - low) + low).to(x.dtype)


def color(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    x = x + uniform(x, rng, -0.5, 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * uniform(x, rng, 0.0, 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * uniform(x, rng, 0.5, 1.5) + mean


def offsets(x: torch.Tensor, rng: torch.Generator, low: int, high: int) -> torch.Tensor:
    """One integer in [low, high] per image, shaped (N, 1, 1) to broadcast over rows and columns."""
    return torch.randint(low, high + 1, (x.shape[0], 1, 1), generator=rng, device=x.device)


def translation(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    height, width = x.shape[2:]
    shift_h, shift_w = max(1, round(height * TRANSLATION)), max(1, round(width * TRANSLATION))
    down, right = offsets(x, rng, -shift_h, shift_h), offsets(x, rng, -shift_w, shift_w)
    rows = torch.arange(height, device=x.device).view(1, height, 1) - down       # (N, H, 1): source row
    cols = torch.arange(width, device=x.device).view(1, 1, width) - right        # (N, 1, W): source column
    padded = F.pad(x, (1, 1, 1, 1))  # a border of zeros, where a shifted-in pixel comes from
    rows, cols = (rows + 1).clamp(0, height + 1), (cols + 1).clamp(0, width + 1)
    batch = torch.arange(x.shape[0], device=x.device).view(-1, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    height, width = x.shape[2:]
    size_h, size_w = round(height * CUTOUT), round(width * CUTOUT)
    # The square's centre is anywhere in the image, so it may reach past the border.
    top = offsets(x, rng, 0, height - 1) - size_h // 2
    left = offsets(x, rng, 0, width - 1) - size_w // 2
    rows = torch.arange(height, device=x.device).view(1, height, 1)
    cols = torch.arange(width, device=x.device).view(1, 1, width)
    inside = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "color": color, "translation": translation, "cutout": cutout,
}


class DiffAugment:
    """`augment(images)`: the policies in order, each image its own draw from `rng`."""

    def __init__(self, policies: Sequence[str], rng: torch.Generator):
        unknown = [name for name in policies if name not in POLICIES]
        if unknown:
            raise ValueError(f"unknown augmentation {unknown[0]!r}; available: {', '.join(POLICIES)}")
        self.policies = tuple(name for name in POLICIES if name in policies)  # the paper's order
        self.rng = rng

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.policies:
            x = POLICIES[name](x, self.rng)
        return x
