"""Writing a checkpoint's images: a grid, one PNG per image, an .npz array, or a latent walk.

A grid or a walk's strip is written in the format its file name says (.png, .jpg or .jpeg,
.webp), and a name in any other is refused before any image is generated; `scale` enlarges them
pixel for pixel, for grids of small images.

A conditional checkpoint makes the classes asked for (`classes`): `n` images of each, with the
same latents for every class, so a grid of several classes has one row per class and each
column one latent. Asked for no class, it makes every class in turn. An .npz then holds
`labels`, file names start with the class, and a latent walk stays within its one class.

Images are generated `batch_size` at a time and handed on as they come, so `-n 50000` never
holds all images in memory; PNG files are encoded by a pool of threads (zlib releases the GIL)
while the generator makes the next batch.
"""

from __future__ import annotations

import os
import zipfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image, features

from gancli.checkpoints.generator import LoadedGenerator, load_generator
from gancli.core.device import resolve_device
from gancli.core.files import atomic_path, write_file
from gancli.core.pixels import grid_image
from gancli.errors import ConfigError, GancliError
from gancli.sampling.generate import class_labels, images_from_latents
from gancli.sampling.labels import class_file_names, labels_per_row, parse_classes
from gancli.sampling.latents import latents_for, walk

TEMPORARY = ".tmp"  # the suffix of an image being written

FORMATS = ("png", "npz")
GIF_FRAME_MS = 80
# A picture's file name says its format; Pillow writes each (WebP where it was built with libwebp).
PICTURE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}}  # JPEG's artefacts at its finest; WebP exact


@dataclass
class SampleRequest:
    checkpoint: Path
    output: Path | None = None         # grid, .npz or strip; default samples.png / samples.npz
    n: int = 64
    seed: int = 0
    seeds: list[int] | None = None     # one seed per image; wins over n and seed
    nrow: int | None = None
    individual: Path | None = None     # a folder for one PNG per image instead of a grid
    format: str | None = None          # png or npz; default: npz for an -o ending in .npz, else png
    interpolate: int | None = None     # steps between consecutive seeds of a latent walk
    truncation: float | None = None
    batch_size: int = 256
    device: str = "auto"
    workers: int | None = None         # PNG encoding threads; default: one per CPU core
    ema: bool = True                   # the EMA generator when the checkpoint has one
    classes: str | None = None         # a conditional checkpoint's classes: "7", "cat,dog", "all"
    scale: int = 1                     # each pixel drawn as scale x scale pixels, in every picture written

    def __post_init__(self):
        if self.format is None:
            self.format = "npz" if self.output is not None and self.output.suffix.lower() == ".npz" else "png"
        if self.format not in FORMATS:
            raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.batch_size < 1 or self.n < 1:
            raise ConfigError("--batch-size and -n must be positive")
        if self.individual is not None and self.format != "png":
            raise ConfigError("--individual writes PNG files; it cannot be combined with --format npz")
        if self.interpolate is not None:
            if self.interpolate < 1:
                raise ConfigError(f"--interpolate must be at least 1, got {self.interpolate}")
            if not self.seeds or len(self.seeds) < 2:
                raise ConfigError("--interpolate walks between seeds: give at least two with --seeds")
            if self.format != "png" or self.individual is not None:
                raise ConfigError("--interpolate writes a PNG strip and a GIF; drop --format npz and --individual")
        if self.scale < 1:
            raise ConfigError(f"--scale must be at least 1, got {self.scale}")
        if self.format == "npz":
            if self.scale != 1:
                raise ConfigError("--scale enlarges pictures; an .npz holds the generator's own pixels")
            if self.output is not None and self.output.suffix.lower() != ".npz":
                raise ConfigError(f"--format npz writes an .npz file; name it so (-o {self.output.with_suffix('.npz')})")


@dataclass
class SampleResult:
    count: int
    paths: list[Path]


