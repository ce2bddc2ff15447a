"""`mnist` and `fashion-mnist`: 28x28 grayscale, from the official IDX files, read by torchvision.

Files sit where torchvision's `MNIST` / `FashionMNIST` keep them: `<root>/MNIST/raw/` and
`<root>/FashionMNIST/raw/`, decompressed beside their `.gz`. A split needs only its own two
files, so torchvision's IDX readers are called per split (its dataset class wants all four).
"""

from __future__ import annotations

from pathlib import Path

from torchvision.datasets import MNIST, FashionMNIST
from torchvision.datasets.mnist import read_image_file, read_label_file

from gancli.core.shapes import ImageShape
from gancli.datasets.base import Images
from gancli.datasets.files import FileDataset, Resource

PREFIXES = {"train": "train", "test": "t10k"}


class IDXDigits(FileDataset):
    native_shape = ImageShape(1, 28, 28)
    labelled = True
    splits = ("train", "test")
    reader: type[MNIST] = MNIST

    def raw_folder(self) -> str:
        return f"{self.reader.__name__}/raw"

    def resources(self, split: str) -> list[Resource]:
        md5s = dict(self.reader.resources)
        found = []
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{PREFIXES[split]}-{kind}-ubyte"
            found.append(Resource(f"{self.raw_folder()}/{name}", self.reader.mirrors[0] + name + ".gz",
                                  md5s[name + ".gz"], archive=f"{self.raw_folder()}/{name}.gz"))
        return found

    def decode(self, root: Path, split: str) -> Images:
        images_file, labels_file = (str(root / r.path) for r in self.resources(split))
        pixels = read_image_file(images_file).unsqueeze(1)  # N x 1 x 28 x 28
        return Images(pixels.contiguous(), read_label_file(labels_file).to(dtype=pixels.dtype))


class MNISTDigits(IDXDigits):
    name = "mnist"
    homepage = "http://yann.lecun.com/exdb/mnist/"
    description = "handwritten digits 0-9 (60,000 train, 10,000 test)"
    class_names = tuple(str(digit) for digit in range(10))


class FashionArticles(IDXDigits):
    name = "fashion-mnist"
    homepage = "https://github.com/zalandoresearch/fashion-mnist"
    description = "Zalando clothing articles, 10 classes (60,000 train, 10,000 test)"
    reader = FashionMNIST
    class_names = tuple(FashionMNIST.classes)  # T-shirt/top, Trouser, ..., Ankle boot


mnist = MNISTDigits()
fashion_mnist = FashionArticles()
