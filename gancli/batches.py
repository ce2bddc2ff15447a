"""Training batches drawn on the device from a resident uint8 dataset.

Each epoch is one random permutation of the dataset, generated on the device; a step indexes
it and converts to float there. No Python runs per image and nothing is copied from the host.
The last incomplete batch of an epoch is dropped, so every step has the same shape.
"""

from __future__ import annotations

import torch

from gancli.images import to_unit_range


class DeviceBatches:
    def __init__(self, pixels: torch.Tensor, batch_size: int, seed: int):
        if pixels.shape[0] < batch_size:
            raise ValueError(f"the dataset has {pixels.shape[0]} images, fewer than one batch of {batch_size}")
        self.pixels = pixels
        self.batch_size = batch_size
        self.steps_per_epoch = pixels.shape[0] // batch_size
        self.rng = torch.Generator(device=pixels.device).manual_seed(seed)
        self.epoch = 0
        self.position = 0  # batches already taken from the current permutation
        self.order = self._permutation()

    def _permutation(self) -> torch.Tensor:
        return torch.randperm(self.pixels.shape[0], generator=self.rng, device=self.pixels.device)

    def next(self) -> torch.Tensor:
        """The next batch as floats in [-1, 1], (batch_size, C, H, W)."""
        if self.position == self.steps_per_epoch:
            self.epoch += 1
            self.position = 0
            self.order = self._permutation()
        start = self.position * self.batch_size
        indices = self.order[start:start + self.batch_size]
        self.position += 1
        return to_unit_range(self.pixels[indices])
