"""From data settings (name, split, root, shape) to a decoded uint8 dataset of the requested shape."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from gancli.core.files import user_cache_dir
from gancli.datasets import DataRequest, DatasetSource, Images, datasets
from gancli.datasets.folder import unlabelled_reason
from gancli.datasets.pack import find_pack, is_pack_name
from gancli.errors import ConfigError, GancliError

DATA_ENV = "GANCLI_DATA"
FOLDER_PREFIX = "folder:"


def default_data_root() -> Path:
    """`$GANCLI_DATA`, else the per-user cache folder (`$XDG_CACHE_HOME/gancli/data`)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return user_cache_dir() / "gancli" / "data"


def resolve_split(dataset: DatasetSource, name: str, split: str | None) -> str:
    split = split or dataset.default_split
    if split not in dataset.splits:
        raise ConfigError(f"split: dataset '{name}' has no split '{split}'; available: {', '.join(dataset.splits)}")
    return split


def conform(images: Images, channels: int | None, size: int | None) -> Images:
    """Convert to `channels` (1 or 3) and resize to `size` x `size` (shorter side, centre crop)."""
    pixels = images.pixels
    if channels is not None and channels != pixels.shape[1]:
        if channels == 3:
            pixels = pixels.expand(-1, 3, -1, -1).contiguous()
        else:  # ITU-R 601 luma, as PIL's convert("L")
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            pixels = (pixels.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    height, width = pixels.shape[2:]
    if size is not None and (height, width) != (size, size):
        scale = size / min(height, width)
        resized = (max(size, round(height * scale)), max(size, round(width * scale)))
        chunk_size = 4096  # bounds the float copies' memory
        count, depth = pixels.shape[:2]
        # The result, plus one chunk as floats before and after resizing.
        needed = count * depth * size * size + 4 * min(count, chunk_size) * depth * (height * width + resized[0] * resized[1])
        available = available_memory()
        if available is not None and needed > available:
            raise GancliError(f"{count:,} images at {size}x{size} need about {needed / 2**30:,.1f} GiB to prepare, "
                              f"more than the {available / 2**30:,.1f} GiB of memory available; "
                              f"choose a smaller --image-size")
        chunks = []
        for chunk in pixels.split(chunk_size):
            out = F.interpolate(chunk.float(), size=resized, mode="bilinear", antialias=True, align_corners=False)
            top, left = (resized[0] - size) // 2, (resized[1] - size) // 2
            chunks.append(out[:, :, top:top + size, left:left + size].round().clamp(0, 255).to(torch.uint8))
        pixels = torch.cat(chunks)
    return Images(pixels, images.labels, images.classes)


def available_memory() -> int | None:
    """Bytes of memory the system can still give (Linux's MemAvailable), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def parse_data(data: str, data_root: str | None) -> tuple[str, Path | None]:
    """`folder:PATH` names the folder dataset and its root in one value, `NAME.safetensors` a pack
    (as given, else in the data root); other names pass through.

    A bare folder's path is refused with the value to use instead: a name is looked up among the
    datasets, so a folder that happened to share a dataset's name could never change what a run
    (or its resume, or `eval` of its checkpoints) reads.
    """
    if data.startswith(FOLDER_PREFIX):
        return "folder", Path(data[len(FOLDER_PREFIX):]).expanduser()
    if data == "folder" and not data_root:
        raise ConfigError("data: the folder dataset needs a path: --data folder:PATH or --data-root PATH")
    if is_pack_name(data):
        return "pack", find_pack(data, Path(data_root).expanduser() if data_root else default_data_root())
    if data not in datasets.names() and Path(data).expanduser().is_dir():
        raise ConfigError(f"data: unknown dataset '{data}'; it is a folder, so give it as --data {FOLDER_PREFIX}{data}")
    return data, Path(data_root).expanduser() if data_root else None


def folder_named(source: str) -> Path | None:
    """The folder a command's PATH|NAME argument (`datasets check`, `datasets pack`) names:
    `folder:PATH`, or a path to a folder (or to a link) that is no dataset's name; else None."""
    path = Path(source.removeprefix(FOLDER_PREFIX)).expanduser()
    if source.startswith(FOLDER_PREFIX):
        return path
    if is_pack_name(source) or source in datasets.names() or not (path.is_dir() or path.is_symlink()):
        return None
    return path


def unlabelled_hint(data: str, data_root: str | None) -> str:
    """Why dataset `data` has no class labels, where gancli can say: for a folder, the images
    outside its class subfolders; empty for other datasets."""
    name, root = parse_data(data, data_root)
    if name != "folder" or root is None:
        return ""
    return f" (a folder is labelled when its images sit in one subfolder per class; {unlabelled_reason(root)})"


def check_labels(images: Images, name: str, class_names: tuple[str, ...]) -> None:
    """Refuse labels outside 0..K-1, K the classes the dataset names (else its largest label + 1):
    the one place a plugin's broken labels are caught before they index a class embedding."""
    if images.labels is None or not len(images.labels):
        return
    low, high = int(images.labels.min()), int(images.labels.max())
    count = len(images.classes or class_names) or high + 1
    if low < 0 or high >= count:
        raise GancliError(f"dataset '{name}' gives label {low if low < 0 else high}, outside 0..{count - 1} "
                          f"for its {count} classes; its labels are broken")


def load_images(data: str, split: str | None = None, data_root: str | Path | None = None, download: bool = True,
                image_size: int | None = None, channels: int | None = None,
                notify: Callable[[str], None] | None = None) -> Images:
    """Decode a dataset's split (downloading when `download` allows) at `channels` x `image_size`^2,
    each None for the dataset's own; `data` and `data_root` as `--data` and `--data-root` take them."""
    name, root = parse_data(data, str(data_root) if data_root else None)
    dataset = datasets.get(name)
    request = DataRequest(root=root or default_data_root(), split=resolve_split(dataset, name, split),
                          download=download, image_size=image_size, notify=notify)
    images = dataset.load(request)
    check_labels(images, name, dataset.class_names)
    if images.labels is not None and images.classes is None:  # named by the dataset, else by number
        count = int(images.labels.max()) + 1 if len(images.labels) else 0
        images = images.named(dataset.class_names or tuple(str(label) for label in range(count)))
    return conform(images, channels, image_size)
