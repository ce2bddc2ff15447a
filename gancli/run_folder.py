"""The run folder: resolved config, metrics log, sample grids and checkpoints of one run.

    DIR/config.yaml                          the fully resolved config
    DIR/metrics.jsonl                        one JSON object per logging interval
    DIR/samples/step-0000500.png             grids from one fixed latent batch
    DIR/checkpoints/step-0001000.safetensors
    DIR/checkpoints/last.safetensors
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from gancli.errors import GancliError
from gancli.fileio import write_text_atomic


def default_run_dir(arch: str, data: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{arch}-{data.replace(':', '-').replace('/', '_')}-{stamp}"


class RunFolder:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.config_path = self.root / "config.yaml"
        self.metrics_path = self.root / "metrics.jsonl"
        self.samples = self.root / "samples"
        self.checkpoints = self.root / "checkpoints"

    @classmethod
    def create(cls, root: Path, config_yaml: str, overwrite: bool = False) -> "RunFolder":
        """Lay out a new run in `root`; a folder holding another run is refused unless `overwrite`."""
        run = cls(root)
        if run.config_path.exists() and not overwrite:
            raise GancliError(f"{run.root} already holds a run; choose another --out or pass --overwrite")
        try:
            run.samples.mkdir(parents=True, exist_ok=True)
            run.checkpoints.mkdir(parents=True, exist_ok=True)
            write_text_atomic(run.config_path, config_yaml)
            run.metrics_path.write_text("", encoding="utf-8")
        except OSError as err:
            raise GancliError(f"cannot write the run folder {run.root}: {err.strerror or err}") from None
        return run

    def sample_path(self, step: int) -> Path:
        return self.samples / f"step-{step:07d}.png"

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:07d}.safetensors"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.safetensors"

    def log_metrics(self, record: dict[str, Any]) -> None:
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
