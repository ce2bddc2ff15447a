"""`shapes`: one filled circle, square or triangle per 32x32 colour image, labelled by shape.

Drawn at load time from a fixed seed per split, all images at once on coordinate grids: no files,
no network, the same images every time. A small labelled dataset whose modes (three shapes, any
colour) make a collapsed generator easy to see.
"""

from __future__ import annotations

import torch

from gancli.datasets import DataRequest, DatasetSource, Images, ImageShape

SIDE = 32
CLASSES = ("circle", "square", "triangle")
SPLITS = {"train": (6000, 1), "test": (1000, 2)}  # images and seed


def draw(count: int, seed: int) -> Images:
    rng = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, len(CLASSES), (count,), generator=rng)
    radius = torch.empty(count).uniform_(5, 12, generator=rng)
    centre = torch.rand(count, 2, generator=rng) * (SIDE - 2 * radius[:, None]) + radius[:, None]
    colour = torch.rand(count, 3, generator=rng) * 0.7 + 0.3
    background = torch.rand(count, 3, generator=rng) * 0.2

    coords = torch.arange(SIDE, dtype=torch.float32) + 0.5
    y, x = coords.view(1, SIDE, 1), coords.view(1, 1, SIDE)
    dy, dx = y - centre[:, 0, None, None], x - centre[:, 1, None, None]
    r = radius[:, None, None]
    circle = dx.pow(2) + dy.pow(2) <= r.pow(2)
    square = (dx.abs() <= r * 0.8) & (dy.abs() <= r * 0.8)
    # An upright triangle: below its apex, within lines that widen downwards to the base.
    triangle = (dy >= -r) & (dy <= r * 0.6) & (dx.abs() <= (dy + r) * 0.6)
    inside = torch.stack([circle, square, triangle], 1)[torch.arange(count), labels]  # (N, H, W)

    pixels = torch.where(inside[:, None], colour[:, :, None, None], background[:, :, None, None])
    return Images((pixels * 255).round().to(torch.uint8), labels.to(torch.uint8))


class Shapes(DatasetSource):
    native_shape = ImageShape(3, SIDE, SIDE)
    splits = tuple(SPLITS)
    default_split = "train"
    labelled = True
    description = "filled circles, squares and triangles, drawn from a seed (6,000 train, 1,000 test)"

    def load(self, request: DataRequest) -> Images:
        count, seed = SPLITS[request.split]
        return draw(count, seed)


shapes = Shapes()
