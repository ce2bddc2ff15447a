"""How a `GancliError` reads on stderr: one line, and under torchrun only where it says something new."""

from __future__ import annotations

import os

from gancli.errors import GancliError


def error_line(err: GancliError) -> str | None:
    """How this process reports `err`: rank 0 as usual; another rank says nothing when every
    rank stops with the same error (rank 0 reports it), else names itself."""
    if int(os.environ.get("RANK", "0")) == 0:  # as env_rank reads it, without loading torch for a typo
        return f"{err.label}: {err}"
    from gancli.errors import FailedElsewhere, TrainingDiverged, TrainingInterrupted
    from gancli.training.step.distributed import env_rank

    if isinstance(err, (FailedElsewhere, TrainingDiverged, TrainingInterrupted)):
        return None
    return f"{err.label} (rank {env_rank()}): {err}"
