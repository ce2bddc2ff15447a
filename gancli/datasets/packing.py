"""Making a pack: a folder's files, or a dataset's images, decoded once, made square at one size
and written as one safetensors file (`pack.py` says what it holds).

A folder's images are made square as the folder dataset makes them (Pillow, bicubic; `--fit crop`
gives the very pixels `--data folder:PATH` trains on at that size) and keep one channel when every
image is grayscale. A dataset's are resized as `--image-size` resizes them for training. The file
appears under its name only once complete; nothing else is written, not even the folder's cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import save_file

from gancli import __version__
from gancli.core.files import write_file
from gancli.core.shapes import ImageShape
from gancli.datasets.base import Images
from gancli.datasets.fitting import FITS, method
from gancli.datasets.folder import candidate_files, class_labels
from gancli.datasets.loading import available_memory, conform, folder_named, load_images, parse_data, resolve_split
from gancli.datasets.pack import META_KEY, SUFFIX, PackInfo, pixels_sha256
from gancli.datasets.scan import GRAYSCALE_MODES, Fitting, scan
from gancli.errors import ConfigError, GancliError

Progress = Callable[[int, int], None]


@dataclass
class PackResult:
    path: Path
    info: PackInfo
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"path", "why"}, a folder's


def check_request(out: Path, size: int, fit: str, channels: int | None) -> None:
    if not str(out).endswith(SUFFIX):
        raise ConfigError(f"-o: a pack's file name ends in {SUFFIX}, so that --data knows it; got {out}")
    if out.is_dir():
        raise ConfigError(f"-o: {out} is a folder; name the pack's file, e.g. {out / ('images' + SUFFIX)}")
    if not 4 <= size <= 4096:
        raise ConfigError(f"--size must be between 4 and 4096 pixels, got {size}")
    if fit not in FITS:
        raise ConfigError(f"--fit must be one of {', '.join(FITS)}, got {fit!r}")
    if channels not in (None, 1, 3):
        raise ConfigError(f"--channels must be 1 or 3, got {channels}")


def check_memory(count: int, depth: int, size: int) -> None:
    needed, available = count * depth * size * size, available_memory()
    if available is not None and needed > available:
        raise GancliError(f"{count:,} images at {size}x{size} need {needed / 2**30:,.1f} GiB, more than the "
                          f"{available / 2**30:,.1f} GiB of memory available; choose a smaller --size")


def make_pack(source: str, out: Path, size: int, fit: str = "crop", channels: int | None = None,
              split: str | None = None, data_root: Path | None = None, workers: int | None = None,
              progress: Progress | None = None, notify: Callable[[str], None] | None = None) -> PackResult:
    """Pack `source` (a folder, `folder:PATH`, or a dataset's name) into `out` at `size` x `size`."""
    out = Path(out).expanduser()
    check_request(out, size, fit, channels)
    folder = folder_named(source)
    if folder is not None:
        images, info, skipped = folder_images(folder, size, fit, channels, workers, progress)
    else:
        images, info = dataset_images(source, split, data_root, size, fit, channels, notify)
        skipped = []
    tensors = {"pixels": images.pixels.contiguous()}
    if images.labels is not None:
        tensors["labels"] = images.labels.to(torch.int64).contiguous()

    def write(tmp: Path) -> None:
        try:
            save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(info.as_dict())})
        except SafetensorError as err:  # the disk filled or the file could not be written
            raise OSError(" ".join(str(err).split())) from None

    write_file(out, write)
    return PackResult(out, info, skipped)


def describe(pixels: torch.Tensor, classes, fit: str, how: str, source: dict) -> PackInfo:
    return PackInfo(pixels.shape[0], ImageShape(*pixels.shape[1:]), tuple(classes) if classes is not None else None,
                    fit, how, source, pixels_sha256(pixels), f"gancli {__version__}",
                    datetime.now(timezone.utc).isoformat(timespec="seconds"))


