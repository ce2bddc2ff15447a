"""Reading every file of an image folder once, on every core: what each file is, why training
would skip it, what to find duplicates by, and (for a pack) its pixels at the packed size.

A file is judged as the folder dataset judges it (`folder.read_square`): its header first (too
large or too thin is never decoded), then a full decode, so a truncated file is found here and
not halfway through a run. Worker processes take the files in chunks and ignore Ctrl-C, which
the process that started them handles.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Iterator

from PIL import Image, UnidentifiedImageError

from gancli.datasets.fitting import fit_picture, refusal
from gancli.errors import GancliError

THUMB_SIDE = 16  # near duplicates are compared on grayscale thumbnails this size
CHUNK = 256      # files per task of a worker: enough that handing the task over costs little
TRANSPARENT_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
GRAYSCALE_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}


@dataclass(frozen=True)
class Fitting:
    """What a pack makes of each image: `size` square by `fit` (crop or pad), in `mode` (RGB or L)."""

    size: int
    fit: str = "crop"
    mode: str = "RGB"


@dataclass(frozen=True)
class FileRecord:
    """One file of a folder, as read."""

    path: str                    # relative to the folder
    file_size: int               # bytes
    problem: str | None = None   # why training skips it; None when training uses it
    format: str | None = None    # Pillow's name of the file format: PNG, JPEG, ...
    mode: str | None = None      # Pillow's pixel mode: L, RGB, RGBA, P, ...
    width: int = 0
    height: int = 0
    transparent: bool = False    # an alpha channel or a transparent palette colour, dropped by training
    pixel_digest: str = ""       # of the decoded pixels: identical images have the same
    thumbnail: bytes = b""       # THUMB_SIDE x THUMB_SIDE grayscale of the image as training sees it
    file_digest: str = ""        # sha256 of the file's bytes (when packing)
    pixels: bytes | None = None  # the fitted image, height x width x channels (when packing)

    @property
    def used(self) -> bool:
        return self.problem is None


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_file(root: str, relative: str, fitting: Fitting | None = None) -> FileRecord:
    """The record of `root/relative`: what it is and whether training uses it; with `fitting`,
    its bytes' digest and its pixels as a pack stores them, else what duplicates are found by."""
    path = os.path.join(root, relative)
    try:
        file_size = os.path.getsize(path)
    except OSError as err:
        return FileRecord(relative, 0, f"unreadable: {err.strerror or one_line(err)}")
    if file_size == 0:
        return FileRecord(relative, 0, "empty file (0 bytes)")
    header: dict = {}
    try:
        with Image.open(path) as image:  # the header only, until load()
            header = dict(format=image.format, mode=image.mode, width=image.width, height=image.height,
                          transparent=image.mode in TRANSPARENT_MODES or "transparency" in image.info)
            problem = refusal(image.width, image.height)
            if problem is not None:
                return FileRecord(relative, file_size, problem, **header)
            image.load()
            if fitting is not None:
                fitted = fit_picture(image, fitting.size, fitting.fit, fitting.mode)
                return FileRecord(relative, file_size, file_digest=file_sha256(path), pixels=fitted.tobytes(),
                                  **header)
            digest = hashlib.sha1(f"{image.mode} {image.width}x{image.height} ".encode())
            digest.update(image.tobytes())
            # The thumbnail of the image as training converts it (to RGB), so what fails there fails here.
            thumbnail = image.convert("RGB").convert("L").resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX)
            return FileRecord(relative, file_size, pixel_digest=digest.hexdigest(), thumbnail=thumbnail.tobytes(),
                              **header)
    except UnidentifiedImageError:
        return FileRecord(relative, file_size, "not an image Pillow can read")
    except Image.DecompressionBombError:
        return FileRecord(relative, file_size, "too large to decode safely (Pillow's decompression-bomb limit)",
                          **header)
    except Exception as err:  # each of Pillow's decoders fails in its own way on a damaged file
        return FileRecord(relative, file_size, f"damaged or truncated ({one_line(err)})", **header)


def read_files(root: str, relatives: list[str], fitting: Fitting | None) -> list[FileRecord]:
    return [read_file(root, relative, fitting) for relative in relatives]


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def process_context():
    # Forking costs no second import of gancli and torch; elsewhere a fork is unsafe or absent.
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def scan(root: Path, files: list[Path], fitting: Fitting | None = None,
         workers: int | None = None) -> Iterator[FileRecord]:
    """The record of each of `files` (paths under `root`), in their order, read by `workers`
    processes (default: one per core this process may use)."""
    relatives = [str(path.relative_to(root)) for path in files]
    chunks = [relatives[start:start + CHUNK] for start in range(0, len(relatives), CHUNK)]
    workers = min(workers or usable_cores(), len(chunks))
    if workers <= 1:
        for chunk in chunks:
            yield from read_files(str(root), chunk, fitting)
        return
    pool = ProcessPoolExecutor(workers, mp_context=process_context(), initializer=ignore_interrupts)
    try:
        for records in pool.map(read_files, repeat(str(root)), chunks, repeat(fitting)):
            yield from records
    except BrokenProcessPool as err:
        raise GancliError(f"reading {root}: a worker process stopped ({err or 'killed'}); "
                          f"try again with --workers 1") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
