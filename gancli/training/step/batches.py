"""Training batches from a decoded uint8 dataset: resident on the device, or streamed from the host.

`DeviceBatches`: each epoch is one random permutation of the dataset, generated on the device;
a step indexes it and converts to float there. No Python runs per image and nothing is copied
from the host. `StreamedBatches` serves datasets larger than the memory budget: loader workers
gather each batch on the host into pinned memory, and only the batch crosses to the device.
Both drop the last incomplete batch of an epoch, so every step has the same shape. Both keep
their order as a generator, the epoch's permutation and the position in it, which a checkpoint
saves and `restore` puts back for an exact resume.

With `echo` k > 1 (data echoing) each batch is served k times in a row, so an epoch holds k
times the positions and the step trains on each batch k times, with fresh latents and, under
DiffAugment, fresh augmentation each time; a streamed batch crosses from the host once.

A batch is a `RealBatch`: the images and, for a conditional run, their labels, gathered with the
same indices, on the training device.

A step's batches come in two halves, so that all the device work can be captured in one CUDA
graph: `take(k)` does the host's bookkeeping (the order, the position, the next epoch's
permutation) and returns a `Feed`, the few tensors that change from step to step (the device
batches' indices; the streamed batches' uint8 pixels and labels, still on the host); `realize`
turns a feed into `RealBatch`es with device work only (gather, conversion to [-1, 1]). A
captured step copies each new feed into its static copy: one small copy per step.

Under data parallelism every rank draws the same permutation (same seed) and `next` returns
this rank's share of the global batch: rank r of n takes the r-th of n equal slices. The saved
order, epoch and position describe global batches, so they mean the same on any number of ranks.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Union

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from gancli.config import TrainConfig
from gancli.core.pixels import to_unit_range
from gancli.training.step.distributed import World


class RealBatch(NamedTuple):
    """Real images as floats in [-1, 1], (B, C, H, W), and their int64 labels (B,) when the run is
    conditional."""

    images: torch.Tensor
    labels: torch.Tensor | None = None


#: What changes from one step to the next: the tensors `realize` makes the step's batches from.
Feed = tuple[Optional[torch.Tensor], ...]


def _share(batch_size: int, rank: int, ranks: int) -> tuple[int, int]:
    """(offset, size) of rank `rank`'s slice of a global batch."""
    if batch_size % ranks:
        raise ValueError(f"{batch_size} images per batch do not split evenly over {ranks} processes")
    size = batch_size // ranks
    return rank * size, size


class _EpochOrder:
    """The order both kinds of batches follow: one random permutation per epoch, and how many
    positions of it were taken (a batch per position, or per `echo` positions). Generated where
    `rng` lives, so device batches never touch the host."""

    def __init__(self, images: int, batch_size: int, seed: int, device: torch.device, rank: int, ranks: int,
                 echo: int = 1):
        if images < batch_size:
            raise ValueError(f"the dataset has {images} images, fewer than one batch of {batch_size}; "
                             f"use --batch-size {images} or less")
        self.images = images
        self.batch_size = batch_size  # global: all ranks together
        self.offset, self.share = _share(batch_size, rank, ranks)
        self.echo = echo  # positions each batch is served for, in a row
        self.steps_per_epoch = images // batch_size * echo  # positions per epoch
        self.rng = torch.Generator(device=device).manual_seed(seed)
        self.epoch = 0
        self.position = 0  # positions already taken from the current permutation
        self.order = self._permutation()

    def _permutation(self) -> torch.Tensor:
        return torch.randperm(self.images, generator=self.rng, device=self.rng.device)

    def _turn_epoch_if_done(self) -> bool:
        """Start the next epoch's permutation when this one is used up; True when it did."""
        if self.position < self.steps_per_epoch:
            return False
        self.epoch += 1
        self.position = 0
        self.order = self._permutation()
        return True

    def batch_indices(self, position: int) -> torch.Tensor:
        """This rank's indices of the batch at `position` in the current permutation."""
        start = position // self.echo * self.batch_size + self.offset
        return self.order[start:start + self.share]

    def _take_indices(self, k: int) -> torch.Tensor:
        """This rank's indices of the next `k` batches, (k, share); a view of the permutation
        unless the batches straddle two epochs."""
        self._turn_epoch_if_done()
        if self.echo == 1 and self.position + k <= self.steps_per_epoch:
            start = self.position * self.batch_size
            whole = self.order[start:start + k * self.batch_size].view(k, self.batch_size)
            self.position += k
            return whole[:, self.offset:self.offset + self.share]
        rows = []
        for _ in range(k):
            self._turn_epoch_if_done()
            rows.append(self.batch_indices(self.position))
            self.position += 1
        return torch.stack(rows)

    def restore(self, order: torch.Tensor, epoch: int, position: int) -> None:
        """Continue from `position` batches into `epoch`, whose permutation is `order`."""
        if order.shape != self.order.shape or not 0 <= position <= self.steps_per_epoch:
            raise ValueError(f"a data order of {order.shape[0]} images at batch {position} does not fit "
                             f"{self.order.shape[0]} images in {self.steps_per_epoch} batches")
        self.order, self.epoch, self.position = order.to(self.order.device), epoch, position


