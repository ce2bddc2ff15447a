"""What stops a run early, and what it then says: divergence (found by `step.divergence`), a
saturated discriminator or collapsed generator (found by `run.health`, with `on_collapse`) and
SIGINT/SIGTERM.

The signal handlers only set a flag that the loop checks between steps: nothing is written from
inside a handler.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from gancli.errors import TrainingDiverged, TrainingInterrupted, TrainingUnhealthy

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal, as shells report it



def diverged(problem: str, run_dir: Path, last_checkpoint: Path | None, rolling_back: bool) -> TrainingDiverged:
    """The error a divergence stops with, and advice that works: resume with a lower learning rate
    from `last_checkpoint`, or, before any checkpoint, start again with one."""
    if last_checkpoint is not None:
        hint = "" if rolling_back else "; or train with --on-nan rollback"
        return TrainingDiverged(f"training diverged: {problem}; stopped (the last good checkpoint, {last_checkpoint}, "
                                f"is untouched). Resume with a lower --lr: gancli train --resume {run_dir} --lr LR{hint}")
    return TrainingDiverged(f"training diverged: {problem}; stopped (no checkpoint was written before it). Start it "
                            f"again with a lower --lr: gancli train --config {Path(run_dir) / 'config.yaml'} "
                            f"--overwrite --lr LR")


def unhealthy(message: str, remedy: str, run_dir: Path, checkpoint: Path, why: str = "") -> TrainingUnhealthy:
    """The error `on_collapse` stops with, once the run as it stands is checkpointed: what was
    seen (`message`), how to train on regardless, and what to change (`remedy`); `why` says why
    it did not roll back instead."""
    because = f" ({why})" if why else ""
    return TrainingUnhealthy(f"training stopped{because}: {message}; checkpoint: {checkpoint}. Train on regardless: "
                             f"gancli train --resume {run_dir} --on-collapse warn; or resume with {remedy}")


def stopped_twice(first: signal.Signals, step: int, kept: str) -> TrainingInterrupted:
    """A second signal stops at once; `kept` says which complete checkpoint remains."""
    return TrainingInterrupted(f"stopped at once by a second signal after {first.name}, at step {step}; "
                               f"a checkpoint being written then was not kept; {kept}", exit_code=EXIT_CODES.get(first, 1))


def ending_state(err: BaseException | None) -> str:
    """How a run ended, in one word for status.json."""
    if err is None:
        return "finished"
    return "interrupted" if isinstance(err, TrainingInterrupted) else \
        "unhealthy" if isinstance(err, TrainingUnhealthy) else \
        "diverged" if isinstance(err, TrainingDiverged) else "failed"


def signal_check_due(step: int, last: bool, log_every: int, distributed: bool) -> bool:
    """Whether to look for a stop signal after `step`: every step alone; under data parallelism,
    where agreeing on it is a host all-reduce, every `log_every` steps and at the end."""
    return not distributed or last or step % log_every == 0


def divergence_message(bad_step: int, checked_at: int) -> str:
    if bad_step >= 0:
        return f"the loss became non-finite (NaN or infinite) at step {bad_step}"
    return f"the weights became non-finite (NaN or infinite) by step {checked_at}"


class StopSignals:
    """While active, SIGINT and SIGTERM set `received` instead of killing the process.

    A second signal while the first is being handled (a checkpoint being written) stops at once
    with KeyboardInterrupt; files are written atomically, so no half-written file is left.
    """

    def __init__(self):
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, object] = {}

    def _handle(self, signum, frame):
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # only it may set handlers
            for signum in EXIT_CODES:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
