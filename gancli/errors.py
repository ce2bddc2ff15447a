"""The exception gancli raises for failures a user can fix, and every kind of it."""

from __future__ import annotations

import os
import sys
from typing import Callable, NoReturn


class GancliError(Exception):
    """A failure worth one clear line on stderr and a non-zero exit, not a traceback.

    `exit_code` lets a caller distinguish kinds of failure in scripts.
    """

    exit_code = 1
    label = "Error"  # how the command line introduces the message

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class RegistryError(GancliError):
    """An architecture, dataset or loss that is not registered, or a plugin that is broken."""


class ConfigError(GancliError):
    """A config key or value that is wrong; the message names the key."""


class CheckpointError(GancliError):
    """A checkpoint file that is missing, corrupt, or does not match its architecture."""


class TrainingInterrupted(GancliError):
    """SIGINT or SIGTERM arrived; a checkpoint was written before stopping."""

    label = "Interrupted"


class TrainingDiverged(GancliError):
    """A loss or a weight became NaN or infinite."""

    exit_code = 3


class TrainingUnhealthy(TrainingDiverged):
    """The discriminator saturated or the generator collapsed, and `on_collapse` stopped the run
    (at once, or once rollbacks ran out); a checkpoint was written first."""

    exit_code = 4


class FailedElsewhere(GancliError):
    """Under torchrun, rank 0 failed and said why; this rank stops with the same exit code."""


def debug_requested() -> bool:
    """GANCLI_DEBUG=1: show tracebacks instead of one-line errors."""
    return os.environ.get("GANCLI_DEBUG", "") not in ("", "0")


def run_script(main: Callable[[], int | None]) -> NoReturn:
    """Exit with what `main` returns; a GancliError ends as one line on stderr and its exit code,
    as in the command line (a traceback with GANCLI_DEBUG=1). For scripts built on gancli."""
    try:
        code = main()
    except GancliError as err:
        if debug_requested():
            raise
        print(f"{err.label}: {err}", file=sys.stderr)
        code = err.exit_code
    sys.exit(code)
