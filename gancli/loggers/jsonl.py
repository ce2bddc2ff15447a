"""`jsonl`: the run folder's metrics.jsonl, one JSON object per reading; always on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gancli.errors import GancliError
from gancli.loggers.base import Logger, checkpoint_kept

FILE_NAME = "metrics.jsonl"


class JsonlLogger(Logger):
    description = "metrics.jsonl in the run folder: one JSON object per reading (always on)"

    def open(self, run_dir: Path, config: dict[str, Any], first_step: int) -> None:
        self.path = Path(run_dir) / FILE_NAME
        self.last_checkpoint = Path(run_dir) / "checkpoints" / "last.safetensors"

    def scalars(self, step: int, values: dict[str, float]) -> None:
        try:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"step": step, **values}) + "\n")
        except OSError as err:
            raise GancliError(f"cannot append to {self.path}: {err.strerror or err}; "
                              f"{checkpoint_kept(self.last_checkpoint)}") from None