class DeviceBatches(_EpochOrder):
    """Batches gathered from uint8 pixels resident on the device (channels-last with
    `channels_last`, so the gathered batch is already in the networks' memory format)."""

    def __init__(self, pixels: torch.Tensor, batch_size: int, seed: int, rank: int = 0, ranks: int = 1,
                 labels: torch.Tensor | None = None, channels_last: bool = False, echo: int = 1):
        super().__init__(pixels.shape[0], batch_size, seed, pixels.device, rank, ranks, echo)
        self.pixels = pixels.contiguous(memory_format=torch.channels_last) if channels_last else pixels
        self.labels = None if labels is None else labels.to(pixels.device, torch.int64)

    def next(self) -> RealBatch:
        """This rank's share of the next batch, (share, C, H, W), with its labels if any."""
        return self.realize(self.take(1))[0]

    def take(self, k: int) -> Feed:
        """The next `k` batches' indices, (k, share), on the device."""
        return (self._take_indices(k),)

    def realize(self, feed: Feed) -> list[RealBatch]:
        """The batches of `feed`, gathered and converted on the device."""
        (indices,) = feed
        flat = indices.reshape(-1)
        images = to_unit_range(self.pixels[flat]).split(indices.shape[1])
        labels = (None,) * len(images) if self.labels is None else self.labels[flat].split(indices.shape[1])
        return [RealBatch(image, label) for image, label in zip(images, labels)]


class _IndexedPixels(Dataset):
    """Hands a worker a whole batch of indices at once: one tensor gather, no per-image Python."""

    def __init__(self, pixels: torch.Tensor, labels: torch.Tensor | None):
        self.pixels = pixels
        self.labels = labels

    def __len__(self) -> int:
        return self.pixels.shape[0]

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        index = torch.as_tensor(indices)
        return self.pixels[index], None if self.labels is None else self.labels[index]


class _LoaderOrder(Sampler):
    """Index batches of the current permutation, from the current position on. It runs in the
    main process, so the order it follows is the one its `StreamedBatches` saves and restores."""

    def __init__(self, order: _EpochOrder):
        self.order = order

    def __len__(self) -> int:
        return self.order.steps_per_epoch // self.order.echo

    def __iter__(self):
        # Each batch once, from the one at the current position: its echoes reuse it.
        echo = self.order.echo
        for position in range(self.order.position // echo * echo, self.order.steps_per_epoch, echo):
            yield self.order.batch_indices(position).tolist()


class StreamedBatches(_EpochOrder):
    """The `DeviceBatches` interface over a host-resident dataset, for when it exceeds the budget."""

    def __init__(self, pixels: torch.Tensor, batch_size: int, seed: int, device: torch.device, workers: int = 2,
                 rank: int = 0, ranks: int = 1, labels: torch.Tensor | None = None, echo: int = 1):
        super().__init__(pixels.shape[0], batch_size, seed, torch.device("cpu"), rank, ranks, echo)
        self.pixels = pixels
        self.device = torch.device(device)
        labels = None if labels is None else labels.to(torch.int64)
        self.loader = DataLoader(
            _IndexedPixels(pixels, labels), sampler=_LoaderOrder(self), batch_size=None,
            num_workers=workers, pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
        )
        self._iterator = iter(self.loader)
        self._held = None  # the batch at the current position, loaded for its first echo

    def next(self) -> RealBatch:
        """This rank's share of the next batch, with its labels if any, on the training device."""
        return self.realize(self.take(1))[0]

    def take(self, k: int) -> Feed:
        """The next `k` batches as the loader made them: uint8 pixels (k * share, C, H, W) and
        labels, in pinned host memory when training on CUDA."""
        parts = []
        for _ in range(k):
            if self._turn_epoch_if_done():
                self._iterator = iter(self.loader)
            if self._held is None or self.position % self.echo == 0:
                self._held = next(self._iterator)
            parts.append(self._held)
            self.position += 1
        if k == 1:
            return tuple(parts[0])
        pixels, labels = zip(*parts)
        return self._pinned(torch.cat(pixels)), None if labels[0] is None else self._pinned(torch.cat(labels))

    def _pinned(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` in pinned memory when the loader pins: joining pinned batches makes an
        unpinned tensor, whose copy to the device would wait for the host."""
        return tensor.pin_memory() if self.loader.pin_memory else tensor

    def realize(self, feed: Feed) -> list[RealBatch]:
        """The batches of `feed` on the training device (a copy, unless they are there already), in [-1, 1]."""
        pixels, labels = (None if t is None else t.to(self.device, non_blocking=True) for t in feed)
        share = self.share
        images = to_unit_range(pixels).split(share)
        labels = (None,) * len(images) if labels is None else labels.split(share)
        return [RealBatch(image, label) for image, label in zip(images, labels)]

    def restore(self, order: torch.Tensor, epoch: int, position: int) -> None:
        super().restore(order, epoch, position)
        self._iterator = iter(self.loader)
        self._held = None


Batches = Union[DeviceBatches, StreamedBatches]


def make_batches(pixels: torch.Tensor, labels: torch.Tensor | None, config: TrainConfig, world: World,
                 channels_last: bool = False, notify: Callable[[str], None] | None = None) -> Batches:
    """`config`'s batches of `pixels` (with `labels` paired to them, when given): on the device
    when the dataset fits `config.data_budget_mb`, else streamed from the host; each of `world`'s
    ranks gets its share of each batch."""
    size_mb = pixels.numel() * pixels.element_size() / 2**20
    budget_mb, workers = config.data_budget_mb, config.data_workers
    if size_mb <= budget_mb:
        return DeviceBatches(pixels.to(world.device), config.batch_size, config.seed, world.rank, world.size,
                             labels, channels_last, config.echo)
    if notify is not None:
        notify(f"the dataset ({size_mb:,.0f} MB) exceeds data_budget_mb ({budget_mb:,} MB): "
               f"streaming batches from the host with {workers} worker{'s' if workers != 1 else ''}")
    return StreamedBatches(pixels, config.batch_size, config.seed, world.device, workers, world.rank, world.size,
                           labels, config.echo)
