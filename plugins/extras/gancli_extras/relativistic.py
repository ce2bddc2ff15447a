"""The relativistic average GAN loss (RaGAN, Jolicoeur-Martineau 2018): each side is rated against
the other side's mean, in the discriminator's objective and in the generator's."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gancli.losses import GANLoss


class RelativisticAverage(GANLoss):
    """D: BCE(C(x) - mean C(G(z)), 1 - smooth) + BCE(C(G(z)) - mean C(x), 0);
    G: BCE(C(G(z)) - mean C(x), 1) + BCE(C(x) - mean C(G(z)), 0).

    The generator's objective needs the real images' scores too (`relativistic = True`): it
    lowers how much more real the reals look than the fakes, not only raises the fakes. The two
    terms couple real and fake scores, so the loss is not separable.
    """

    description = "relativistic average (RaGAN): reals rated against the mean fake, fakes against the mean real"
    relativistic = True

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real, fake = real_logits.flatten(), fake_logits.flatten()
        real_above = real - fake.mean()
        fake_above = fake - real.mean()
        return (F.binary_cross_entropy_with_logits(real_above, torch.full_like(real_above, 1.0 - self.smooth))
                + F.binary_cross_entropy_with_logits(fake_above, torch.zeros_like(fake_above)))

    def generator(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        if real_logits is None:
            raise ValueError("the relativistic generator loss needs the real images' scores")
        real, fake = real_logits.flatten(), fake_logits.flatten()
        fake_above = fake - real.mean()
        real_above = real - fake.mean()
        return (F.binary_cross_entropy_with_logits(fake_above, torch.ones_like(fake_above))
                + F.binary_cross_entropy_with_logits(real_above, torch.zeros_like(real_above)))

    def mean_output(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits).mean()
