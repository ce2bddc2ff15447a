"""The run folder: resolved config, metrics log, sample grids and checkpoints of one run.

    DIR/config.yaml                          the fully resolved config
    DIR/metrics.jsonl                        one JSON object per logging interval
    DIR/samples/step-0000500.png             grids from one fixed latent batch
    DIR/checkpoints/step-0001000.safetensors
    DIR/checkpoints/last.safetensors
    DIR/checkpoints/best.safetensors         the lowest FID so far, with --eval-every
    DIR/state/step-0001000.safetensors       training state for resuming, one per checkpoint
    DIR/state/last.safetensors
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from torch import nn

from gancli.checkpoints.format import CheckpointInfo, save_checkpoint
from gancli.checkpoints.state import TrainingState, save_state
from gancli.core.files import replace_with_copy, write_text_atomic
from gancli.errors import GancliError


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
        self.state = self.root / "state"

    def holds_run(self) -> bool:
        return self.config_path.exists()

    @classmethod
    def create(cls, root: Path, config_yaml: str, overwrite: bool = False) -> "RunFolder":
        """Lay out a new run in `root`; a folder holding another run is refused unless `overwrite`."""
        run = cls(root)
        if run.holds_run() and not overwrite:
            raise GancliError(f"{run.root} already holds a run; choose another --out, "
                              f"pass --resume {run.root} to continue it, or --overwrite")
        with run._writing():
            run._make_folders()
            write_text_atomic(run.config_path, config_yaml)
            write_text_atomic(run.metrics_path, "")
        return run

    @classmethod
    def reopen(cls, root: Path, config_yaml: str, step: int) -> "RunFolder":
        """Continue the run in `root` from `step`: the config is rewritten, metrics logged after
        `step` (they will be logged again) and a line torn by a crash are dropped."""
        run = cls(root)
        with run._writing():
            run._make_folders()
            write_text_atomic(run.config_path, config_yaml)
            run.truncate_metrics(step)
            for folder in (run.checkpoints, run.state, run.samples):
                for leftover in folder.glob(".*.tmp"):  # from a write a SIGKILL cut short
                    leftover.unlink(missing_ok=True)
        return run

    def truncate_metrics(self, step: int) -> None:
        """Keep the complete metrics records up to `step`, in one atomic rewrite."""
        write_text_atomic(self.metrics_path, "".join(self._metrics_up_to(step)))

    def _metrics_up_to(self, step: int) -> list[str]:
        try:
            lines = self.metrics_path.read_text(encoding="utf-8").splitlines(keepends=True)
        except FileNotFoundError:
            return []
        kept = []
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if line.endswith("\n") and isinstance(record, dict) and isinstance(record.get("step"), int) \
                    and record["step"] <= step:
                kept.append(line)
        return kept

    def _make_folders(self) -> None:
        for folder in (self.samples, self.checkpoints, self.state):
            folder.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _writing(self):
        try:
            yield
        except OSError as err:
            raise GancliError(f"cannot write the run folder {self.root}: {err.strerror or err}") from None

    def sample_path(self, step: int) -> Path:
        return self.samples / f"step-{step:07d}.png"

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:07d}.safetensors"

    def state_path(self, step: int) -> Path:
        return self.state / f"step-{step:07d}.safetensors"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.safetensors"

    @property
    def best_checkpoint(self) -> Path:
        """The checkpoint with the lowest FID so far, in runs that evaluate while training."""
        return self.checkpoints / "best.safetensors"

    @property
    def last_state(self) -> Path:
        return self.state / "last.safetensors"

    def write_checkpoint(self, step: int, networks: dict[str, nn.Module], info: CheckpointInfo,
                         state: TrainingState) -> None:
        """Write the step's checkpoint and its training state, then make them `last`; a failure
        leaves the previous checkpoint as it was."""
        weights, state_path = self.checkpoint_path(step), self.state_path(step)
        try:
            # State first, weights second: weights whose state is missing are passed over on resume.
            save_state(state_path, state)
            save_checkpoint(weights, networks, info)
            replace_with_copy(state_path, self.last_state)
            replace_with_copy(weights, self.last_checkpoint)
        except OSError as err:
            raise GancliError(f"cannot write a checkpoint in {self.checkpoints}: {err.strerror or err}; "
                              f"the previous checkpoint is intact") from None

    def numbered_steps(self) -> list[int]:
        """Steps of the step-numbered checkpoints, oldest first."""
        steps = []
        for path in self.checkpoints.glob("step-*.safetensors"):
            digits = path.stem[len("step-"):]
            if digits.isdigit():
                steps.append(int(digits))
        return sorted(steps)

    def prune(self, keep: int) -> None:
        """Delete all but the newest `keep` step-numbered checkpoints and their states."""
        for step in self.numbered_steps()[:-keep] if keep else []:
            self.checkpoint_path(step).unlink(missing_ok=True)
            self.state_path(step).unlink(missing_ok=True)

    def log_metrics(self, record: dict[str, Any]) -> None:
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
