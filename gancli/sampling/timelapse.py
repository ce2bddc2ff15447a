"""The training timelapse: the fixed-latent grids, in step order, as one animated GIF, and as an
MP4 too when imageio-ffmpeg (which carries an ffmpeg binary) is installed."""

from __future__ import annotations

import importlib.util
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from gancli.core.files import atomic_path, write_file
from gancli.errors import GancliError

FRAME_MS = 400


def write_timelapse(grids: list[Path], out: Path, frame_ms: int = FRAME_MS) -> Path | None:
    """An animated GIF with one frame per grid, in the order given; None when there is no grid."""
    if not grids:
        return None
    frames = []
    for path in grids:
        try:
            with Image.open(path) as grid:
                frames.append(grid.convert("RGB"))
        except OSError as err:  # a grid cut short or overwritten: PIL says which way
            raise GancliError(f"{path}: not a readable image grid ({err})") from None
    write_file(Path(out), lambda tmp: frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                                                     duration=frame_ms, loop=0))
    if importlib.util.find_spec("imageio_ffmpeg") is not None:
        write_mp4(frames, Path(out).with_suffix(".mp4"), frame_ms)
    return Path(out)


def write_mp4(frames: list[Image.Image], out: Path, frame_ms: int) -> None:
    """The frames as an H.264 MP4 (even sides, yuv420p: what players and browsers take); a
    failure (a full disk, ffmpeg's own) is one `GancliError` line naming the file."""
    import imageio_ffmpeg

    try:
        with tempfile.TemporaryDirectory(prefix="gancli-timelapse-") as folder:
            for index, frame in enumerate(frames):
                frame.save(Path(folder) / f"frame-{index:05d}.png")
            with atomic_path(out) as tmp:
                subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
                                "-framerate", f"{1000 / frame_ms:g}", "-i", str(Path(folder) / "frame-%05d.png"),
                                "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-c:v", "libx264",
                                "-f", "mp4", str(tmp)], check=True, capture_output=True)
    except OSError as err:
        raise GancliError(f"cannot write {out}: {err.strerror or err}") from None
    except subprocess.CalledProcessError as err:
        said = (err.stderr or b"").decode("utf-8", "replace").strip().splitlines() or [f"exit {err.returncode}"]
        raise GancliError(f"cannot write {out}: ffmpeg failed ({said[-1]})") from None
