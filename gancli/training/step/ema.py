"""An exponential moving average of the generator's weights, updated on the device.

Averaged weights make smoother, usually better samples than the last raw generator. The update
is a few fused kernels over all parameters whose weight is computed on the device from the step
counter, so it never reads a value back to the host, and a captured step follows the decay's
warm-up without being captured again. Batch-norm statistics are copied, not averaged: they describe the raw generator's
activations, and the average network sees nearly the same ones.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorEMA:
    def __init__(self, generator: nn.Module, decay: float, start: int = 0):
        self.decay = decay
        self.start = start  # before this step the average is a plain copy
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)
        self._pairs = _tensor_pairs(self.module, generator)

    def decay_at(self, step: int) -> float:
        """The decay after `step`: it ramps up from 0.1 so that a short run's average is not
        mostly its random initialisation (the warm-up of TensorFlow's moving averages)."""
        since = step - self.start
        return min(self.decay, (1 + since) / (10 + since))

    def weight_at(self, step: torch.Tensor) -> torch.Tensor:
        """`1 - decay_at(step)` for a step counter on the device: 1 (a copy) up to `start`."""
        since = (step - self.start).float()
        decay = torch.clamp((1 + since) / (10 + since), max=self.decay)
        return torch.where(step <= self.start, 1.0, 1.0 - decay)

    @torch.no_grad()
    def update(self, step: torch.Tensor | int) -> None:
        """Fold the generator into the average after optimiser step number `step`."""
        averaged, current = self._pairs["parameters"]
        step = torch.as_tensor(step, device=averaged[0].device if averaged else None)
        # a * (1 - w) + b * w, each a foreach kernel over every parameter with the weight as a
        # device scalar: nothing is read back to the host, and a weight of 1 gives exactly the
        # new weights. (_foreach_lerp_ takes a device weight only as a list of tensors shaped
        # like the parameters, and with scalars falls back to a kernel per parameter.)
        weight = self.weight_at(step)
        torch._foreach_mul_(averaged, 1.0 - weight)
        torch._foreach_add_(averaged, torch._foreach_mul(current, weight))
        averaged_buffers, current_buffers = self._pairs["buffers"]
        if averaged_buffers:
            torch._foreach_copy_(averaged_buffers, current_buffers)


def _tensor_pairs(average: nn.Module, source: nn.Module) -> dict[str, tuple[list, list]]:
    params = [(a, s) for a, s in zip(average.parameters(), source.parameters()) if s.is_floating_point()]
    buffers = list(zip(average.buffers(), source.buffers()))
    return {
        "parameters": ([a for a, _ in params], [s.detach() for _, s in params]),
        "buffers": ([a for a, _ in buffers], [s for _, s in buffers]),
    }
