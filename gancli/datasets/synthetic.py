"""`synthetic`: house-number-like digits drawn on the fly, so gancli works with no download.

Each 32x32 RGB image is a digit 0-9 in Pillow's built-in font at a random size, offset, slight
rotation and colour, over a two-colour gradient with a little noise. The same split always gives
the same images. Only the glyph masks go through Pillow; colouring is vectorised in torch.
"""

from __future__ import annotations

import random

import torch
from PIL import Image, ImageDraw, ImageFont

from gancli.core.shapes import ImageShape
from gancli.datasets.base import DataRequest, DatasetSource, Images

SIDE = 32
SPLIT_SIZES = {"train": 10_000, "test": 2_000}
SPLIT_SEEDS = {"train": 0, "test": 1}


def glyph_masks(labels: list[int], rng: random.Random) -> torch.Tensor:
    """(N, 1, 32, 32) float masks in [0, 1], one drawn digit each."""
    fonts = {size: ImageFont.load_default(size=size) for size in range(18, 29)}
    masks = torch.empty(len(labels), 1, SIDE, SIDE, dtype=torch.uint8)
    for i, digit in enumerate(labels):
        canvas = Image.new("L", (SIDE, SIDE), 0)
        centre = (SIDE / 2 + rng.uniform(-3, 3), SIDE / 2 + rng.uniform(-2, 2))
        ImageDraw.Draw(canvas).text(centre, str(digit), fill=255, font=fonts[rng.randint(18, 28)], anchor="mm")
        canvas = canvas.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BILINEAR, center=centre)
        masks[i, 0] = torch.frombuffer(bytearray(canvas.tobytes()), dtype=torch.uint8).view(SIDE, SIDE)
    return masks.float() / 255.0


def make_digits(count: int, seed: int) -> Images:
    """`count` labelled digit images, identical for identical `seed`."""
    rng = random.Random(seed)
    torch_rng = torch.Generator().manual_seed(seed)
    labels = [rng.randrange(10) for _ in range(count)]
    masks = glyph_masks(labels, rng)

    # Background: a vertical gradient between two nearby colours; digit: a colour far from it.
    base = torch.rand(count, 3, 1, 1, generator=torch_rng)
    shift = (torch.rand(count, 3, 1, 1, generator=torch_rng) - 0.5) * 0.3
    ramp = torch.linspace(0, 1, SIDE).view(1, 1, SIDE, 1)
    background = (base + shift * ramp).clamp(0, 1)
    ink = torch.where(base.mean(1, keepdim=True) > 0.5, base * 0.25, 0.6 + base * 0.4)
    ink = (ink + (torch.rand(count, 3, 1, 1, generator=torch_rng) - 0.5) * 0.3).clamp(0, 1)
    noise = torch.randn(count, 1, SIDE, SIDE, generator=torch_rng) * 0.02
    pixels = (background * (1 - masks) + ink * masks + noise).clamp(0, 1)
    return Images((pixels * 255).round().to(torch.uint8), torch.tensor(labels, dtype=torch.uint8))


class SyntheticDigits(DatasetSource):
    native_shape = ImageShape(3, SIDE, SIDE)
    labelled = True
    class_names = tuple(str(digit) for digit in range(10))
    splits = tuple(SPLIT_SIZES)
    description = "procedural house-number digits, generated locally (no download)"

    def load(self, request: DataRequest) -> Images:
        return make_digits(SPLIT_SIZES[request.split], SPLIT_SEEDS[request.split])


synthetic = SyntheticDigits()
