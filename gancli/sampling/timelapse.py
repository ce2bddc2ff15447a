"""The training timelapse: the fixed-latent grids, in step order, as one animated GIF."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from gancli.core.files import atomic_path

FRAME_MS = 400


def write_timelapse(grids: list[Path], out: Path, frame_ms: int = FRAME_MS) -> Path | None:
    """An animated GIF with one frame per grid, in the order given; None when there is no grid."""
    if not grids:
        return None
    frames = []
    for path in grids:
        with Image.open(path) as grid:
            frames.append(grid.convert("RGB"))
    with atomic_path(Path(out)) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return Path(out)
