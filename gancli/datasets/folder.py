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

import os
from pathlib import Path
from typing import Iterator

import torch
from PIL import Image

from gancli.core.shapes import ImageShape
from gancli.datasets.base import DataRequest, DatasetSource, Images
from gancli.datasets.cache import CACHE_FOLDER, cached_decode, source_key
from gancli.datasets.files import quiet
from gancli.datasets.fitting import MAX_ASPECT, MAX_PIXELS, fit_picture, refusal
from gancli.errors import GancliError

DEFAULT_SIZE = 64


def visible_entries(root: Path) -> Iterator[os.DirEntry]:
    """Every entry under `root` but hidden files and folders, walked without following links to
    folders (so a link loop is never walked); a folder that cannot be listed is passed over."""
    folders = [root]
    while folders:
        try:
            with os.scandir(folders.pop()) as entries:
                listed = list(entries)
        except OSError:
            continue
        for entry in listed:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
            except OSError:
                continue
            yield entry


def candidate_files(root: Path) -> list[Path]:
    """Every regular file under `root`, sorted, as `visible_entries` walks them; links to files count."""
    found: list[Path] = []
    for entry in visible_entries(root):
        try:
            if not entry.is_dir(follow_symlinks=False) and entry.is_file():
                found.append(Path(entry.path))
        except OSError:  # a link that loops
            pass
    return sorted(found)


def read_square(path: Path, size: int) -> torch.Tensor:
    """One image as uint8 (3, size, size): shorter side resized to `size`, then centre cropped."""
    with Image.open(path) as image:  # reads the header only
        problem = refusal(*image.size)
        if problem is not None:
            raise ValueError(f"{path}: {problem}")
        pixels = torch.frombuffer(bytearray(fit_picture(image, size).tobytes()), dtype=torch.uint8)
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
            except Exception:  # each of Pillow's decoders fails in its own way on a damaged file
                skipped += 1
        if skipped:
            what = ("1 file that is unreadable, not an image," if skipped == 1
                    else f"{skipped} files that are unreadable, not images,")
            notify(f"folder {root}: skipped {what} or too large or thin (over {MAX_PIXELS // 2**20} megapixels "
                   f"or {MAX_ASPECT}:1); gancli datasets check {root} lists them")
        if not images:
            raise GancliError(f"dataset 'folder': no readable images in {root} (searched recursively; "
                              f"{len(files)} file{'s' if len(files) != 1 else ''} found, none an image Pillow can read)")
        labels, classes = class_labels(root, kept)
        stray = [path for path in kept if path.parent == root]
        if stray and len(stray) < len(kept):
            notify(f"folder {root}: unlabelled, because {describe_stray(root, stray)}")
        return Images(torch.stack(images), labels, classes)


def class_labels(root: Path, files: list[Path]) -> tuple[torch.Tensor | None, tuple[str, ...] | None]:
    """(labels, class names) by top-level subfolder, or (None, None) when any file is in the root."""
    folders = [path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else None
               for path in files]
    if None in folders:
        return None, None
    names = tuple(sorted(set(folders)))
    index = {name: label for label, name in enumerate(names)}
    return torch.tensor([index[folder] for folder in folders], dtype=torch.int64), names


def top_level_images(root: Path) -> list[Path]:
    """The files directly in `root` that Pillow recognises as images (from their headers): any
    one of them makes the folder unlabelled."""
    found = []
    for path in candidate_files(root):
        if path.parent != root:
            continue
        try:
            with Image.open(path) as image:
                if refusal(*image.size) is None:
                    found.append(path)
        except Exception:  # not an image: skipped by training, so it takes no labels away
            pass
    return found


def describe_stray(root: Path, stray: list[Path]) -> str:
    """Which images outside any class subfolder took the labels away, in words."""
    names = ", ".join(path.name for path in stray[:3]) + (", ..." if len(stray) > 3 else "")
    if len(stray) == 1:
        return f"{names} sits in {root} itself, outside the class subfolders"
    return f"{len(stray)} images sit in {root} itself, outside the class subfolders ({names})"


def unlabelled_reason(root: Path) -> str:
    """Why the folder `root` has no class labels: the images at its top, or no subfolders at all."""
    stray = top_level_images(root) if root.is_dir() else []
    subfolders = root.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir())
    if stray and subfolders:
        them = "them" if len(stray) > 1 else "it"
        return f"{describe_stray(root, stray)}; move {them} into one or delete {them}"
    return "its images are not in class subfolders"


folder = ImageDirectory()
