"""A conformance kit for dataset authors: `check_dataset(name, root=...)` in a package's tests.

    from gancli.testing import check_dataset

    def test_my_dataset_conforms(tmp_path):
        write_my_files(tmp_path)                     # or nothing, for a procedural dataset
        check_dataset("mydata", root=tmp_path)

It finds the dataset through the registry, as `gancli train --data` does, loads each split with
downloads off and the network blocked, and checks the contract: uint8 images (N, C, H, W) of the
declared native shape, a label per image when the dataset declares `labelled`, the same images
for the same split every time, `--image-size` and `--channels` requests honoured by gancli's
loading, and nothing written under the root but gancli's cache folder. A broken promise raises
`ConformanceError` saying which.
"""

from __future__ import annotations

import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import torch

from gancli.datasets import DataRequest, DatasetSource, Images, datasets
from gancli.datasets.cache import CACHE_FOLDER
from gancli.datasets.loading import load_images
from gancli.errors import GancliError
from gancli.testing.conformance import ConformanceError, expect


@contextmanager
def no_network() -> Iterator[None]:
    """Every connection attempt in the block fails as a broken promise."""
    def refuse(*args, **kwargs):
        raise ConformanceError("the dataset reached for the network with downloads off")

    saved = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
    socket.socket.connect = socket.socket.connect_ex = refuse
    socket.getaddrinfo = refuse
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = saved


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` but gancli's cache, with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and CACHE_FOLDER not in p.relative_to(root).parts}


def check_images(dataset: DatasetSource, images: Images, where: str) -> None:
    expect(isinstance(images, Images), f"load must return gancli.datasets.Images, got {type(images).__name__} ({where})")
    pixels = images.pixels
    expect(pixels.dtype == torch.uint8 and pixels.dim() == 4 and len(images) > 0,
           f"images must be uint8 (N, C, H, W) with N > 0, got {pixels.dtype} {tuple(pixels.shape)} ({where})")
    expect(tuple(pixels.shape[1:]) == dataset.native_shape.as_tuple(),
           f"images are {tuple(pixels.shape[1:])}, the dataset declares native_shape "
           f"{dataset.native_shape.as_tuple()} ({where})")
    if dataset.labelled:
        labels = images.labels
        expect(labels is not None and labels.dim() == 1 and labels.shape[0] == len(images)
               and not labels.is_floating_point(),
               f"a labelled dataset gives one integer label per image ({where})")
        count = len(images.classes or dataset.class_names) or int(labels.max()) + 1
        low, high = int(labels.min()), int(labels.max())
        expect(0 <= low and high < count,
               f"labels must lie in 0..{count - 1} for the {count} classes; got {low}..{high} ({where})")


def check_dataset(name: str, *, root: Path | None = None, splits: Iterable[str] | None = None,
                  image_sizes: Iterable[int] = (16,)) -> None:
    """Check that dataset `name` (or `package:name`) keeps gancli's contract, reading its files
    from `root` (a temporary empty folder by default, for a procedural dataset)."""
    dataset = datasets.get(name)
    expect(isinstance(dataset.native_shape.channels, int) and dataset.native_shape.channels in (1, 3),
           f"native_shape must have 1 or 3 channels, got {dataset.native_shape}")
    expect(dataset.default_split in dataset.splits,
           f"default_split {dataset.default_split!r} is not one of splits {dataset.splits}")
    if root is None:
        with tempfile.TemporaryDirectory(prefix="gancli-check-") as tmp:
            return check_dataset(name, root=Path(tmp), splits=splits, image_sizes=image_sizes)
    root = Path(root)
    before = _files(root)
    for split in splits or dataset.splits:
        where = f"split {split!r}"
        with no_network():
            try:
                first = dataset.load(DataRequest(root=root, split=split, download=False))
                again = dataset.load(DataRequest(root=root, split=split, download=False))
            except GancliError as err:
                raise ConformanceError(f"loading {where} from {root} failed: {err}") from None
            check_images(dataset, first, where)
            expect(torch.equal(first.pixels, again.pixels) and (
                first.labels is None or torch.equal(first.labels, again.labels)),
                f"{where} gave different images on a second load: a split must be the same every time")
            for size in image_sizes:
                for channels in (1, 3):
                    sized = load_images(name, split, root, False, size, channels)
                    expect(tuple(sized.pixels.shape[1:]) == (channels, size, size),
                           f"--image-size {size} --channels {channels} gave {tuple(sized.pixels.shape[1:])} ({where})")
    expect(_files(root) == before, f"loading wrote or changed files under {root} outside {CACHE_FOLDER}/: "
                                   f"a dataset writes only to its cache folder when downloads are off")
