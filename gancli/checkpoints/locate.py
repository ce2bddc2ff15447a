"""Which checkpoint file a command means: a file as given, or a run folder's latest (or best)."""

from __future__ import annotations

from pathlib import Path

from gancli.errors import CheckpointError

LAST, BEST = "last.safetensors", "best.safetensors"


def checkpoint_in(path: Path, best: bool = False) -> Path:
    """`path` when it is a file; in a run folder, `checkpoints/last.safetensors`, or with `best`
    `checkpoints/best.safetensors` (written by runs that score FID while training)."""
    path = Path(path)
    if not path.is_dir():
        if best:
            raise CheckpointError(f"--best picks a run folder's best checkpoint; {path} is not a folder")
        return path
    chosen = path / "checkpoints" / (BEST if best else LAST)
    if not chosen.is_file():
        what = "a best checkpoint (train with --eval-every to keep one)" if best else "a checkpoint yet"
        raise CheckpointError(f"{path} is a folder without {what}: no {chosen.relative_to(path)}")
    return chosen
