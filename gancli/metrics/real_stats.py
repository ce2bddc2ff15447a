"""Features of the real images, cached on disk so a second evaluation only pays for generated images.

A cache entry is keyed by dataset, split, image shape, image count, the feature network and a
hash of the very pixels, so new or changed data never reuses stale features. Entries are
safetensors files (no pickle).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from gancli.core.files import atomic_path
from gancli.metrics.features import FeatureExtractor
from gancli.metrics.weights import cache_root


def pixels_digest(pixels: torch.Tensor) -> str:
    digest = hashlib.sha256(str(tuple(pixels.shape)).encode())
    digest.update(pixels.contiguous().numpy().tobytes())
    return digest.hexdigest()


def stats_path(folder: Path, dataset: str, split: str, pixels: torch.Tensor, extractor: FeatureExtractor) -> Path:
    n, c, h, w = pixels.shape
    safe_name = dataset.replace(":", "-").replace("/", "_")
    size = extractor.input_size or "native"
    return folder / f"{safe_name}-{split}-{c}x{h}x{w}-n{n}-{extractor.key}-in{size}-{pixels_digest(pixels)[:16]}.safetensors"


def real_features(extractor: FeatureExtractor, dataset: str, split: str, pixels: torch.Tensor,
                  folder: Path | None = None, progress=None) -> tuple[torch.Tensor, bool]:
    """Features of the real `pixels` and whether they came from the cache."""
    folder = Path(folder) if folder is not None else cache_root() / "real-features"
    path = stats_path(folder, dataset, split, pixels, extractor)
    if path.is_file():
        try:
            return load_file(str(path))["features"], True
        except Exception:  # safetensors raises its own error types for every kind of damage
            pass  # a damaged entry is recomputed and replaced
    features = extractor(pixels, progress)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({"features": features.contiguous()}, str(tmp),
                      metadata={"gancli.dataset": dataset, "gancli.split": split, "gancli.network": extractor.key})
    except OSError:
        pass  # an unwritable cache costs time on the next run, never the result
    return features, False
