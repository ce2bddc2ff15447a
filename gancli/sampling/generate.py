"""Latents to images: the one function every generated image passes through, and sampling a
checkpoint alone; and the batch that halves when the device runs out of memory."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, TypeVar

import torch
from torch import nn

from gancli.checkpoints.generator import LoadedGenerator, load_generator
from gancli.core.device import resolve_device
from gancli.core.pixels import save_grid, to_uint8
from gancli.errors import GancliError

MIN_BATCH = 1  # the floor: an image that does not fit alone will not fit in any batch
Result = TypeVar("Result")


class BatchBackoff:
    """The batch a job runs its device calls at: halved on each out-of-memory error of the device,
    with one notice, down to `MIN_BATCH`; below that, one line naming the batch it tried."""

    def __init__(self, batch_size: int, job: str, device: torch.device | str,
                 notify: Callable[[str], None] | None = None):
        self.size = self.asked = max(MIN_BATCH, batch_size)
        self.job, self.device, self.notify = job, device, notify

    def halve(self, tried: int) -> None:
        """After `tried` images ran out of memory: the next batch is half that, or raise at the floor."""
        if torch.device(self.device).type == "cuda":
            torch.cuda.empty_cache()  # what the failed call cached goes back before the retry
        if tried <= MIN_BATCH:
            halved = f", halved from {self.asked}" if self.asked > tried else ""
            raise GancliError(f"{self.job}: out of memory on {self.device} at a batch of {tried} "
                              f"image{'s' if tried != 1 else ''}{halved}; free memory on the device "
                              f"or use another --device")
        if self.size == self.asked and self.notify is not None:
            self.notify(f"{self.job}: out of memory on {self.device} at a batch of {tried}; going on with "
                        f"smaller batches (halved until they fit, down to {MIN_BATCH})")
        self.size = max(MIN_BATCH, tried // 2)

    def run(self, count: int, call: Callable[[int, int], Result]) -> Iterator[Result]:
        """`call(start, stop)` over `count` items, `self.size` at a time, halving on out of memory."""
        start = 0
        while start < count:
            stop = min(count, start + self.size)
            try:
                result = call(start, stop)
            except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError, whichever device raised it
                self.halve(stop - start)
                continue
            yield result
            start = stop


@torch.no_grad()
def images_from_latents(generator: nn.Module, latents: torch.Tensor, device: torch.device | str,
                        batch_size: int = 256, labels: torch.Tensor | None = None,
                        notify: Callable[[str], None] | None = None) -> Iterator[torch.Tensor]:
    """uint8 image batches (B, C, H, W) on the CPU, one generator call per `batch_size` latents
    (halved, with a notice through `notify`, when the device runs out of memory); a conditional
    generator makes image i of class `labels[i]`.

    The generator runs in eval mode (batch norm uses its running statistics, as a user's sample
    would) and is put back in the mode it was in; images are rounded exactly as a PNG holds them.
    """
    was_training = generator.training
    generator.eval()

    def make(start: int, stop: int) -> torch.Tensor:
        chunk = latents[start:stop].to(device)
        if labels is None:
            return to_uint8(generator(chunk)).cpu()
        return to_uint8(generator(chunk, labels[start:stop].to(device, torch.int64))).cpu()

    try:
        yield from BatchBackoff(batch_size, "generating images", device, notify).run(latents.shape[0], make)
    finally:
        generator.train(was_training)


def class_labels(model: LoadedGenerator, n: int, labels: torch.Tensor | None = None) -> torch.Tensor | None:
    """The labels `n` images are made for: `labels` as given, else (for a conditional generator)
    every class in turn, 0, 1, ..., K-1, 0, ...; None for an unconditional one."""
    if labels is not None or not model.classes:
        return labels
    return torch.arange(n) % len(model.classes)


def generate(model: LoadedGenerator, n: int, seed: int = 0, batch_size: int = 256,
             device: torch.device | str = "cpu", labels: torch.Tensor | None = None) -> torch.Tensor:
    """`n` images as uint8 (n, C, H, W); the latents come from a CPU generator seeded with
    `seed`, so the same seed gives the same latents on every device (and the same images on the
    same machine; elsewhere, the same to rounding). A conditional generator
    makes image i of class `labels[i]`, by default the classes in turn (`class_labels`)."""
    latents = model.sample_latent(n, generator=torch.Generator().manual_seed(seed))
    labels = class_labels(model, n, labels)
    return torch.cat(list(images_from_latents(model.generator, latents, device, batch_size, labels)))


def sample_grid(checkpoint: Path, out: Path, n: int = 64, seed: int = 0, nrow: int | None = None,
                device: str = "auto", ema: bool = True) -> Path:
    """Write a PNG grid of `n` images from `checkpoint` to `out`; from its EMA generator when it
    has one, unless `ema` is False."""
    target = resolve_device(device)
    model = load_generator(checkpoint, target, ema=ema)
    save_grid(generate(model, n, seed, device=target), out, nrow)
    return Path(out)
