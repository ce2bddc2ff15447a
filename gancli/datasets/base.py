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
    """A decoded dataset: uint8 images (N, C, H, W) and, where the dataset has them, integer
    labels (N,) in [0, K) and the names of the K classes."""

    pixels: torch.Tensor
    labels: torch.Tensor | None = None
    classes: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.pixels.dtype != torch.uint8 or self.pixels.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.pixels.dtype} {tuple(self.pixels.shape)}")
        if self.labels is not None:
            if self.labels.shape != (self.pixels.shape[0],) or self.labels.is_floating_point():
                raise ValueError(f"labels must be integers, one per image, got {self.labels.dtype} "
                                 f"{tuple(self.labels.shape)} for {self.pixels.shape[0]} images")
            if self.classes is not None and len(self.labels) and int(self.labels.max()) >= len(self.classes):
                raise ValueError(f"label {int(self.labels.max())} has no name among {len(self.classes)} classes")

    def named(self, classes: tuple[str, ...]) -> "Images":
        """The same images, their classes called `classes` unless they have names already."""
        if self.labels is None or self.classes is not None:
            return self
        return Images(self.pixels, self.labels, tuple(classes))

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
    #: True when `load` returns a class label per image (`Images.labels`); the folder dataset
    #: has labels only when its images sit in one subfolder per class.
    labelled: bool = False
    #: The classes' names, label 0 first, when they are fixed; otherwise `load` names them
    #: (`Images.classes`), or they are the label numbers.
    class_names: tuple[str, ...] = ()

    def files_present(self, root: Path, split: str) -> bool:
        """Whether loading `split` from `root` needs no download."""
        return True

    @abstractmethod
    def load(self, request: DataRequest) -> Images:
        """Decode `request.split` into memory, or raise `GancliError` saying what is missing."""
