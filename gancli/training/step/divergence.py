"""The divergence guard: the first step whose statistics were not finite, kept on the device.

It is read with the losses once per logging interval and before every checkpoint, so watching
for NaN costs no host synchronisation per step.
"""

from __future__ import annotations

from typing import Iterable

import torch


class DivergenceGuard:
    def __init__(self, device: torch.device):
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=device)

    def observe(self, stats: torch.Tensor, step: torch.Tensor | int) -> None:
        """Remember `step` (the device's step counter, in a captured step) if `stats` holds a
        non-finite value and no earlier step did. In place: a captured step keeps updating the
        tensor it was captured with."""
        bad = ~torch.isfinite(stats).all() & (self.first_bad_step < 0)
        self.first_bad_step.copy_(torch.where(bad, step, self.first_bad_step))

    def probe(self, parameters: Iterable[torch.Tensor]) -> torch.Tensor:
        """(first bad step or -1, 1 if every parameter is finite), still on the device."""
        norms = torch._foreach_norm([p.detach() for p in parameters])
        finite = torch.isfinite(torch.stack(norms)).all()
        return torch.stack([self.first_bad_step.float(), finite.float()])

    def reset(self) -> None:
        self.first_bad_step.fill_(-1)
