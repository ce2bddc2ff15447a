"""`cifar10`: 32x32 RGB photos in 10 classes, from the official python batches, read by torchvision.

Files sit where torchvision's `CIFAR10` keeps them: `<root>/cifar-10-batches-py/`. The batches
are pickles by upstream's choice; torchvision's reader is the one place gancli lets pickle in.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.datasets import CIFAR10

from gancli.core.shapes import ImageShape
from gancli.datasets.base import Images
from gancli.datasets.files import FileDataset, Resource


class LocalCIFAR10(CIFAR10):
    """torchvision's reader; files found locally are taken as they are, only downloads are md5-checked."""

    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, "md5": None}


class CIFAR10Photos(FileDataset):
    name = "cifar10"
    labelled = True
    homepage = "https://www.cs.toronto.edu/~kriz/cifar.html"
    description = "photos of 10 object classes (50,000 train, 10,000 test)"
    native_shape = ImageShape(3, 32, 32)
    splits = ("train", "test")
    class_names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

    def resources(self, split: str) -> list[Resource]:
        # torchvision's reader checks every batch and the meta file, whichever split is read.
        names = [n for n, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
        return [Resource(f"{CIFAR10.base_folder}/{name}", CIFAR10.url, CIFAR10.tgz_md5, archive=CIFAR10.filename)
                for name in names]

    def decode(self, root: Path, split: str) -> Images:
        reader = LocalCIFAR10(str(root), train=split == "train")
        pixels = torch.from_numpy(reader.data).permute(0, 3, 1, 2).contiguous()  # N x 3 x 32 x 32
        return Images(pixels, torch.tensor(reader.targets, dtype=torch.uint8))


cifar10 = CIFAR10Photos()
