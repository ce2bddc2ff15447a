"""What stops a run early: non-finite values (the divergence guard) and SIGINT/SIGTERM.

The guard keeps, on the device, the first step whose statistics were not finite; it is read
with the losses once per logging interval and before every checkpoint, so watching for NaN
costs no host synchronisation per step. The signal handlers only set a flag that the loop
checks between steps: nothing is written from inside a handler.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Iterable

import torch

from gancli.errors import GancliError

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal, as shells report it


class TrainingInterrupted(GancliError):
    """SIGINT or SIGTERM arrived; a checkpoint was written before stopping."""

    label = "Interrupted"


class TrainingDiverged(GancliError):
    """A loss or a weight became NaN or infinite."""

    exit_code = 3


class DivergenceGuard:
    def __init__(self, device: torch.device):
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=device)

    def observe(self, stats: torch.Tensor, step: torch.Tensor | int) -> None:
        """Remember `step` (the device's step counter, in a captured step) if `stats` holds a
        non-finite value and no earlier step did. In place: a captured step keeps updating the
        tensor it was captured with."""
        bad = ~torch.isfinite(stats).all() & (self.first_bad_step < 0)
        self.first_bad_step.copy_(torch.where(bad, step, self.first_bad_step))

    def probe(self, parameters: Iterable[torch.Tensor]) -> torch.Tensor:
        """(first bad step or -1, 1 if every parameter is finite), still on the device."""
        norms = torch._foreach_norm([p.detach() for p in parameters])
        finite = torch.isfinite(torch.stack(norms)).all()
        return torch.stack([self.first_bad_step.float(), finite.float()])

    def reset(self) -> None:
        self.first_bad_step.fill_(-1)


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


def stopped_twice(first: signal.Signals, step: int, kept: str) -> TrainingInterrupted:
    """A second signal stops at once; `kept` says which complete checkpoint remains."""
    return TrainingInterrupted(f"stopped at once by a second signal after {first.name}, at step {step}; "
                               f"a checkpoint being written then was not kept; {kept}", exit_code=EXIT_CODES.get(first, 1))


def ending_state(err: BaseException | None) -> str:
    """How a run ended, in one word for status.json."""
    if err is None:
        return "finished"
    return "interrupted" if isinstance(err, TrainingInterrupted) else \
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

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.received, 1)
