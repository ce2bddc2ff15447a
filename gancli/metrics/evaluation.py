"""Scoring a generator against a dataset's real images: FID, KID and precision/recall.

    from gancli.metrics.evaluation import evaluate
    report = evaluate("runs/x/checkpoints/last.safetensors", data="mnist", num=10000)

Generated images pass through uint8 exactly as saved PNGs hold them, so a score describes the
images a user gets. Real features are cached (see `gancli.metrics.real_stats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from gancli.checkpoints.generator import load_generator
from gancli.core.device import resolve_device
from gancli.core.shapes import ImageShape
from gancli.datasets import datasets
from gancli.datasets.loading import load_images, parse_data, resolve_split
from gancli.errors import ConfigError
from gancli.metrics.features import FeatureExtractor, inception_extractor
from gancli.metrics.real_stats import real_features
from gancli.metrics.scores import GaussianStats, frechet_distance, kernel_inception_distance, precision_recall
from gancli.sampling.generate import images_from_latents

METRICS = ("fid", "kid", "pr")
Progress = Callable[[str, int, int], None]  # (stage, images done, images in all)


def parse_metrics(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise ConfigError(f"--metrics: unknown metric {unknown[0] if unknown else '(none)'!r}; available: {', '.join(METRICS)}")
    return names


def real_pixels(data: str, split: str | None, shape: ImageShape, num: int | None = None,
                data_root: Path | str | None = None) -> tuple[torch.Tensor, str]:
    """The dataset's real images at `shape` (as training sees them), the first `num` of them
    (all when None), and the split used."""
    if shape.height != shape.width:
        raise ConfigError(f"evaluation needs square images, the generator makes {shape}")
    name, _ = parse_data(data, str(data_root) if data_root else None)
    split = resolve_split(datasets.get(name), name, split)
    pixels = load_images(data, split, data_root, image_size=shape.height, channels=shape.channels).pixels
    return (pixels[:num] if num is not None else pixels), split


def generated_pixels(generator: nn.Module, sample_latent: Callable[..., torch.Tensor], num: int, seed: int,
                     device: torch.device | str, batch_size: int = 256,
                     progress: Progress | None = None) -> torch.Tensor:
    """`num` uint8 images from `generator`, its latents drawn on the CPU from `seed`."""
    latents = sample_latent(num, generator=torch.Generator().manual_seed(seed))
    batches, done = [], 0
    for batch in images_from_latents(generator, latents, device, batch_size):
        batches.append(batch)
        done += batch.shape[0]
        if progress is not None:
            progress("generating", done, num)
    return torch.cat(batches)


def score_features(real: torch.Tensor, fake: torch.Tensor, metrics: tuple[str, ...]) -> dict[str, float]:
    scores: dict[str, float] = {}
    if "fid" in metrics:
        scores["fid"] = frechet_distance(GaussianStats.of(real), GaussianStats.of(fake))
    if "kid" in metrics:
        scores["kid"], scores["kid_std"] = kernel_inception_distance(real, fake)
    if "pr" in metrics:
        scores["precision"], scores["recall"] = precision_recall(real, fake)
    return scores


@dataclass
class Scorer:
    """Scores generators against one real set, whose features are computed (or read) once."""

    extractor: FeatureExtractor
    dataset: str
    split: str
    pixels: torch.Tensor
    metrics: tuple[str, ...] = ("fid",)
    cache_folder: Path | None = None
    progress: Progress | None = None  # (stage, done, total) as the features are computed
    real: torch.Tensor = field(init=False)
    real_cached: bool = field(init=False)

    def __post_init__(self):
        self.real, self.real_cached = real_features(self.extractor, self.dataset, self.split, self.pixels,
                                                    self.cache_folder, self._stage("real images' features"))

    def score(self, fake_pixels: torch.Tensor) -> dict[str, float]:
        fake = self.extractor(fake_pixels, self._stage("generated images' features"))
        return score_features(self.real, fake, self.metrics)

    def _stage(self, stage: str) -> Callable[[int, int], None] | None:
        progress = self.progress
        return None if progress is None else lambda done, total: progress(stage, done, total)


def evaluate(checkpoint: Path, data: str | None = None, split: str | None = None, num: int = 10000,
             metrics: tuple[str, ...] = METRICS, num_real: int | None = None, inception: Path | None = None,
             device: str = "auto", seed: int = 0, batch_size: int = 64, data_root: Path | None = None,
             extractor: FeatureExtractor | None = None, cache_folder: Path | None = None,
             progress: Progress | None = None) -> dict[str, Any]:
    """Generate `num` images from `checkpoint` and score them against `data`'s real images;
    `progress(stage, done, total)` hears of each batch of the long parts."""
    if num < 2:
        raise ConfigError(f"--num must be at least 2, got {num}")
    target = resolve_device(device)
    model = load_generator(checkpoint, target)  # the EMA generator when there is one: what users sample
    data = data or model.info.dataset
    pixels, split = real_pixels(data, split, model.info.image_shape, num_real, data_root)
    extractor = extractor or inception_extractor(inception, target, batch_size)
    scorer = Scorer(extractor, data, split, pixels, metrics, cache_folder, progress)
    fake = generated_pixels(model.generator, model.sample_latent, num, seed, target, batch_size, progress)
    return {"checkpoint": str(checkpoint), "network": model.network, "dataset": data, "split": split,
            "num_generated": num, "num_real": int(pixels.shape[0]), "feature_network": extractor.key,
            "real_features_cached": scorer.real_cached, **scorer.score(fake)}
