"""Scoring a run as it trains, every `eval_every` steps: FID (keeping the best checkpoint) and,
on labelled data, the classifier measures.

GAN quality often peaks and then degrades, so the last checkpoint is not always the one to keep;
the trainer writes `checkpoints/best.safetensors` whenever FID improves, with the score and the
protocol it was measured under in its metadata. Only FIDs measured alike compare: a resume that
scores otherwise (another `eval_num`, other data, another FID network) says so and starts a new
best rather than weigh unlike numbers. The classifier measures
(`eval_metrics: [classifier]`) need no Inception network: a small classifier of the run's own
training images, trained on first use and cached, says how many samples are recognisable, how
many classes they cover and, for a conditional run, how many show the class asked for.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from gancli.checkpoints.format import read_info
from gancli.datasets import Images
from gancli.errors import GancliError
from gancli.metrics.evaluation import ClassifierJudge, Scorer, generated_pixels, labels_like, protocol_for
from gancli.metrics.features import FeatureExtractor
from gancli.metrics.protocol import Protocol

EVAL_SEED = 12345  # one fixed latent set (and class set) for every evaluation of a run, so scores compare
DIVERSITY_IMAGES = 500  # images whose mean pairwise distance measures diversity


@dataclass(frozen=True)
class Evaluation:
    scores: dict[str, float]  # fid and best_fid, and/or the classifier measures; diversity
    improved: bool            # FID is the best so far
    protocol: dict            # what the scores were measured under (`Protocol.as_dict`)


def recorded_best(metrics_path: Path) -> float:
    """The lowest FID a run recorded: for a best checkpoint from before it held its own score."""
    scores = []
    try:
        for line in metrics_path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else {}
            if isinstance(record.get("fid"), (int, float)):
                scores.append(record["fid"])
    except (OSError, json.JSONDecodeError):
        return math.inf
    return min(scores, default=math.inf)


def best_to_beat(best_checkpoint: Path, metrics_path: Path, protocol: Protocol,
                 notify: Callable[[str], None]) -> float:
    """The FID a resumed run's evaluations must beat to replace `best_checkpoint`: its own score
    when it was measured as they will be; else none (infinity), said in one line."""
    if not best_checkpoint.exists():
        return math.inf
    try:
        info = read_info(best_checkpoint)
    except GancliError:
        return math.inf  # unreadable: the next evaluation replaces it
    measured = Protocol.from_dict(info.score_protocol)
    if measured is None:
        return recorded_best(metrics_path)
    differences = measured.differences(protocol)
    if differences:
        notify(f"{best_checkpoint.name}'s FID was measured under another protocol ({'; '.join(differences)}): "
               f"unlike numbers do not compare, so the best starts again with this run's evaluations")
        return math.inf
    return float(info.scores.get("fid", math.inf))


class RunScorer:
    """Scores a run's generator on one fixed set of latents (and, conditional, of classes drawn
    from the data's labels) against the run's own training images."""

    def __init__(self, images: Images, dataset: str, split: str, num: int, conditional: bool,
                 extractor: Callable[[], FeatureExtractor] | None = None, classifier: bool = False,
                 best_fid: float = math.inf, cache_folder: Path | None = None,
                 notify: Callable[[str], None] | None = None, generator: str = "EMA",
                 device: torch.device | str = "cpu"):
        self.num = num
        self.requested = labels_like(images.labels, num, EVAL_SEED) if conditional else None
        self.notify = notify
        self.fid = Scorer(extractor(), dataset, split, images.pixels[:num], ("fid",), cache_folder, notify=notify) \
            if extractor is not None else None
        self.judge = ClassifierJudge.of(images, cache_folder, notify) if classifier else None
        self.best_fid = best_fid
        metrics = (("fid",) if self.fid else ()) + (("classifier",) if self.judge else ())
        self.protocol = protocol_for(self.fid, self.judge, metrics, num, f"{dataset}/{split}", images.pixels[:num],
                                     generator, EVAL_SEED, device)
        self.real_spread = mean_distance(images.pixels[:DIVERSITY_IMAGES])

    def score(self, generator: nn.Module, sample_latent: Callable[..., torch.Tensor],
              device: torch.device) -> Evaluation:
        fake = generated_pixels(generator, sample_latent, self.num, EVAL_SEED, device, labels=self.requested,
                                notify=self.notify)
        scores: dict[str, float] = {"diversity": mean_distance(fake[:DIVERSITY_IMAGES]) / self.real_spread}
        improved = False
        if self.fid is not None:
            fid = self.fid.score(fake)["fid"]
            improved = fid < self.best_fid
            self.best_fid = min(fid, self.best_fid)
            scores.update(fid=fid, best_fid=self.best_fid)
        if self.judge is not None:
            scores.update(self.judge.score(fake, self.requested))
        return Evaluation(scores, improved, self.protocol.as_dict())


def mean_distance(pixels: torch.Tensor) -> float:
    """The mean distance between two different images of `pixels` (uint8), in [0, 1] pixel units:
    how varied they are. Positive for any two images, so a ratio of two is defined."""
    flat = pixels.flatten(1).double() / 255
    n = flat.shape[0]
    if n < 2:
        return 1.0
    return max(float(torch.cdist(flat, flat).sum() / (n * (n - 1))), 1e-12)


def describe_scores(scores: dict[str, float]) -> str:
    """One line of an evaluation's scores, as the trainer reports them."""
    parts = []
    if "fid" in scores:
        parts.append(f"FID {scores['fid']:.2f}")
    if "recognisable" in scores:
        parts.append(f"recognisable {scores['recognisable']:.1%}")
        parts.append(f"classes {scores['classes_covered']:.0f}/{scores['classes']:.0f}")
        parts.append(f"class KL {scores['class_kl']:.3f}")
    if "conditional_accuracy" in scores:
        parts.append(f"conditional accuracy {scores['conditional_accuracy']:.1%}")
    if "classifier_accuracy" in scores:
        parts.append(f"(classifier {scores['classifier_accuracy']:.1%} accurate on held-out real images)")
    return "  ".join(parts)
