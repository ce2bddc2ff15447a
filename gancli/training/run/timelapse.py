"""Keeping a run's timelapse GIF up to date off the training thread, so it costs the step nothing."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from gancli.sampling.timelapse import write_timelapse


class Timelapse:
    """One background writer; a rebuild asked for while one runs replaces any still waiting."""

    def __init__(self):
        self.pool: ThreadPoolExecutor | None = None
        self.pending: Future | None = None

    def submit(self, grids: list[Path], out: Path) -> None:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="gancli-timelapse")
        if self.pending is not None:
            self.pending.cancel()  # if it has not started, the newer list of grids supersedes it
        self.pending = self.pool.submit(write_timelapse, list(grids), out)

    def close(self) -> None:
        """Wait for the last rebuild; a failed one (a full disk) costs the GIF, never the run."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None
        self.pending = None
