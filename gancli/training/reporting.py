"""How the library tells its caller what a run is doing: a small interface the caller implements.

The library never picks a user interface; `gancli.cli.progress` implements this one with Rich
progress bars on a terminal and plain lines elsewhere.
"""

from __future__ import annotations

from typing import Any


class Reporter:
    """What the trainer tells its caller; this base class says nothing."""

    def start(self, total_steps: int, steps_per_epoch: int, first_step: int = 0) -> None: ...
    def advance(self, step: int, epoch: int) -> None: ...
    def metrics(self, metrics: dict[str, Any]) -> None: ...
    def notify(self, text: str) -> None: ...
    def stop(self) -> None: ...