def picture_format(path: Path) -> str:
    """The format Pillow writes `path` in, by its extension; a name in another format is refused."""
    kind = PICTURE_FORMATS.get(path.suffix.lower())
    if kind is None:
        what = f"{path.suffix!r} files" if path.suffix else "a name without an extension"
        raise ConfigError(f"cannot write {path}: gancli writes grids as .png, .jpg, .jpeg or .webp, and images "
                          f"as an array with .npz, not {what}")
    if kind == "WEBP" and not features.check("webp"):
        raise ConfigError(f"cannot write {path}: this Pillow was built without WebP; write .png or .jpg")
    return kind


def enlarged(image: Image.Image, scale: int) -> Image.Image:
    """Each pixel as `scale` x `scale` pixels of its colour: nothing blurred, nothing invented."""
    return image if scale == 1 else image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def save_picture(image: Image.Image, path: Path, scale: int = 1) -> None:
    """`image` written to `path` in the format its name says, each pixel `scale` x `scale`."""
    kind = picture_format(path)
    image = enlarged(image, scale)
    write_file(path, lambda tmp: image.save(tmp, format=kind, **SAVE_OPTIONS.get(kind, {})))


def as_pil(pixels: torch.Tensor) -> Image.Image:
    array = pixels.permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


class ParallelPngWriter:
    """Encodes PNG files on a thread pool; at most a bounded number wait, to bound memory."""

    def __init__(self, workers: int | None = None, scale: int = 1):
        self.workers = workers or os.cpu_count() or 2
        self.scale = scale
        self.pool = ThreadPoolExecutor(self.workers)
        self.pending: deque[Future] = deque()

    def submit(self, pixels: torch.Tensor, path: Path) -> None:
        while len(self.pending) >= 64 * self.workers:
            self.pending.popleft().result()
        self.pending.append(self.pool.submit(save_png, enlarged(as_pil(pixels), self.scale), path))

    def close(self) -> None:
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def save_png(image, path: Path) -> None:
    """`image` as a PNG at `path`, through a temporary name and one rename: a process killed while
    writing leaves no partial image under its name. No fsync: a folder of samples is made again
    in seconds, and one fsync per image would cost more than the images."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY}")
    try:
        image.save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_individual(batches: Iterator[torch.Tensor], folder: Path, names: list[str], workers: int | None,
                     scale: int = 1) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f".*.png.*{TEMPORARY}"):  # what a killed earlier run was writing
        stale.unlink(missing_ok=True)
    writer = ParallelPngWriter(workers, scale)
    paths: list[Path] = []
    try:
        for batch in batches:
            for pixels in batch:
                paths.append(folder / names[len(paths)])
                writer.submit(pixels, paths[-1])
    finally:
        writer.close()
    return paths


def write_npz(batches: Iterator[torch.Tensor], path: Path, count: int, shape: tuple[int, int, int],
              seeds: list[int] | None, labels: torch.Tensor | None = None) -> None:
    """An .npz with `images` (N, H, W, C) uint8, as numpy.load reads it, streamed batch by batch,
    `seeds` when given, and each image's class as `labels` for a conditional generator."""
    channels, height, width = shape
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", allowZip64=True) as archive:
        with archive.open("images.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_2_0(
                member, {"descr": "|u1", "fortran_order": False, "shape": (count, height, width, channels)})
            for batch in batches:
                member.write(batch.permute(0, 2, 3, 1).contiguous().numpy().tobytes())
        if seeds:
            with archive.open("seeds.npy", "w") as member:
                np.lib.format.write_array(member, np.asarray(seeds * (count // len(seeds)), dtype=np.int64))
        if labels is not None:
            with archive.open("labels.npy", "w") as member:
                np.lib.format.write_array(member, labels.numpy().astype(np.int64))


def write_walk(model: LoadedGenerator, latents: torch.Tensor, steps: int, strip: Path, device,
               label: int | None = None, scale: int = 1) -> list[Path]:
    """A strip (one row per pair of seeds) and an animated GIF walking through all of them; a
    conditional generator walks within class `label`."""
    path_latents = walk(latents, steps).flatten(0, 1)             # (S - 1) x (steps + 1) points
    labels = None if label is None else torch.full((path_latents.shape[0],), label, dtype=torch.int64)
    frames = torch.cat(list(images_from_latents(model.generator, path_latents, device, labels=labels)))
    save_picture(grid_image(frames, nrow=steps + 1), strip, scale)
    # The GIF shows each shared end point once: drop the first frame of every row after the first.
    keep = [i for i in range(frames.shape[0]) if i < steps + 1 or i % (steps + 1) != 0]
    pictures = [enlarged(as_pil(frames[i]), scale) for i in keep]
    gif = strip.with_suffix(".gif")
    try:
        with atomic_path(gif) as tmp:
            pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:],
                             duration=GIF_FRAME_MS, loop=0)
    except OSError as err:
        raise GancliError(f"cannot write {gif}: {err.strerror or err}") from None
    return [strip, gif]


def walk_class(model: LoadedGenerator, chosen: list[int] | None) -> int | None:
    """The one class a conditional generator's latent walk stays within."""
    if not model.classes:
        return None
    if chosen is None or len(chosen) != 1:
        raise ConfigError("--interpolate on a conditional checkpoint walks within one class: give one --class")
    return chosen[0]


def write_samples(request: SampleRequest, notify: Callable[[str], None] | None = None) -> SampleResult:
    """Generate the requested images from the checkpoint and write them as asked; `notify` hears
    when the batch halves for want of device memory."""
    target = resolve_device(request.device)
    model = load_generator(request.checkpoint, target, ema=request.ema)  # a damaged checkpoint is the first thing said
    if request.format == "png" and request.individual is None and request.output is not None:
        picture_format(request.output)  # refused before any image is made
    chosen = (parse_classes(request.classes, model.classes, request.checkpoint)
              if request.classes is not None else None)  # an empty --class is a mistake, not all classes
    latents = latents_for(model, request.n, request.seed, request.seeds, request.truncation)
    per_class = latents.shape[0]
    if chosen is not None:  # the same latents for every class asked for: one row each
        labels = labels_per_row(chosen, per_class)
        latents = latents.repeat(len(chosen), *([1] * (latents.dim() - 1)))
    else:
        labels = class_labels(model, latents.shape[0])
    count = latents.shape[0]
    output = request.output or Path("samples.npz" if request.format == "npz" else "samples.png")
    try:
        if request.interpolate is not None:
            label = walk_class(model, chosen)
            output.parent.mkdir(parents=True, exist_ok=True)
            return SampleResult(per_class, write_walk(model, latents[:per_class], request.interpolate, output,
                                                      target, label, request.scale))
        batches = images_from_latents(model.generator, latents, target, request.batch_size, labels, notify)
        if request.individual is not None:
            names = ([f"seed{s:04d}.png" for s in request.seeds] if request.seeds
                     else [f"{i:06d}.png" for i in range(per_class)])
            names = names * (count // per_class)
            if labels is not None:
                prefixes = class_file_names(model.classes)
                names = [f"{prefixes[label]}-{name}" for label, name in zip(labels.tolist(), names)]
            return SampleResult(count, write_individual(batches, request.individual, names, request.workers,
                                                         request.scale))
        if request.format == "npz":
            output.parent.mkdir(parents=True, exist_ok=True)
            write_npz(batches, output, count, model.info.image_shape.as_tuple(), request.seeds, labels)
            return SampleResult(count, [output])
        nrow = request.nrow or (per_class if chosen is not None and len(chosen) > 1 else None)
        save_picture(grid_image(torch.cat(list(batches)), nrow), output, request.scale)
        return SampleResult(count, [output])
    except OSError as err:
        raise GancliError(f"cannot write {err.filename or 'samples'}: {err.strerror or err}") from None
