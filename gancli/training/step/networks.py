"""How each network runs inside the step: in autocast and channels-last, and through torch.compile."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from gancli.training.step.execution import Execution


class AutocastChannelsLast(nn.Module):
    """Runs a network's forward in channels-last and autocast.

    Only the forward is autocast, as PyTorch recommends. The discriminator hands float32 back
    (`float_output`), which keeps the losses and the statistics in full precision; the
    generator's images stay in the autocast dtype, which the discriminator's first layer would
    cast them to anyway, so no float32 copy of each fake batch is held. The cast cache is off
    because a CUDA graph must not keep casts from one replay for the next.
    """

    def __init__(self, network: nn.Module, execution: Execution, float_output: bool = True):
        super().__init__()
        self.network = network
        self.channels_last = execution.channels_last
        self.device_type = execution.device.type
        self.dtype = execution.autocast_dtype
        self.float_output = float_output

    def forward(self, x: torch.Tensor, *labels: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.dtype is None:
            return self.network(x, *labels)
        with torch.autocast(self.device_type, dtype=self.dtype, cache_enabled=False):
            out = self.network(x, *labels)
        return out.float() if self.float_output else out


class CompiledNetwork(nn.Module):
    """A network through `torch.compile`, or eager with one notice if compilation fails.

    Compilation happens at the first call, before anything runs, so falling back then leaves
    the parameters and batch-norm statistics untouched.
    """

    def __init__(self, network: nn.Module, notify: Callable[[str], None]):
        super().__init__()
        self.network = network
        self.compiled: nn.Module | None = torch.compile(network)
        self.notify = notify

    @property
    def fell_back(self) -> bool:
        return self.compiled is None

    def forward(self, x: torch.Tensor, *labels: torch.Tensor) -> torch.Tensor:
        if self.compiled is not None:
            try:
                return self.compiled(x, *labels)
            except Exception as err:  # the compiler's failures come as many exception types
                lines = str(err).strip().splitlines()
                self.notify(f"torch.compile failed ({lines[0] if lines else type(err).__name__}); running eagerly")
                self.compiled = None
        return self.network(x, *labels)


def say_once(notify: Callable[[str], None]) -> Callable[[str], None]:
    said: set[str] = set()

    def notify_once(text: str) -> None:
        if text not in said:
            said.add(text)
            notify(text)
    return notify_once
