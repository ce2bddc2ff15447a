"""`folder`: every image under a directory (recursively, so an `ImageFolder` layout works too).

When every image sits in a subfolder of the root (`ROOT/cat/1.jpg`, `ROOT/dog/2.png`), as in
torchvision's `ImageFolder`, each top-level subfolder is a class, named after it, in sorted order;
with any image directly in the root the dataset is unlabelled. Images are made RGB, resized so
the shorter side is `--image-size` (default 64) and centre cropped. Files Pillow cannot read (corrupt, or not images at all) are skipped and counted, and so
are images too large or too thin to resize within bounded memory, told from the file's header
before any pixel is decoded.
The decoded tensor is cached in `<folder>/.gancli-cache/`, keyed by every file's size and mtime.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from gancli.core.shapes import ImageShape
from gancli.datasets.base import DataRequest, DatasetSource, Images
from gancli.datasets.cache import CACHE_FOLDER, cached_decode, source_key
from gancli.datasets.files import quiet
from gancli.errors import GancliError

DEFAULT_SIZE = 64
MAX_PIXELS = 64 * 2**20   # a 64-megapixel photo decodes to 192 MiB of RGB; larger files are skipped
MAX_ASPECT = 8            # a thinner image would be resized to many times the crop it gives


def candidate_files(root: Path) -> list[Path]:
    """Every regular file under `root`, sorted, skipping hidden files and folders."""
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def read_square(path: Path, size: int) -> torch.Tensor:
    """One image as uint8 (3, size, size): shorter side resized to `size`, then centre cropped."""
    with Image.open(path) as image:  # reads the header only
        width, height = image.size
        if width * height > MAX_PIXELS or max(width, height) > MAX_ASPECT * min(width, height):
            raise ValueError(f"{path}: {width}x{height} is too large or too thin to use")
        image = image.convert("RGB")
        scale = size / min(image.size)
        width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
        image = image.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=3.0)
        left, top = (width - size) // 2, (height - size) // 2
        image = image.crop((left, top, left + size, top + size))
        pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return pixels.view(size, size, 3).permute(2, 0, 1)


class ImageDirectory(DatasetSource):
    name = "folder"
    native_shape = ImageShape(3, DEFAULT_SIZE, DEFAULT_SIZE)
    description = "your own images, any size: --data folder:PATH"
    root_is_dataset = True

    def files_present(self, root: Path, split: str) -> bool:
        return root.is_dir() and any(candidate_files(root))

    def load(self, request: DataRequest) -> Images:
        root, size, notify = request.root, request.image_size or DEFAULT_SIZE, request.notify or quiet
        if not root.is_dir():
            raise GancliError(f"dataset 'folder': {root} is not a folder (give it as --data folder:PATH)")
        files = candidate_files(root)
        cache = root / CACHE_FOLDER / f"folder-{size}.safetensors"
        return cached_decode(cache, source_key(files, extra=str(size)),
                             lambda: self.decode(root, files, size, notify), f"folder {root}", notify)

    def decode(self, root: Path, files: list[Path], size: int, notify) -> Images:
        images, kept, skipped = [], [], 0
        for path in files:
            try:
                images.append(read_square(path, size))
                kept.append(path)
            except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
                skipped += 1
        if skipped:
            notify(f"folder {root}: skipped {skipped} file{'s' if skipped != 1 else ''} that are unreadable, "
                   f"not images, or too large or thin (over {MAX_PIXELS // 2**20} megapixels or {MAX_ASPECT}:1)")
        if not images:
            raise GancliError(f"dataset 'folder': no readable images in {root} (searched recursively; "
                              f"{len(files)} file{'s' if len(files) != 1 else ''} found, none an image Pillow can read)")
        return Images(torch.stack(images), *class_labels(root, kept))


def class_labels(root: Path, files: list[Path]) -> tuple[torch.Tensor | None, tuple[str, ...] | None]:
    """(labels, class names) by top-level subfolder, or (None, None) when any file is in the root."""
    folders = [path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else None
               for path in files]
    if None in folders:
        return None, None
    names = tuple(sorted(set(folders)))
    index = {name: label for label, name in enumerate(names)}
    return torch.tensor([index[folder] for folder in folders], dtype=torch.int64), names


folder = ImageDirectory()