def folder_images(root: Path, size: int, fit: str, channels: int | None, workers: int | None,
                  progress: Progress | None) -> tuple[Images, PackInfo, list[dict[str, str]]]:
    """Every readable image under `root`, made square as the folder dataset makes them."""
    if root.is_symlink() and not root.exists():
        raise GancliError(f"{root} is a link that loops or leads nowhere")
    if not root.is_dir():
        raise GancliError(f"{root} is not a folder")
    files = candidate_files(root)
    if not files:
        raise GancliError(f"{root} holds no files (hidden ones aside): there is nothing to pack")
    depth = 1 if channels == 1 else 3
    check_memory(len(files), depth, size)
    pixels = torch.empty(len(files), depth, size, size, dtype=torch.uint8)
    kept: list[Path] = []
    skipped: list[dict[str, str]] = []
    modes: set[str] = set()
    digest = hashlib.sha256()
    fitting = Fitting(size, fit, "L" if channels == 1 else "RGB")
    for done, record in enumerate(scan(root, files, fitting, workers), start=1):
        if record.used:
            image = torch.frombuffer(bytearray(record.pixels), dtype=torch.uint8).view(size, size, depth)
            pixels[len(kept)] = image.permute(2, 0, 1)
            kept.append(root / record.path)
            modes.add(record.mode or "")
            digest.update(f"{record.path}\0{record.file_digest}\n".encode())
        else:
            skipped.append({"path": record.path, "why": record.problem or ""})
        if progress is not None and (done % 1024 == 0 or done == len(files)):
            progress(done, len(files))
    if not kept:
        raise GancliError(f"no readable images in {root}: {len(files)} file{'s' if len(files) != 1 else ''}, "
                          f"none an image training could use (gancli datasets check {root} says why)")
    pixels = pixels[:len(kept)]
    if channels is None and modes <= GRAYSCALE_MODES:  # gray made RGB repeats one channel: keep it alone
        pixels = pixels[:, :1]
    pixels = pixels.contiguous()
    labels, classes = class_labels(root, kept)
    source = {"kind": "folder", "path": str(root.resolve()), "files": len(files), "images": len(kept),
              "skipped": len(skipped), "sha256": digest.hexdigest(),
              "hashed": "sha256 over each image file's path in the folder and the sha256 of its bytes"}
    how = method(size, fit) + (", one channel: every image is grayscale" if pixels.shape[1] == 1 else "")
    return Images(pixels, labels, classes), describe(pixels, classes, fit, how, source), skipped


def dataset_images(data: str, split: str | None, data_root: Path | None, size: int, fit: str,
                   channels: int | None, notify) -> tuple[Images, PackInfo]:
    """A dataset's images (its files already on disk), resized as training resizes them."""
    from gancli.datasets import datasets

    name, _ = parse_data(data, str(data_root) if data_root else None)
    split = resolve_split(datasets.get(name), name, split)
    images = load_images(data, split, data_root, download=False, channels=channels, notify=notify)
    check_memory(len(images), images.pixels.shape[1], size)
    source = {"kind": "dataset", "name": data, "split": split, "images": len(images),
              "sha256": pixels_sha256(images.pixels), "hashed": "sha256 of the decoded uint8 (N, C, H, W) pixels"}
    if fit == "crop":
        fitted = conform(images, None, size)
        how = f"shorter side resized to {size} (bilinear, antialiased), centre {size}x{size} kept"
    else:
        fitted = Images(pad_square(images.pixels, size), images.labels, images.classes)
        how = f"longer side resized to {size} (bilinear, antialiased), centred on black {size}x{size}"
    if tuple(images.pixels.shape[2:]) == (size, size):
        how = f"{size}x{size} as decoded, not resized"
    return fitted, describe(fitted.pixels, fitted.classes, fit, how, source)


def pad_square(pixels: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """uint8 (N, C, H, W) with the longer side resized to `size`, centred on black `size` x `size`."""
    count, depth, height, width = pixels.shape
    scale = size / max(height, width)
    inner = (min(size, max(1, round(height * scale))), min(size, max(1, round(width * scale))))
    top, left = (size - inner[0]) // 2, (size - inner[1]) // 2
    out = torch.zeros(count, depth, size, size, dtype=torch.uint8)
    for start in range(0, count, chunk):
        part = pixels[start:start + chunk]
        if inner != (height, width):
            part = F.interpolate(part.float(), size=inner, mode="bilinear", antialias=True, align_corners=False)
            part = part.round().clamp(0, 255).to(torch.uint8)
        out[start:start + chunk, :, top:top + inner[0], left:left + inner[1]] = part
    return out
