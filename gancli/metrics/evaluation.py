"""Scoring a generator against a dataset's real images: FID, KID and precision/recall on the
Inception network's features, and, for labelled data, the classifier measures.

    from gancli.metrics.evaluation import evaluate
    report = evaluate("runs/x/checkpoints/last.safetensors", data="mnist", num=10000)

Generated images pass through uint8 exactly as saved PNGs hold them, so a score describes the
images a user gets. Real features are cached (see `gancli.metrics.real_stats`), and so is each
dataset's reference classifier (`gancli.metrics.classifier`). A conditional generator is asked
for classes drawn from the dataset's own labels, so its samples follow the data's class mix.
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
from gancli.datasets import Images, datasets
from gancli.datasets.loading import load_images, parse_data, resolve_split
from gancli.errors import ConfigError
from gancli.metrics.classifier import (
    ClassifierRecipe,
    ReferenceClassifier,
    classification_accuracy_score,
    classifier_scores,
    reference_classifier,
)
from gancli.metrics.features import FeatureExtractor, inception_extractor
from gancli.metrics.real_stats import real_features
from gancli.metrics.scores import GaussianStats, frechet_distance, kernel_inception_distance, precision_recall
from gancli.sampling.generate import images_from_latents

FEATURE_METRICS = ("fid", "kid", "pr")      # on the Inception network's features
CLASSIFIER_METRICS = ("classifier", "cas")  # labelled data only; cas for conditional generators only
METRICS = FEATURE_METRICS + CLASSIFIER_METRICS
AUTO = "auto"  # FID, KID and precision/recall, plus the classifier measures where the data has labels
Progress = Callable[[str, int, int], None]  # (stage, images done, images in all)


def parse_metrics(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if names == (AUTO,):
        return names
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise ConfigError(f"--metrics: unknown metric {unknown[0] if unknown else '(none)'!r}; "
                          f"available: {', '.join(METRICS)}, or {AUTO}")
    return names


def resolve_metrics(metrics: tuple[str, ...], labelled: bool, conditional: bool, dataset: str) -> tuple[str, ...]:
    """`auto` made concrete, and classifier measures refused where they cannot be made."""
    if metrics == (AUTO,):
        return FEATURE_METRICS + (("classifier",) if labelled else ()) + (("cas",) if labelled and conditional else ())
    if not labelled and set(metrics) & set(CLASSIFIER_METRICS):
        raise ConfigError(f"--metrics: the classifier measures need class labels, and dataset {dataset} has none")
    if "cas" in metrics and not conditional:
        raise ConfigError("--metrics: cas trains on generated images of known classes, so it needs a conditional "
                          "generator (gancli train --conditional)")
    return metrics


def real_images(data: str, split: str | None, shape: ImageShape,
                data_root: Path | str | None = None) -> tuple[Images, str]:
    """The dataset's real images at `shape` (as training sees them), with their labels if any,
    and the split used."""
    if shape.height != shape.width:
        raise ConfigError(f"evaluation needs square images, the generator makes {shape}")
    name, _ = parse_data(data, str(data_root) if data_root else None)
    split = resolve_split(datasets.get(name), name, split)
    return load_images(data, split, data_root, image_size=shape.height, channels=shape.channels), split


def labels_like(labels: torch.Tensor, num: int, seed: int) -> torch.Tensor:
    """`num` classes drawn from the dataset's `labels` with replacement, from `seed`: what a
    conditional generator is asked for, so its samples have the data's class frequencies."""
    picks = torch.randint(len(labels), (num,), generator=torch.Generator().manual_seed(seed))
    return labels.cpu().long()[picks]


@dataclass
class ClassifierJudge:
    """Scores generated images with one labelled dataset's reference classifier."""

    reference: ReferenceClassifier
    images: Images
    recipe: ClassifierRecipe  # how the reference trained, and how CAS's classifiers train

    @classmethod
    def of(cls, images: Images, cache_folder: Path | None = None, notify: Callable[[str], None] | None = None,
           progress: Progress | None = None, recipe: ClassifierRecipe = ClassifierRecipe()) -> "ClassifierJudge":
        """The judge of `images`: its classifier read from the cache, or trained on them now."""
        if images.labels is None or not images.classes:
            raise ConfigError("the classifier measures need class labels, and these images have none")
        stage = None if progress is None else (lambda done, total: progress("training the classifier", done, total))
        reference = reference_classifier(images.pixels, images.labels, len(images.classes), cache_folder,
                                         notify, stage, recipe=recipe)
        return cls(reference, images, recipe)

    def score(self, fake: torch.Tensor, requested: torch.Tensor | None = None) -> dict[str, float]:
        return classifier_scores(self.reference, fake, requested)

    def cas(self, fake: torch.Tensor, requested: torch.Tensor, progress: Progress | None = None) -> dict[str, float]:
        stage = None if progress is None else (lambda done, total: progress("training on generated images", done, total))
        return classification_accuracy_score(fake, requested, self.images.pixels, self.images.labels,
                                             self.reference.heldout, self.reference.classes, progress=stage,
                                             recipe=self.recipe)


