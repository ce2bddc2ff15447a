"""What a checkpoint says about itself: `CheckpointInfo`, stored as the `gancli.*` keys of the
`.safetensors` metadata (a str->str map; JSON where a value is not a plain string)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gancli import __version__
from gancli.config.typed import shorten
from gancli.core.shapes import ImageShape
from gancli.errors import CheckpointError

FORMAT_VERSION = 1
PREFIX = "gancli."


@dataclass
class CheckpointInfo:
    """What a checkpoint says about itself."""

    arch: str
    hparams: dict[str, Any]
    image_shape: ImageShape
    latent_dim: int
    dataset: str
    step: int
    epoch: int
    seed: int
    loss: str
    arch_package: str = "gancli"
    arch_version: str = __version__
    gancli_version: str = __version__
    format: int = FORMAT_VERSION
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    config: dict[str, Any] = field(default_factory=dict)
    ema_decay: float | None = None   # set when the file also holds `generator_ema.` tensors
    checkpoint_id: str = ""          # shared with the training state written beside it
    run_id: str = ""                 # the run that wrote it, the same across its resumes
    classes: tuple[str, ...] = ()    # a class-conditional generator's classes, label 0 first
    precision: str = ""              # what the step trained in (`precision: auto` resolved); "" in older files
    kernels: str = ""                # the machine's kernels, as training.execution.kernels_of says them
    dataset_package: str = ""        # the package of the dataset's entry; "" in older files and for folders
    scores: dict[str, float] = field(default_factory=dict)  # a best checkpoint's scores, which chose it
    score_protocol: dict[str, Any] = field(default_factory=dict)  # what they were measured under

    @property
    def dataset_entry(self) -> str:
        """The dataset as the registry finds this run's own: `package:name` when it came from a
        registry entry, so another package's dataset of the same name never stands in for it."""
        if not self.dataset_package:
            return self.dataset  # a folder, or a file from before packages were recorded
        return f"{self.dataset_package}:{self.dataset.rpartition(':')[2]}"

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    def to_metadata(self) -> dict[str, str]:
        values = {
            "format": str(self.format),
            "version": self.gancli_version,
            "arch": self.arch,
            "arch_package": self.arch_package,
            "arch_version": self.arch_version,
            "hparams": json.dumps(self.hparams, sort_keys=True),
            "image_shape": json.dumps(list(self.image_shape.as_tuple())),
            "latent_dim": str(self.latent_dim),
            "dataset": self.dataset,
            "step": str(self.step),
            "epoch": str(self.epoch),
            "seed": str(self.seed),
            "loss": self.loss,
            "created": self.created,
            "config": json.dumps(self.config, sort_keys=True),
        }
        if self.ema_decay is not None:
            values["ema_decay"] = json.dumps(self.ema_decay)
        if self.checkpoint_id:
            values["checkpoint_id"] = self.checkpoint_id
        if self.run_id:
            values["run_id"] = self.run_id
        if self.dataset_package:
            values["dataset_package"] = self.dataset_package
        if self.classes:
            values["classes"] = json.dumps(list(self.classes))
        if self.precision:
            values["precision"] = self.precision
        if self.kernels:
            values["kernels"] = self.kernels
        if self.scores:
            values["scores"] = json.dumps(self.scores, sort_keys=True)
        if self.score_protocol:
            values["score_protocol"] = json.dumps(self.score_protocol, sort_keys=True)
        return {PREFIX + key: value for key, value in values.items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str] | None, path: Path) -> "CheckpointInfo":
        metadata = metadata or {}
        if "gancli.state" in metadata:
            raise CheckpointError(f"{path} is training state for resuming, not a checkpoint; "
                                  f"use the checkpoint of the same name in the run's checkpoints/ folder")

        def text(key: str) -> str:
            if PREFIX + key not in metadata:
                raise CheckpointError(f"{path}: not a gancli checkpoint (metadata key {PREFIX}{key} is missing)")
            return metadata[PREFIX + key]

        def parsed(key: str, kind: type) -> Any:
            try:
                value = json.loads(text(key))
            except json.JSONDecodeError:
                raise CheckpointError(f"{path}: metadata {PREFIX}{key} is not valid JSON") from None
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
                raise CheckpointError(f"{path}: metadata {PREFIX}{key} should be {kind.__name__}, got {value!r}")
            return value

        format_version = parsed("format", int)
        if format_version > FORMAT_VERSION:
            raise CheckpointError(
                f"{path}: checkpoint format {format_version} is newer than this gancli reads "
                f"({FORMAT_VERSION}); upgrade gancli"
            )
        classes = parsed("classes", list) if PREFIX + "classes" in metadata else []
        if not all(isinstance(name, str) for name in classes):
            raise CheckpointError(f"{path}: metadata {PREFIX}classes should be a list of names, got {shorten(classes)}")
        shape = parsed("image_shape", list)
        if len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
            raise CheckpointError(f"{path}: metadata {PREFIX}image_shape should be [C, H, W], got {shape}")
        return cls(
            arch=text("arch"),
            hparams=parsed("hparams", dict),
            image_shape=ImageShape(*shape),
            latent_dim=parsed("latent_dim", int),
            dataset=text("dataset"),
            step=parsed("step", int),
            epoch=parsed("epoch", int),
            seed=parsed("seed", int),
            loss=text("loss"),
            arch_package=text("arch_package"),
            arch_version=text("arch_version"),
            gancli_version=text("version"),
            format=format_version,
            created=text("created"),
            config=parsed("config", dict),
            ema_decay=parsed("ema_decay", float) if PREFIX + "ema_decay" in metadata else None,
            checkpoint_id=metadata.get(PREFIX + "checkpoint_id", ""),
            run_id=metadata.get(PREFIX + "run_id", ""),
            classes=tuple(classes),
            precision=metadata.get(PREFIX + "precision", ""),
            kernels=metadata.get(PREFIX + "kernels", ""),
            dataset_package=metadata.get(PREFIX + "dataset_package", ""),
            scores=parsed("scores", dict) if PREFIX + "scores" in metadata else {},
            score_protocol=parsed("score_protocol", dict) if PREFIX + "score_protocol" in metadata else {},
        )
