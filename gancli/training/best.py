"""FID during training: score the generator every `eval_every` steps and keep the best checkpoint.

GAN quality often peaks and then degrades, so the last checkpoint is not always the one to keep.
The generator scored is the EMA generator when the run keeps one, the one users sample.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

from torch import nn

from gancli.checkpoints.format import save_checkpoint
from gancli.errors import GancliError
from gancli.metrics.evaluation import Scorer, generated_pixels, real_pixels
from gancli.metrics.features import FeatureExtractor, inception_extractor

BEST_NAME = "best.safetensors"
EVAL_SEED = 12345  # one fixed latent set for every evaluation of a run, so scores compare


def networks_of(trainer: Any) -> dict[str, nn.Module]:
    """The networks the trainer checkpoints (its own list when it keeps one, EMA included)."""
    listed = getattr(trainer, "networks", None)
    if callable(listed):
        return listed()
    return {"generator": trainer.generator, "discriminator": trainer.discriminator}


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


class BestCheckpointTracker:
    """Called by the trainer at its evaluation steps; writes `fid` to metrics.jsonl."""

    def __init__(self, trainer: Any, extractor: FeatureExtractor | None = None, cache_folder: Path | None = None):
        config = trainer.config
        self.num = config.eval_num
        extractor = extractor or inception_extractor(
            Path(config.inception) if config.inception else None, trainer.device)
        pixels, split = real_pixels(config.data, config.split, trainer.shape, config.eval_num, config.data_root)
        self.scorer = Scorer(extractor, config.data, split, pixels, ("fid",), cache_folder)
        self.best_path = trainer.run.checkpoints / BEST_NAME
        self.best_fid = recorded_best(trainer.run.metrics_path) if self.best_path.exists() else math.inf

    def __call__(self, trainer: Any) -> dict[str, Any]:
        ema = getattr(trainer, "ema", None)
        generator = ema.module if ema is not None else trainer.generator
        def sample_latent(n, generator):
            return trainer.architecture.sample_latent(n, trainer.arch_config, generator=generator)

        fake = generated_pixels(generator, sample_latent, self.num, EVAL_SEED, trainer.device)
        fid = self.scorer.score(fake)["fid"]
        improved = fid < self.best_fid
        if improved:
            self.best_fid = fid
            try:
                save_checkpoint(self.best_path, networks_of(trainer), trainer.checkpoint_info(uuid.uuid4().hex))
            except OSError as err:
                raise GancliError(f"cannot write {self.best_path}: {err.strerror or err}") from None
        record = {"step": trainer.step, "epoch": trainer.epoch, "fid": fid, "best_fid": self.best_fid}
        trainer.run.log_metrics(record)
        trainer.reporter.notify(f"step {trainer.step}  FID {fid:.2f}" + ("  (best so far)" if improved else ""))
        return record
