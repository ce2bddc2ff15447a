"""The loss contract: what a built-in or plugin loss provides to gancli.

A loss turns discriminator outputs (logits, or a critic's scores) into the two players'
objectives, and may add penalties to the discriminator's objective that need the network itself
(the gradient penalty of WGAN-GP). Every value is a scalar tensor that is never read back to the
host, so the training step stays free of syncs.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

#: A term added to the discriminator's loss: (discriminator, real batch, fake batch) -> scalar.
#: The fake batch is detached from the generator.
Penalty = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


class GANLoss:
    """Base class: the discriminator's and the generator's objective, both minimised.

    A loss whose discriminator objective is a term on the real logits plus a term on the fake
    logits says so with `separable = True` and gives the two terms as `discriminator_real` and
    `discriminator_fake`. The training step then back-propagates the real term before running D
    on the fakes, so D's activations for both batches are never held at once (benchmarks/README.md
    measures the memory this saves). A loss that couples the two, a relativistic one for example,
    implements `discriminator` alone.
    """

    description: str = ""
    separable: bool = False

    def __init__(self, smooth: float = 0.1):
        if not 0.0 <= smooth < 1.0:
            raise ValueError(f"smooth must be in [0, 1), got {smooth}")
        self.smooth = smooth

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        if not self.separable:
            raise NotImplementedError
        return self.discriminator_real(real_logits) + self.discriminator_fake(fake_logits)

    def discriminator_real(self, real_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def discriminator_fake(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def penalties(self) -> list[Penalty]:
        """Terms the training step adds to the discriminator's loss; none by default."""
        return []

    def mean_output(self, logits: torch.Tensor) -> torch.Tensor:
        """D's mean output as this loss reads it, logged as `d_real` and `d_fake`: by default
        the mean raw score (a critic's scores are not probabilities)."""
        return logits.mean()
