"""The dataset contract: what a built-in or plugin dataset provides to gancli.

A dataset is a `DatasetSource` instance published under the entry-point group
`gancli.datasets`. It decodes its images once into one uint8 tensor (N, C, H, W); gancli does
the rest (resizing on request, scaling to [-1, 1], batching on the training device).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from gancli.core.shapes import ImageShape


@dataclass(frozen=True)
class DataRequest:
    """Where and what to load."""

    root: Path
    split: str
    download: bool = False
    image_size: int | None = None               # for sources that must resize while decoding
    notify: Callable[[str], None] | None = None    # where to tell the user what loading did


@dataclass(frozen=True)
class Images:
    """A decoded dataset: uint8 images (N, C, H, W) and, where the dataset has them, labels (N,)."""

    pixels: torch.Tensor
    labels: torch.Tensor | None = None

    def __post_init__(self):
        if self.pixels.dtype != torch.uint8 or self.pixels.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.pixels.dtype} {tuple(self.pixels.shape)}")

    @property
    def shape(self) -> ImageShape:
        return ImageShape(*self.pixels.shape[1:])

    def __len__(self) -> int:
        return self.pixels.shape[0]


class DatasetSource(ABC):
    """A named source of training images."""

    #: Shape of the images as stored, before `--image-size` / `--channels`.
    native_shape: ImageShape
    splits: tuple[str, ...] = ("train",)
    default_split: str = "train"
    description: str = ""
    #: True when `--data-root` is the dataset itself rather than a shared folder of datasets.
    root_is_dataset: bool = False
    #: True when `load` returns a class label per image (`Images.labels`).
    labelled: bool = False

    def files_present(self, root: Path, split: str) -> bool:
        """Whether loading `split` from `root` needs no download."""
        return True

    @abstractmethod
    def load(self, request: DataRequest) -> Images:
        """Decode `request.split` into memory, or raise `GancliError` saying what is missing."""
