"""`tensorboard`: event files under RUN/tensorboard/, for `tensorboard --logdir RUN`.

Needs the optional extra: pip install "gancli[tensorboard]". Scalars go under their own names
(`loss_d`, `d_real`, `fid`, ...), the fixed-latent grid under `samples`, the resolved config as
text. A resumed run purges what an earlier attempt logged after the step it resumes from.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
import yaml

from gancli.errors import GancliError
from gancli.loggers.base import Logger

FOLDER = "tensorboard"


class TensorBoardLogger(Logger):
    description = "TensorBoard event files in RUN/tensorboard (pip install \"gancli[tensorboard]\")"

    def __init__(self):
        self.writer = None

    def open(self, run_dir: Path, config: dict[str, Any], first_step: int) -> None:
        if importlib.util.find_spec("tensorboard") is None:
            raise GancliError('the tensorboard logger needs the tensorboard package: pip install "gancli[tensorboard]"')
        from torch.utils.tensorboard import SummaryWriter

        # Events after `first_step`, from an attempt that went further before it stopped, are dropped.
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / FOLDER),
                                    purge_step=first_step + 1 if first_step else None)
        self.writer.add_text("config", "```\n" + yaml.safe_dump(config, sort_keys=False) + "```", first_step)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            if name != "epoch":
                self.writer.add_scalar(name, value, step)

    def image(self, step: int, name: str, grid: torch.Tensor) -> None:
        self.writer.add_image(name, grid, step, dataformats="CHW")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
