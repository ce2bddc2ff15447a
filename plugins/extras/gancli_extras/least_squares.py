"""LSGAN's loss (Mao et al. 2017): squared distances of D's scores to target values, not cross-entropy."""

from __future__ import annotations

import torch

from gancli.losses import GANLoss


class LeastSquares(GANLoss):
    """D: ((D(x) - b)^2 + D(G(z))^2) / 2 with b = 1 - smooth; G: (D(G(z)) - 1)^2 / 2.

    Fakes far on the real side of the boundary are still pulled towards it, which gives the
    generator gradients where a saturated sigmoid would give none. The scores are raw (no sigmoid),
    so `d_real` and `d_fake` are the mean scores, near 1 and 0 for a confident discriminator.
    """

    description = "least squares (LSGAN): D scores reals 1 and fakes 0, G pulls fakes to 1"
    separable = True

    def discriminator_real(self, real_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (real_logits - (1.0 - self.smooth)).pow(2).mean()

    def discriminator_fake(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * fake_logits.pow(2).mean()

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (fake_logits - 1.0).pow(2).mean()
