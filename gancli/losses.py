"""GAN losses as named pieces, registered under the entry-point group `gancli.losses`.

A loss turns discriminator logits into the two players' objectives. Each returns a scalar
tensor and never reads it back to the host, so the training step stays free of syncs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gancli.errors import RegistryError
from gancli.registry import Registry


class GANLoss:
    """Base class: the discriminator's and the generator's objective on logits."""

    description: str = ""

    def __init__(self, smooth: float = 0.1):
        if not 0.0 <= smooth < 1.0:
            raise ValueError(f"smooth must be in [0, 1), got {smooth}")
        self.smooth = smooth

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class NonSaturatingBCE(GANLoss):
    """The seed's loss: sigmoid cross-entropy, real targets 1 - smooth (one-sided smoothing),
    and the non-saturating generator loss (fakes labelled real)."""

    description = "sigmoid cross-entropy, one-sided label smoothing, non-saturating G loss"

    def discriminator(self, real_logits, fake_logits):
        real_target = torch.full_like(real_logits, 1.0 - self.smooth)
        real = F.binary_cross_entropy_with_logits(real_logits, real_target)
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return real + fake

    def generator(self, fake_logits):
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


losses: Registry[type[GANLoss]] = Registry("gancli.losses", "loss", type)


def make_loss(name: str, smooth: float) -> GANLoss:
    loss_class = losses.get(name)
    if not (isinstance(loss_class, type) and issubclass(loss_class, GANLoss)):
        raise RegistryError(f"loss '{name}' is not a GANLoss subclass")
    return loss_class(smooth=smooth)
