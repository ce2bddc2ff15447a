"""The logger contract: where a run's readings go, besides its own metrics.jsonl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


class Logger:
    """A destination for a run's scalars and sample grids, registered under `gancli.loggers`.

    gancli builds one per run (the class is registered, as for losses) on rank 0 only, and calls
    it only at the moments the run already reads values on the host: every `log_every` steps,
    every evaluation and every `sample_every` grid. Nothing here may slow the training step.
    """

    description: str = ""

    def open(self, run_dir: Path, config: dict[str, Any], first_step: int) -> None:
        """Start logging for the run in `run_dir`, which resumes after `first_step` (0 for a new
        run): anything logged for later steps by an earlier attempt is now stale."""

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Named readings at `step`: losses, D(x), D(G(z)), images/s, FID and other scores."""

    def image(self, step: int, name: str, grid: torch.Tensor) -> None:
        """A uint8 (C, H, W) image at `step`: the fixed-latent sample grid."""

    def close(self) -> None:
        """Flush and let go; called once, however the run ends."""


def checkpoint_kept(last_checkpoint: Path) -> str:
    """What a logger whose write failed can promise of the run's checkpoints: that the last one is
    intact, where there is one."""
    if last_checkpoint.exists():
        return f"the last checkpoint, {last_checkpoint}, is intact"
    return "no checkpoint had been written yet"
