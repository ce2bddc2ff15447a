"""`pack`: images decoded once into one safetensors file, read back in a blink: `--data NAME.safetensors`.

A pack holds `pixels`, uint8 (N, C, S, S), `labels` (N,) int64 when its source had classes, and
under the metadata key `gancli.pack` a JSON object saying what made it: the source (a folder's
path, file count and the sha256 over its files' names and bytes, or a dataset's name and split),
the size, how each image was made square, the class names, and a sha256 of the pixels that
`gancli datasets check` verifies. Reading checks the metadata against the tensors before any
pixel is read, so a truncated file or one whose metadata was altered is one clear error, never a
huge allocation or a label past the classes. `packing.py` writes packs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from gancli.core.shapes import ImageShape
from gancli.datasets.base import DataRequest, DatasetSource, Images
from gancli.errors import GancliError

SUFFIX = ".safetensors"
META_KEY = "gancli.pack"
FORMAT = 1
DTYPES = {"pixels": "U8", "labels": "I64"}


class PackError(GancliError):
    """A pack that is missing, damaged, altered, or not a pack at all."""


@dataclass(frozen=True)
class PackInfo:
    """What a pack's metadata says about it."""

    count: int
    shape: ImageShape
    classes: tuple[str, ...] | None
    fit: str
    method: str
    source: dict[str, Any]
    pixels_sha256: str
    made_by: str
    created: str

    @classmethod
    def parse(cls, text: str | None, path: Path) -> "PackInfo":
        if text is None:
            raise PackError(f"{path} is not a gancli pack (its metadata has no {META_KEY}); "
                            f"make one with gancli datasets pack")
        try:
            meta = json.loads(text)
            if meta.get("format") != FORMAT:
                raise PackError(f"pack {path} has format {meta.get('format')!r}; this gancli reads format {FORMAT}")
            count, shape = meta["count"], meta["shape"]
            classes = meta.get("classes")
            if not (isinstance(count, int) and count >= 0 and isinstance(shape, list) and len(shape) == 3
                    and all(isinstance(v, int) and v > 0 for v in shape) and shape[0] in (1, 3)
                    and (classes is None or (isinstance(classes, list) and all(isinstance(c, str) for c in classes)))):
                raise ValueError("count, shape or classes of the wrong kind")
            return cls(count, ImageShape(*shape), tuple(classes) if classes is not None else None,
                       str(meta["fit"]), str(meta["method"]), dict(meta["source"]), str(meta["pixels_sha256"]),
                       str(meta["made_by"]), str(meta["created"]))
        except PackError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise PackError(f"pack {path} has invalid {META_KEY} metadata ({type(err).__name__}: {err})") from None

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "count": self.count, "shape": list(self.shape.as_tuple()),
                "classes": list(self.classes) if self.classes is not None else None, "fit": self.fit,
                "method": self.method, "source": self.source, "pixels_sha256": self.pixels_sha256,
                "made_by": self.made_by, "created": self.created}


def pixels_sha256(pixels: torch.Tensor) -> str:
    return hashlib.sha256(pixels.contiguous().numpy().tobytes()).hexdigest()


def is_pack_name(data: str) -> bool:
    """Whether a `--data` value names a pack file (by its suffix)."""
    return data.endswith(SUFFIX)


def read_pack_info(path: Path) -> tuple[PackInfo, dict[str, tuple[str, list[int]]]]:
    """The pack's metadata and its tensors' (dtype, shape), from the header alone."""
    if path.is_symlink() and not path.exists():
        raise PackError(f"pack {path} is a link that loops or leads nowhere")
    if not path.is_file():
        raise PackError(f"pack {path}: no such file" + (" (it is a folder: use --data folder:PATH)"
                                                         if path.is_dir() else ""))
    try:
        with safe_open(str(path), framework="pt") as handle:
            text = (handle.metadata() or {}).get(META_KEY)
            tensors = {name: (handle.get_slice(name).get_dtype(), list(handle.get_slice(name).get_shape()))
                       for name in handle.keys()}
    except PackError:
        raise
    except Exception as err:  # safetensors raises its own error for each kind of damage
        raise PackError(f"pack {path} is damaged or not a safetensors file ({' '.join(str(err).split())})") from None
    return PackInfo.parse(text, path), tensors


def check_tensors(info: PackInfo, tensors: dict[str, tuple[str, list[int]]], path: Path) -> None:
    """Refuse a pack whose tensors are not what its metadata says (count, shape, dtype, labels)."""
    wanted = {"pixels": [info.count, *info.shape.as_tuple()]}
    if info.classes is not None:
        wanted["labels"] = [info.count]
    if set(tensors) != set(wanted):
        raise PackError(f"pack {path} holds tensors {', '.join(sorted(tensors)) or 'none'}; "
                        f"its metadata says {', '.join(sorted(wanted))}")
    for name, shape in wanted.items():
        dtype, found = tensors[name]
        if found[:1] != shape[:1] and found[1:] == shape[1:] and dtype == DTYPES[name]:
            raise PackError(f"pack {path} claims {info.count:,} images but holds {found[0]:,}; "
                            f"it was altered or damaged: make it again with gancli datasets pack")
        if (dtype, found) != (DTYPES[name], shape):
            raise PackError(f"pack {path}: {name} is {dtype} {found}, its metadata says {DTYPES[name]} {shape}")


def read_pack(path: Path) -> tuple[Images, PackInfo]:
    """The images of the pack at `path`, checked against its metadata; `PackError` if anything is off."""
    info, tensors = read_pack_info(path)
    check_tensors(info, tensors, path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            pixels = handle.get_tensor("pixels")
            labels = handle.get_tensor("labels") if info.classes is not None else None
    except Exception as err:  # the file changed or was cut after its header was read
        raise PackError(f"pack {path} is damaged ({' '.join(str(err).split())})") from None
    if labels is not None and len(labels):
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= len(info.classes):
            raise PackError(f"pack {path} gives label {low if low < 0 else high}, outside 0..{len(info.classes) - 1} "
                            f"for its {len(info.classes)} classes; it was altered or damaged")
    return Images(pixels, labels, info.classes), info


def find_pack(data: str, data_root: Path | None) -> Path:
    """The file a `--data NAME.safetensors` value names: the path as given, else the file of
    that name in the data root (where `gancli datasets` lists packs)."""
    path = Path(data).expanduser()
    if not path.exists() and not path.is_symlink() and data_root is not None and (data_root / path).exists():
        return data_root / path
    return path


def packs_in(folder: Path) -> list[Path]:
    """The pack files directly in `folder` (by suffix; their headers are read later)."""
    try:
        return sorted(p for p in folder.iterdir() if p.name.endswith(SUFFIX) and not p.name.startswith("."))
    except OSError:
        return []


class PackedImages(DatasetSource):
    """A pack file: the request's root is the file itself."""

    name = "pack"
    native_shape = ImageShape(3, 32, 32)  # a pack's own shape is in its file; this is the usual one
    description = "images decoded once by gancli datasets pack, at the size packed: --data NAME.safetensors"
    root_is_dataset = True

    def files_present(self, root: Path, split: str) -> bool:
        return root.is_file()

    def load(self, request: DataRequest) -> Images:
        images, info = read_pack(request.root)
        if request.notify is not None:
            request.notify(f"pack {request.root}: {len(images):,} images {info.shape}"
                           + (f", {len(info.classes)} classes" if info.classes else "") + f" ({info.method})")
        return images


pack = PackedImages()
