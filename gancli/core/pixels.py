"""Pixels in and out: [-1, 1] floats to uint8, and image grids written as PNG."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from gancli.core.files import write_file


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] as uint8, rounded exactly as a saved PNG holds it."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_unit_range(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels as floats in [-1, 1], the range of the generator's tanh."""
    return pixels.float().div_(127.5).sub_(1.0)


def grid_pixels(pixels: torch.Tensor, nrow: int | None = None, padding: int = 2) -> torch.Tensor:
    """uint8 images (N, C, H, W) tiled into one uint8 image (C, H', W'), `nrow` images a row."""
    from torchvision.utils import make_grid  # here, not above: importing torchvision costs every command ~2 s

    nrow = nrow or max(1, int(round(pixels.shape[0] ** 0.5)))
    return make_grid(pixels.cpu(), nrow=nrow, padding=padding, pad_value=0)


def grid_image(pixels: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """uint8 images (N, C, H, W) tiled into one PIL image, `nrow` images a row."""
    grid = grid_pixels(pixels, nrow, padding)
    array = grid.permute(1, 2, 0).contiguous().numpy()
    if pixels.shape[1] == 1:
        return Image.fromarray(array[:, :, 0])
    return Image.fromarray(array)


def save_grid(pixels: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    image = grid_image(pixels, nrow)
    write_file(path, lambda tmp: image.save(tmp, format="PNG"))
