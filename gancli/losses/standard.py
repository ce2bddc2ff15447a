"""gancli's own losses: the seed's sigmoid cross-entropy, hinge, and Wasserstein with gradient penalty."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gancli.losses.base import GANLoss, Penalty, input_gradients


class NonSaturatingBCE(GANLoss):
    """The seed's loss: sigmoid cross-entropy, real targets 1 - smooth (one-sided smoothing),
    and the non-saturating generator loss (fakes labelled real)."""

    description = "sigmoid cross-entropy, one-sided label smoothing, non-saturating G loss"
    separable = True

    def discriminator_real(self, real_logits):
        return F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, 1.0 - self.smooth))

    def discriminator_fake(self, fake_logits):
        return F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))

    def generator(self, fake_logits):
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

    def mean_output(self, logits):
        return torch.sigmoid(logits).mean()  # D's mean probability that the images are real


class Hinge(GANLoss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D pushes real scores above 1 and fake
    scores below -1; G raises the fake scores. `smooth` does not apply."""

    description = "hinge: D on max(0, 1 - D(x)) + max(0, 1 + D(G(z))), G on -D(G(z))"
    separable = True

    def discriminator_real(self, real_logits):
        return F.relu(1.0 - real_logits).mean()

    def discriminator_fake(self, fake_logits):
        return F.relu(1.0 + fake_logits).mean()

    def generator(self, fake_logits):
        return -fake_logits.mean()


class WassersteinGP(GANLoss):
    """Wasserstein loss with gradient penalty (Gulrajani et al. 2017): the critic's score gap
    between fakes and reals, plus `penalty_weight` * (||grad D(x_hat)|| - 1)^2 at random points
    x_hat between real and fake images. `smooth` does not apply."""

    description = "Wasserstein critic with gradient penalty (weight 10)"
    separable = True

    def __init__(self, smooth: float = 0.1, penalty_weight: float = 10.0):
        super().__init__(smooth)
        if penalty_weight < 0:
            raise ValueError(f"penalty_weight must be >= 0, got {penalty_weight}")
        self.penalty_weight = penalty_weight  # 10, the paper's value for every experiment

    def discriminator_real(self, real_logits):
        return -real_logits.mean()

    def discriminator_fake(self, fake_logits):
        return fake_logits.mean()

    def generator(self, fake_logits):
        return -fake_logits.mean()

    def penalties(self) -> list[Penalty]:
        return [self.gradient_penalty]

    def gradient_penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                         scale: torch.Tensor | None = None) -> torch.Tensor:
        mix = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        between = (mix * real + (1 - mix) * fake).requires_grad_(True)
        scores = discriminator(between)
        # Differentiable: the penalty is itself differentiated when D is updated. Under fp16,
        # computed on scaled scores so it cannot underflow.
        grads = input_gradients(scores, between, scale)
        # The tiny constant keeps the norm's gradient finite where a gradient is exactly zero.
        norms = (grads.flatten(1).pow(2).sum(1) + 1e-12).sqrt()
        return self.penalty_weight * (norms - 1.0).pow(2).mean()


class R1:
    """A zero-centred gradient penalty on real images (Mescheder et al. 2018), `gamma / 2 *
    E ||grad D(x)||^2`: it keeps D flat on the data, which steadies training with any loss.
    An option of every run (`--r1 GAMMA`), added to the loss's own penalties."""

    def __init__(self, gamma: float):
        if gamma < 0:
            raise ValueError(f"r1 must be >= 0, got {gamma}")
        self.gamma = gamma

    def __call__(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                 scale: torch.Tensor | None = None) -> torch.Tensor:
        real = real.detach().requires_grad_(True)
        grads = input_gradients(discriminator(real), real, scale)
        return self.gamma / 2 * grads.flatten(1).pow(2).sum(1).mean()
