"""`tensorboard`: event files under RUN/tensorboard/, for `tensorboard --logdir RUN`.

Needs the optional extra: pip install "gancli[tensorboard]". Scalars go under their own names
(`loss_d`, `d_real`, `fid`, ...), the fixed-latent grid under `samples`, the resolved config as
text. A resumed run purges what an earlier attempt logged after the step it resumes from.
"""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from pathlib import Path
from typing import Any

import torch
import yaml

from gancli.errors import GancliError
from gancli.loggers.base import Logger, checkpoint_kept

FOLDER = "tensorboard"
MISSING = 'the tensorboard logger needs the tensorboard package: pip install "gancli[tensorboard]"'


class TensorBoardLogger(Logger):
    description = "TensorBoard event files in RUN/tensorboard (pip install \"gancli[tensorboard]\")"

    def __init__(self):
        # Built while the run is set up, before its folder is written: a missing or broken
        # tensorboard stops the run there.
        if importlib.util.find_spec("tensorboard") is None:
            raise GancliError(MISSING)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise GancliError(f"{MISSING} (importing it failed: {err})") from None
        self.summary_writer = SummaryWriter
        self.writer = None
        self.failed = False
        self.quieted = None

    def open(self, run_dir: Path, config: dict[str, Any], first_step: int) -> None:
        self.folder = Path(run_dir) / FOLDER
        self.last_checkpoint = Path(run_dir) / "checkpoints" / "last.safetensors"
        self.quiet_writer_thread()
        try:
            with self.writing():
                # Events after `first_step`, from an attempt that went further before it stopped, are dropped.
                self.writer = self.summary_writer(log_dir=str(self.folder),
                                                  purge_step=first_step + 1 if first_step else None)
                self.writer.add_text("config", "```\n" + yaml.safe_dump(config, sort_keys=False) + "```", first_step)
        except GancliError:
            self.close()  # the run's loggers are closed only once all of them opened
            raise

    def scalars(self, step: int, values: dict[str, float]) -> None:
        with self.writing():
            for name, value in values.items():
                if name != "epoch":
                    self.writer.add_scalar(name, value, step)

    def image(self, step: int, name: str, grid: torch.Tensor) -> None:
        with self.writing():
            self.writer.add_image(name, grid, step, dataformats="CHW")

    def close(self) -> None:
        writer, self.writer = self.writer, None
        try:
            if writer is not None and not self.failed:
                with self.writing():
                    writer.flush()  # what the writer's thread could not write is raised here
        finally:
            if writer is not None:
                with contextlib.suppress(OSError):  # reported above, or when it happened
                    writer.close()
            if self.quieted is not None and threading.excepthook is self.quieted[1]:
                threading.excepthook = self.quieted[0]
            self.quieted = None

    @contextlib.contextmanager
    def writing(self):
        """A write that fails (a full disk, RUN/tensorboard not a folder) is one line."""
        try:
            yield
        except OSError as err:
            self.failed = True
            raise GancliError(f"cannot write {self.folder}: {err.strerror or err}; "
                              f"{checkpoint_kept(self.last_checkpoint)}") from None

    def quiet_writer_thread(self) -> None:
        """The writer writes from its own thread, which prints the traceback of a failed write
        before the writer raises the same error on its next call (where it becomes one line);
        that traceback is left out while this logger is open."""
        if self.quieted is not None:
            return
        previous = threading.excepthook

        def hook(args):
            if not (issubclass(args.exc_type, OSError) and type(args.thread).__module__.startswith("tensorboard.")):
                previous(args)

        threading.excepthook = hook
        self.quieted = (previous, hook)
