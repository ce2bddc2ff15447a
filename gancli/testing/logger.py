"""A conformance kit for logger authors: `check_logger(name)` in a package's tests.

    from gancli.testing import check_logger

    def test_my_logger_conforms(tmp_path):
        check_logger("my-gans:wandb", tmp_path)

It finds the logger through the registry, as `gancli train --logger` does, and drives it as a run
does: built with no arguments, opened on a run folder, given scalars and a uint8 sample grid,
closed; then opened again at a later step, as a resumed run does. Name it as `package:name`, so another package's logger of the same name never
answers for it. A broken promise raises `ConformanceError` saying which.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gancli.loggers import Logger, loggers
from gancli.testing.conformance import ConformanceError, expect

CONFIG = {"arch": "dcgan", "data": "synthetic", "steps": 4, "batch_size": 8}


def check_logger(name: str, run_dir: Path) -> None:
    """Check that logger `name` (or `package:name`) keeps gancli's contract, writing under `run_dir`."""
    logger_class = loggers.get(name)
    expect(isinstance(logger_class, type) and issubclass(logger_class, Logger),
           f"logger '{name}' must be a gancli.loggers.Logger subclass, got {logger_class!r}")
    expect(isinstance(logger_class.description, str) and logger_class.description.strip() != "",
           "a logger needs a one-line `description` for `gancli list`")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    grid = torch.randint(0, 256, (3, 34, 34), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for first_step, steps in ((0, (2, 4)), (2, (4,))):  # a new run, then one resumed after step 2
        logger = logger_class()
        _call(logger.open, "open", run_dir, dict(CONFIG), first_step)
        for step in steps:
            _call(logger.scalars, "scalars", step, {"loss_d": 1.25, "loss_g": 0.75, "d_real": 0.5, "images_per_s": 10.0})
            _call(logger.image, "image", step, "samples", grid)
        _call(logger.scalars, "scalars", steps[-1], {"fid": 42.0, "best_fid": 42.0})
        _call(logger.close, "close")


def _call(method, what: str, *args) -> None:
    try:
        method(*args)
    except Exception as err:
        raise ConformanceError(f"the logger's {what} raised {type(err).__name__}: {err}") from err
