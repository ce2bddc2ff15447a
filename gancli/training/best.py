"""FID during training: score the generator every `eval_every` steps and say when it is the best so far.

GAN quality often peaks and then degrades, so the last checkpoint is not always the one to keep;
the trainer writes `checkpoints/best.safetensors` whenever a score improves.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from gancli.core.shapes import ImageShape
from gancli.metrics.evaluation import Scorer, generated_pixels, real_pixels
from gancli.metrics.features import FeatureExtractor

EVAL_SEED = 12345  # one fixed latent set for every evaluation of a run, so scores compare


@dataclass(frozen=True)
class FidScore:
    fid: float
    best_fid: float
    improved: bool


def recorded_best(metrics_path: Path) -> float:
    """The lowest FID a resumed run recorded, so resuming never replaces a better best checkpoint."""
    scores = []
    try:
        for line in metrics_path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else {}
            if isinstance(record.get("fid"), (int, float)):
                scores.append(record["fid"])
    except (OSError, json.JSONDecodeError):
        return math.inf
    return min(scores, default=math.inf)


class FidTracker:
    """Scores generators against one dataset's real images, computed once, and keeps the best score."""

    def __init__(self, extractor: FeatureExtractor, data: str, split: str | None, shape: ImageShape, num: int,
                 data_root: str | None = None, best_fid: float = math.inf, cache_folder: Path | None = None):
        self.num = num
        pixels, split = real_pixels(data, split, shape, num, data_root)
        self.scorer = Scorer(extractor, data, split, pixels, ("fid",), cache_folder)
        self.best_fid = best_fid

    def score(self, generator: nn.Module, sample_latent: Callable[..., torch.Tensor],
              device: torch.device) -> FidScore:
        fake = generated_pixels(generator, sample_latent, self.num, EVAL_SEED, device)
        fid = self.scorer.score(fake)["fid"]
        improved = fid < self.best_fid
        self.best_fid = min(fid, self.best_fid)
        return FidScore(fid, self.best_fid, improved)
