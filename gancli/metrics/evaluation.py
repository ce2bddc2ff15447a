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

from gancli.checkpoints.generator import EMA_NETWORK, load_generator
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
from gancli.metrics.memorisation import memorisation, side_by_side
from gancli.metrics.protocol import Protocol, feature_precision, resize_of
from gancli.metrics.real_stats import pixels_digest, real_features, real_floor
from gancli.metrics.scores import (FrechetReference, GaussianStats, fid_bootstrap, fid_infinity,
                                   kernel_inception_distance, precision_recall)
from gancli.sampling.generate import images_from_latents

FEATURE_METRICS = ("fid", "kid", "pr")      # on the Inception network's features
OPT_IN_FEATURE_METRICS = ("fid_inf", "memorisation")  # also on them, only when asked for
CLASSIFIER_METRICS = ("classifier", "cas")  # labelled data only; cas for conditional generators only
METRICS = FEATURE_METRICS + OPT_IN_FEATURE_METRICS + CLASSIFIER_METRICS
BOOTSTRAP_ROUNDS = 10  # resamples behind FID's standard deviation
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
    _frechet: FrechetReference | None = field(init=False, default=None)

    def __post_init__(self):
        self.real, self.real_cached = real_features(self.extractor, self.dataset, self.split, self.pixels,
                                                    self.cache_folder, self.stage("real images' features"),
                                                    self.notify)

    @property
    def frechet(self) -> FrechetReference:
        """The real side of every FID, its square root taken once."""
        if self._frechet is None:
            self._frechet = FrechetReference(GaussianStats.of(self.real))
        return self._frechet

    @property
    def reference_hash(self) -> str:
        return pixels_digest(self.pixels)[:16]

    def features(self, fake_pixels: torch.Tensor) -> torch.Tensor:
        return self.extractor(fake_pixels, self.stage("generated images' features"), self.notify)

    def score(self, fake_pixels: torch.Tensor, bootstrap: int = 0) -> dict[str, float]:
        return self.score_features(self.features(fake_pixels), bootstrap)

    def score_features(self, fake: torch.Tensor, bootstrap: int = 0) -> dict[str, float]:
        """The metrics asked for; FID with its standard deviation over `bootstrap` resamples of
        the generated features (none below 2)."""
        scores: dict[str, float] = {}
        if "fid" in self.metrics:
            scores["fid"] = self.frechet.distance(GaussianStats.of(fake))
            if bootstrap >= 2:
                scores["fid_std"] = fid_bootstrap(self.frechet, fake, bootstrap)
        if "fid_inf" in self.metrics:
            scores["fid_inf"] = fid_infinity(self.frechet, fake).value
        if "kid" in self.metrics:
            scores["kid"], scores["kid_std"] = kernel_inception_distance(self.real, fake)
        if "pr" in self.metrics:
            scores["precision"], scores["recall"] = precision_recall(self.real, fake)
        return scores

    def floor(self, n: int) -> tuple[float, int] | None:
        """FID between two disjoint random halves of the real images, `n` each or as many as
        there are, and that count; cached beside their features. None with fewer than two
        images a half."""
        n = min(n, self.real.shape[0] // 2)
        if n < 2:
            return None
        return real_floor(self.real, n, self.extractor, self.dataset, self.split, self.pixels, self.cache_folder), n

    def protocol(self, metrics: tuple[str, ...], generated: int, generator: str, seed: int,
                 classifier: str = "") -> Protocol:
        """How this scorer's scores of `generated` images from `generator` ("EMA" or "raw") are measured."""
        return Protocol(metrics, generated, int(self.pixels.shape[0]), f"{self.dataset}/{self.split}",
                        self.reference_hash, self.extractor.key, resize_of(self.extractor.input_size), generator,
                        feature_precision(self.extractor.device), seed, classifier)

    def stage(self, name: str) -> Callable[[int, int], None] | None:
        """`progress` for one stage of the work, as feature extractors call it: (done, total)."""
        progress = self.progress
        return None if progress is None else lambda done, total: progress(name, done, total)


def training_images(model, data_root: Path | None, limit: int) -> tuple[Images, str, str]:
    """A seeded random `limit` of the images `model` trained on (its own dataset and split), as
    it saw them; with that dataset and split."""
    data = model.info.dataset_entry
    images, split = real_images(data, model.info.config.get("split"), model.info.image_shape,
                                data_root or model.info.config.get("data_root"))
    if len(images) > limit:
        chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:limit].sort().values
        images = Images(images.pixels[chosen], None if images.labels is None else images.labels[chosen],
                        images.classes)
    return images, data, split


