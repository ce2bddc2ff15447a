"""Features of the real images, cached on disk so a second evaluation only pays for generated images;
and `reference_statistics`, which computes them (and a labelled dataset's reference classifier)
ahead of training (`gancli datasets stats`).

A cache entry is keyed by dataset, split, image shape, image count, the feature network and a
hash of the very pixels, so new or changed data never reuses stale features. Entries are
safetensors files (no pickle).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from gancli.config import TrainConfig
from gancli.core.files import atomic_path
from gancli.datasets import datasets
from gancli.datasets.loading import FOLDER_PREFIX, load_images, parse_data, resolve_split
from gancli.datasets.pack import is_pack_name
from gancli.errors import ConfigError
from gancli.metrics.classifier import ClassifierRecipe, reference_classifier
from gancli.metrics.classifier.reference import fingerprint
from gancli.metrics.features import FeatureExtractor
from gancli.metrics.weights import cache_root

TRAINING_EVAL_NUM = TrainConfig().eval_num  # the real images an evaluation during training scores against


def pixels_digest(pixels: torch.Tensor) -> str:
    digest = hashlib.sha256(str(tuple(pixels.shape)).encode())
    digest.update(pixels.contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_name(dataset: str) -> str:
    """`dataset` as a file name: a folder or a pack by its own name, wherever the path was given
    from (the pixels' hash in the entry's name tells their contents apart)."""
    if dataset.startswith(FOLDER_PREFIX) or is_pack_name(dataset):
        name, root = parse_data(dataset, None)
        return f"{name}-{root.expanduser().resolve().name}"
    return dataset.replace(":", "-").replace("/", "_")


def stats_path(folder: Path, dataset: str, split: str, pixels: torch.Tensor, extractor: FeatureExtractor) -> Path:
    n, c, h, w = pixels.shape
    size = extractor.input_size or "native"
    return folder / (f"{cache_name(dataset)}-{split}-{c}x{h}x{w}-n{n}-{extractor.key}-in{size}-"
                     f"{pixels_digest(pixels)[:16]}.safetensors")


def real_features(extractor: FeatureExtractor, dataset: str, split: str, pixels: torch.Tensor,
                  folder: Path | None = None, progress=None,
                  notify: Callable[[str], None] | None = None) -> tuple[torch.Tensor, bool]:
    """Features of the real `pixels` and whether they came from the cache."""
    folder = Path(folder) if folder is not None else cache_root() / "real-features"
    path = stats_path(folder, dataset, split, pixels, extractor)
    if path.is_file():
        try:
            return load_file(str(path))["features"], True
        except Exception:  # safetensors raises its own error types for every kind of damage
            pass  # a damaged entry is recomputed and replaced
    features = extractor(pixels, progress, notify)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({"features": features.contiguous()}, str(tmp),
                      metadata={"gancli.dataset": dataset, "gancli.split": split, "gancli.network": extractor.key})
    except OSError:
        pass  # an unwritable cache costs time on the next run, never the result
    return features, False


FLOOR_SEED = 0  # the one random split of the real images into halves


def real_floor(features: torch.Tensor, n: int, extractor: FeatureExtractor, dataset: str, split: str,
               pixels: torch.Tensor, folder: Path | None = None) -> float:
    """The real-data floor: FID between two disjoint random halves of `n` real images each (of
    the features of `pixels`), what FID says of two samples of the very same distribution at this
    N. Cached beside the features, keyed by `n`."""
    from gancli.metrics.scores import GaussianStats, frechet_distance

    folder = Path(folder) if folder is not None else cache_root() / "real-features"
    path = stats_path(folder, dataset, split, pixels, extractor)
    path = path.with_name(f"{path.stem}-floor-n{n}-s{FLOOR_SEED}.json")
    try:
        return float(json.loads(path.read_text(encoding="utf-8"))["fid"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or damaged: computed again
    if not 2 <= n <= features.shape[0] // 2:
        raise ValueError(f"two halves of {n} need {2 * n} real images, there are {features.shape[0]}")
    order = torch.randperm(features.shape[0], generator=torch.Generator().manual_seed(FLOOR_SEED))
    fid = frechet_distance(GaussianStats.of(features[order[:n]]), GaussianStats.of(features[order[n:2 * n]]))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"fid": fid, "n": n, "seed": FLOOR_SEED}), encoding="utf-8")
    except OSError:
        pass  # an unwritable cache costs time on the next evaluation, never the result
    return fid


@dataclass
class ReferenceStatistics:
    """Where the reference statistics of one dataset live, and how they were made."""

    dataset: str
    split: str
    shape: str                                # CxHxW, as training and evaluation see the images
    images: int                               # real images the features are of
    features: Path | None = None
    features_cached: bool = False             # found in the cache rather than computed now
    feature_protocol: str = ""
    classifier: Path | None = None
    classifier_cached: bool = False
    classifier_accuracy: float | None = None  # on the held-out tenth it never trained on
    classifier_protocol: str = ""

    def as_dict(self) -> dict:
        return {name: str(value) if isinstance(value, Path) else value for name, value in vars(self).items()}


def reference_statistics(data: str, split: str | None = None, data_root: Path | None = None,
                         image_size: int | None = None, channels: int | None = None,
                         num: int | None = TRAINING_EVAL_NUM, extractor: Callable[[], FeatureExtractor] | None = None,
                         classifier: bool | None = None, cache_folder: Path | None = None,
                         notify: Callable[[str], None] | None = None,
                         progress: Callable[[str, int, int], None] | None = None,
                         recipe: ClassifierRecipe = ClassifierRecipe()) -> ReferenceStatistics:
    """Compute and cache what evaluating against `data` needs, as training and `gancli eval` key it:
    the real features of its first `num` images (None: all, as `gancli eval` takes by default) at
    `channels` x `image_size`^2 from `extractor()` when given, and, where the data is labelled and
    `classifier` is not False, its reference classifier (trained by `recipe`, as training's is by default)."""
    if num is not None and num < 2:
        raise ConfigError(f"--num must be at least 2, got {num}")
    name, _ = parse_data(data, str(data_root) if data_root else None)
    split = resolve_split(datasets.get(name), name, split)
    images = load_images(data, split, data_root, download=False, image_size=image_size, channels=channels,
                         notify=notify)
    labelled = images.labels is not None and bool(images.classes)
    if classifier and not labelled:
        raise ConfigError(f"--metrics: the classifier needs class labels, and dataset {data} has none")
    pixels = images.pixels[:num] if num is not None else images.pixels
    stats = ReferenceStatistics(data, split, str(images.shape), int(pixels.shape[0]))
    stage = (lambda what: None) if progress is None else (lambda what: lambda done, total: progress(what, done, total))
    if extractor is not None:
        network = extractor()
        folder = Path(cache_folder) if cache_folder is not None else cache_root() / "real-features"
        features, stats.features_cached = real_features(network, data, split, pixels, folder,
                                                        stage("real images' features"), notify)
        stats.features = stats_path(folder, data, split, pixels, network)
        resize = f"resized to {network.input_size}x{network.input_size} bilinearly" if network.input_size \
            else "at their own size"
        stats.feature_protocol = (f"{network.key}: {features.shape[1]}-d features of {stats.images:,} uint8 images "
                                  f"{stats.shape}, {resize}, grayscale repeated to three channels, "
                                  f"pixels scaled as (x - 128) / 128")
    if labelled and classifier is not False:
        folder = Path(cache_folder) if cache_folder is not None else cache_root() / "classifiers"
        reference = reference_classifier(images.pixels, images.labels, len(images.classes), folder, notify,
                                         stage("training the classifier"), recipe=recipe)
        stats.classifier = folder / f"{fingerprint(images.pixels.cpu(), images.labels.cpu())}.safetensors"
        stats.classifier_cached, stats.classifier_accuracy = reference.cached, reference.accuracy
        stats.classifier_protocol = (f"the reference CNN of the classifier measures, trained on "
                                     f"{len(images) - len(reference.heldout):,} of the {len(images):,} labelled "
                                     f"images {stats.shape}, measured on the "
                                     f"{len(reference.heldout):,} it never saw")
    return stats
