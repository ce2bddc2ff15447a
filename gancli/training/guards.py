"""What stops a run early: non-finite values (the divergence guard) and SIGINT/SIGTERM.

The guard keeps, on the device, the first step whose statistics were not finite; it is read
with the losses once per logging interval and before every checkpoint, so watching for NaN
costs no host synchronisation per step. The signal handlers only set a flag that the loop
checks between steps: nothing is written from inside a handler.
"""

from __future__ import annotations

import signal
import threading
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

    def observe(self, stats: torch.Tensor, step: int) -> None:
        """Remember `step` if `stats` holds a non-finite value and no earlier step did."""
        bad = ~torch.isfinite(stats).all() & (self.first_bad_step < 0)
        self.first_bad_step = torch.where(bad, step, self.first_bad_step)

    def probe(self, parameters: Iterable[torch.Tensor]) -> torch.Tensor:
        """(first bad step or -1, 1 if every parameter is finite), still on the device."""
        norms = torch._foreach_norm([p.detach() for p in parameters])
        finite = torch.isfinite(torch.stack(norms)).all()
        return torch.stack([self.first_bad_step.float(), finite.float()])

    def reset(self) -> None:
        self.first_bad_step.fill_(-1)


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