def evaluate(checkpoint: Path, data: str | None = None, split: str | None = None, num: int = 10000,
             metrics: tuple[str, ...] = (AUTO,), num_real: int | None = None, inception: Path | None = None,
             device: str = "auto", seed: int = 0, batch_size: int = 64, data_root: Path | None = None,
             extractor: FeatureExtractor | None = None, cache_folder: Path | None = None,
             progress: Progress | None = None, notify: Callable[[str], None] | None = None,
             bootstrap: int = BOOTSTRAP_ROUNDS, num_train: int = 10000, pairs: Path | None = None) -> dict[str, Any]:
    """Generate `num` images from `checkpoint` and score them against `data`'s real images;
    `progress(stage, done, total)` hears of each batch of the long parts. FID comes with its
    standard deviation over `bootstrap` resamples and the real images' own floor; `memorisation`
    compares with `num_train` of the training images and writes the closest pairs to `pairs`."""
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
    features = tuple(name for name in metrics if name in FEATURE_METRICS + OPT_IN_FEATURE_METRICS)
    training = check_memorisation(model, data, split, data_root, num_train) if "memorisation" in metrics else None
    if features:  # found before anything slow runs: missing FID weights fail at once
        extractor = extractor or inception_extractor(inception, target, batch_size)
    judge = ClassifierJudge.of(images, cache_folder, notify, progress) \
        if set(metrics) & set(CLASSIFIER_METRICS) else None
    requested = labels_like(images.labels, num, seed) if model.classes else None
    fake = generated_pixels(model.generator, model.sample_latent, num, seed, target, batch_size, progress,
                            labels=requested, notify=notify)
    scorer = None
    if features:
        pixels = images.pixels[:num_real] if num_real is not None else images.pixels
        scorer = Scorer(extractor, data, split, pixels, features, cache_folder, progress, notify)
        fake_features = scorer.features(fake)
        report.update(num_real=int(pixels.shape[0]), feature_network=extractor.key,
                      real_features_cached=scorer.real_cached, **scorer.score_features(fake_features, bootstrap))
        if "fid" in metrics:
            report.update(floor_of(scorer, num))
        if training is not None:
            report.update(measure_memorisation(scorer, training, fake, fake_features, pairs))
    if judge is not None:
        report.update(classifier_cached=judge.reference.cached, classifier_heldout=len(judge.reference.heldout),
                      **judge.score(fake, requested))
        if "cas" in metrics:
            report.update(judge.cas(fake, requested, progress))
    generator = "EMA" if model.network == EMA_NETWORK else "raw"
    report["protocol"] = protocol_for(scorer, judge, metrics, num, f"{data}/{split}", images.pixels, generator,
                                      seed, target).as_dict()
    return report


def floor_of(scorer: Scorer, num: int) -> dict[str, Any]:
    """The real-data floor as the report holds it: FID of real against real at (up to) `num`."""
    found = scorer.floor(num)
    return {} if found is None else {"fid_floor": found[0], "fid_floor_n": found[1]}


def check_memorisation(model, data: str, split: str, data_root: Path | None, num_train: int) -> tuple[Images, str, str]:
    """The training images memorisation compares with; refused when the real images scored
    against are those same images (then nothing is held out)."""
    training, trained_on, trained_split = training_images(model, data_root, num_train)
    if data.rpartition(":")[2] == trained_on.rpartition(":")[2] and split == trained_split:
        raise ConfigError(f"--metrics memorisation: {data}/{split} is what the generator trained on; measure "
                          f"against real images it never saw, e.g. --split with another split or --data "
                          f"folder:DIR of held-out images")
    return training, trained_on, trained_split


def measure_memorisation(scorer: Scorer, training: tuple[Images, str, str], fake: torch.Tensor,
                         fake_features: torch.Tensor, pairs: Path | None) -> dict[str, Any]:
    """Memorisation's scores, the generated images nearest to the training images written to
    `pairs` beside theirs."""
    images, trained_on, trained_split = training
    train_features, _ = real_features(scorer.extractor, trained_on, trained_split, images.pixels,
                                      scorer.cache_folder, scorer.stage("training images' features"), scorer.notify)
    found = memorisation(train_features, scorer.real, fake_features)
    result: dict[str, Any] = {**found.scores(), "memorisation_train": int(images.pixels.shape[0])}
    if pairs is not None:
        from gancli.core.pixels import save_grid

        columns = min(8, fake.shape[0])
        save_grid(side_by_side(fake, images.pixels, found, columns), pairs, nrow=columns)
        result["memorisation_pairs"] = str(pairs)
    return result


def protocol_for(scorer: Scorer | None, judge: ClassifierJudge | None, metrics: tuple[str, ...], num: int,
                 reference: str, pixels: torch.Tensor, generator: str, seed: int, device) -> Protocol:
    """What scores of `num` images from `generator` ("EMA" or "raw") are measured under: by
    `scorer`'s feature network against its real images, and/or by `judge`'s classifier against
    `pixels` of `reference` (dataset/split)."""
    classifier = judge.reference.fingerprint if judge is not None else ""
    if scorer is not None:
        return scorer.protocol(metrics, num, generator, seed, classifier)
    return Protocol(metrics, num, int(pixels.shape[0]), reference, pixels_digest(pixels)[:16], "", "native size",
                    generator, feature_precision(device), seed, classifier)
