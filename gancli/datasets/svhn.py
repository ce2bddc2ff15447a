"""`svhn`: Street View House Numbers, 32x32 RGB, from the official `.mat` files, read by torchvision.

Files sit where torchvision's `SVHN` keeps them: `<root>/train_32x32.mat`, `test_32x32.mat`,
`extra_32x32.mat`. `train+extra` is the two concatenated (604,388 images).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.datasets import SVHN

from gancli.core.shapes import ImageShape
from gancli.datasets.base import Images
from gancli.datasets.files import FileDataset, Resource


class LocalSVHN(SVHN):
    """torchvision's reader; a file found locally is taken as it is, only downloads are md5-checked."""

    split_list = {split: [url, filename, None] for split, (url, filename, _) in SVHN.split_list.items()}


class SVHNDigits(FileDataset):
    name = "svhn"
    homepage = "http://ufldl.stanford.edu/housenumbers/"
    description = "house-number digits from Street View (73,257 train, 26,032 test, 531,131 extra)"
    native_shape = ImageShape(3, 32, 32)
    splits = ("train", "test", "extra", "train+extra")
    labelled = True  # digits 0-9
    class_names = tuple(str(digit) for digit in range(10))

    def resources(self, split: str) -> list[Resource]:
        found = []
        for part in split.split("+"):
            url, filename, md5 = SVHN.split_list[part]
            found.append(Resource(filename, url, md5))
        return found

    def decode(self, root: Path, split: str) -> Images:
        parts = [LocalSVHN(str(root), split=part) for part in split.split("+")]
        pixels = torch.cat([torch.from_numpy(p.data) for p in parts])  # N x 3 x 32 x 32
        labels = torch.cat([torch.from_numpy(p.labels) for p in parts]).to(torch.uint8)  # 0-9
        return Images(pixels.contiguous(), labels)


svhn = SVHNDigits()
