"""How a `GancliError` reads on stderr: one line, and under torchrun only where it says something new."""

from __future__ import annotations

from gancli.errors import GancliError
from gancli.training.distributed import FailedElsewhere, env_rank
from gancli.training.guards import TrainingDiverged, TrainingInterrupted


def error_line(err: GancliError) -> str | None:
    """How this process reports `err`: rank 0 as usual; another rank says nothing when every
    rank stops with the same error (rank 0 reports it), else names itself."""
    rank = env_rank()
    if rank == 0:
        return f"{err.label}: {err}"
    if isinstance(err, (FailedElsewhere, TrainingDiverged, TrainingInterrupted)):
        return None
    return f"{err.label} (rank {rank}): {err}"
