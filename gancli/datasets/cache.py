"""The decoded-images cache: one safetensors file per dataset split, valid while its sources are unchanged.

The key is every source file's name, size and modification time; when any of them changes (or
the file was written by another cache format) the cache is ignored and rewritten. No pickle.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from gancli.core.files import atomic_path
from gancli.datasets.base import Images

CACHE_FOLDER = ".gancli-cache"
FORMAT = 2  # 2: class names kept with the labels
META_KEY = "gancli.images"


def source_key(files: list[Path], extra: str = "") -> str:
    """A digest of the files' names, sizes and modification times (plus `extra`, e.g. a size)."""
    entries = []
    for path in files:
        stat = path.stat()
        entries.append([str(path), stat.st_size, stat.st_mtime_ns])
    text = json.dumps({"format": FORMAT, "files": entries, "extra": extra})
    return hashlib.sha256(text.encode()).hexdigest()


def read_cache(path: Path, key: str) -> Images | None:
    """The cached images when `path` exists and was made from the same sources, else None."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads((handle.metadata() or {}).get(META_KEY, "{}"))
        if meta.get("key") != key:
            return None
        tensors = load_file(str(path))
    except Exception:  # safetensors has its own error for each kind of damage; any means decode again
        return None
    if "pixels" not in tensors:
        return None
    classes = meta.get("classes")
    try:
        return Images(tensors["pixels"], tensors.get("labels"), tuple(classes) if classes is not None else None)
    except ValueError:  # labels that do not fit the names: decode again
        return None


def write_cache(path: Path, key: str, images: Images, dataset: str) -> bool:
    """Write `images` to `path` in one rename; False (and no file) when the folder is not writable."""
    tensors = {"pixels": images.pixels.contiguous()}
    if images.labels is not None:
        tensors["labels"] = images.labels.contiguous()
    meta = {META_KEY: json.dumps({"key": key, "dataset": dataset, "format": FORMAT, "classes": images.classes})}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
    except OSError:
        return False
    return True


def cached_decode(cache: Path, key: str, decode: Callable[[], Images], what: str,
                  notify: Callable[[str], None]) -> Images:
    """The images from `cache` when its key matches, else `decode()` and write the cache."""
    started = time.perf_counter()
    images = read_cache(cache, key)
    if images is not None:
        notify(f"{what}: {len(images)} images {images.shape} from the cache {cache} "
            f"in {time.perf_counter() - started:.2f} s")
        return images
    images = decode()
    decoded = time.perf_counter() - started
    if write_cache(cache, key, images, what):
        notify(f"{what}: decoded {len(images)} images {images.shape} in {decoded:.2f} s; cached in {cache}")
    else:
        notify(f"{what}: decoded {len(images)} images {images.shape} in {decoded:.2f} s "
            f"({cache.parent} is not writable, so there is no cache)")
    return images