def check_classes(generator_classes: tuple[str, ...], images: Images, dataset: str) -> None:
    """A conditional generator's labels mean the classes it learnt: the data must name the same."""
    if generator_classes and tuple(generator_classes) != tuple(images.classes or ()):
        raise ConfigError(f"the generator's {len(generator_classes)} classes are not dataset {dataset}'s "
                          f"({len(images.classes or ())}); evaluate it on the dataset it was trained on")


def generated_pixels(generator: nn.Module, sample_latent: Callable[..., torch.Tensor], num: int, seed: int,
                     device: torch.device | str, batch_size: int = 256,
                     progress: Progress | None = None, labels: torch.Tensor | None = None,
                     notify: Callable[[str], None] | None = None) -> torch.Tensor:
    """`num` uint8 images from `generator`, its latents drawn on the CPU from `seed`; a
    conditional generator makes image i of class `labels[i]`."""
    latents = sample_latent(num, generator=torch.Generator().manual_seed(seed))
    batches, done = [], 0
    for batch in images_from_latents(generator, latents, device, batch_size, labels, notify):
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
    notify: Callable[[str], None] | None = None  # hears when the batch halves for want of memory
    real: torch.Tensor = field(init=False)
    real_cached: bool = field(init=False)

    def __post_init__(self):
        self.real, self.real_cached = real_features(self.extractor, self.dataset, self.split, self.pixels,
                                                    self.cache_folder, self._stage("real images' features"),
                                                    self.notify)

    def score(self, fake_pixels: torch.Tensor) -> dict[str, float]:
        fake = self.extractor(fake_pixels, self._stage("generated images' features"), self.notify)
        return score_features(self.real, fake, self.metrics)

    def _stage(self, stage: str) -> Callable[[int, int], None] | None:
        progress = self.progress
        return None if progress is None else lambda done, total: progress(stage, done, total)


def evaluate(checkpoint: Path, data: str | None = None, split: str | None = None, num: int = 10000,
             metrics: tuple[str, ...] = (AUTO,), num_real: int | None = None, inception: Path | None = None,
             device: str = "auto", seed: int = 0, batch_size: int = 64, data_root: Path | None = None,
             extractor: FeatureExtractor | None = None, cache_folder: Path | None = None,
             progress: Progress | None = None, notify: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Generate `num` images from `checkpoint` and score them against `data`'s real images;
    `progress(stage, done, total)` hears of each batch of the long parts."""
    if num < 2:
        raise ConfigError(f"--num must be at least 2, got {num}")
    target = resolve_device(device)
    model = load_generator(checkpoint, target)  # the EMA generator when there is one: what users sample
    data = data or model.info.dataset_entry  # the run's own entry, whatever else registers the name
    images, split = real_images(data, split, model.info.image_shape, data_root)
    metrics = resolve_metrics(metrics, images.labels is not None, model.info.conditional, data)
    check_classes(model.classes, images, data)
    report: dict[str, Any] = {"checkpoint": str(checkpoint), "network": model.network, "dataset": data,
                              "split": split, "num_generated": num, "metrics": list(metrics)}
    features = tuple(name for name in metrics if name in FEATURE_METRICS)
    if features:  # found before anything slow runs: missing FID weights fail at once
        extractor = extractor or inception_extractor(inception, target, batch_size)
    judge = ClassifierJudge.of(images, cache_folder, notify, progress) \
        if set(metrics) & set(CLASSIFIER_METRICS) else None
    requested = labels_like(images.labels, num, seed) if model.classes else None
    fake = generated_pixels(model.generator, model.sample_latent, num, seed, target, batch_size, progress,
                            labels=requested, notify=notify)
    if features:
        pixels = images.pixels[:num_real] if num_real is not None else images.pixels
        scorer = Scorer(extractor, data, split, pixels, features, cache_folder, progress, notify)
        report.update(num_real=int(pixels.shape[0]), feature_network=extractor.key,
                      real_features_cached=scorer.real_cached, **scorer.score(fake))
    if judge is not None:
        report.update(classifier_cached=judge.reference.cached, classifier_heldout=len(judge.reference.heldout),
                      **judge.score(fake, requested))
        if "cas" in metrics:
            report.update(judge.cas(fake, requested, progress))
    return report
