"""How the library tells its caller what a run is doing: a small interface the caller implements.

The library never picks a user interface; `gancli.cli.progress` implements this one with Rich
progress bars on a terminal and plain lines elsewhere.
"""

from __future__ import annotations

from typing import Any


class Reporter:
    """What the trainer tells its caller; this base class says nothing."""

    def step_size(self, images_per_step: int) -> None: ...  # before `start`: real images a step takes
    def start(self, total_steps: int, steps_per_epoch: int, first_step: int = 0) -> None: ...
    def advance(self, step: int, epoch: int) -> None: ...  # after every step; reads nothing from the device
    def metrics(self, metrics: dict[str, Any]) -> None: ...  # every `log_every` steps: the interval's readings
    def scores(self, step: int, scores: dict[str, float]) -> None: ...  # every `eval_every` steps
    def notify(self, text: str) -> None: ...
    def stop(self) -> None: ...
