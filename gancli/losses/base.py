"""The loss contract: what a built-in or plugin loss provides to gancli.

A loss turns discriminator outputs (logits, or a critic's scores) into the two players'
objectives, and may add penalties to the discriminator's objective that need the network itself
(the gradient penalty of WGAN-GP). Every value is a scalar tensor that is never read back to the
host, so the training step stays free of syncs.
"""

from __future__ import annotations

import inspect
from typing import Callable

import torch

#: A term added to the discriminator's loss: (discriminator, real batch, fake batch) -> scalar.
#: The fake batch is detached from the generator. A penalty on D's input gradients may also
#: take a keyword `scale`: under fp16 the training step passes the grad scaler's scale, a
#: device tensor, for `input_gradients`.
Penalty = Callable[..., torch.Tensor]


def input_gradients(scores: torch.Tensor, inputs: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """The gradient of `scores.sum()` with respect to `inputs`, itself differentiable (for a
    penalty on it). With `scale` the scores are multiplied by it before differentiating and the
    gradient divided by it after, as the grad scaler does for the loss: under fp16 a gradient
    flowing back through D in half precision would otherwise underflow to zero. An overflow
    instead shows as a non-finite gradient, and the grad scaler skips that step."""
    if scale is None:
        (grads,) = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
        return grads
    (grads,) = torch.autograd.grad(scores.sum() * scale, inputs, create_graph=True)
    return grads / scale


def takes_scale(penalty: Penalty) -> bool:
    """Whether `penalty` accepts the grad scaler's `scale` keyword."""
    try:
        return "scale" in inspect.signature(penalty).parameters
    except (TypeError, ValueError):  # a callable without a signature
        return False


class GANLoss:
    """Base class: the discriminator's and the generator's objective, both minimised.

    A loss whose discriminator objective is a term on the real logits plus a term on the fake
    logits says so with `separable = True` and gives the two terms as `discriminator_real` and
    `discriminator_fake`. The training step then back-propagates the real term before running D
    on the fakes, so D's activations for both batches are never held at once (benchmarks/README.md
    measures the memory this saves). A loss that couples the two, a relativistic one for example,
    implements `discriminator` alone.

    A relativistic loss (RaGAN) rates fakes against reals in the generator's objective too: with
    `relativistic = True` the step calls `generator(fake_logits, real_logits)`, the real logits
    those of the step's last real batch under the discriminator as it is after its update,
    without gradients (they do not depend on the generator).
    """

    description: str = ""
    separable: bool = False
    relativistic: bool = False

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

    def generator(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        """The generator's objective; `real_logits` are given when the loss is `relativistic`."""
        raise NotImplementedError

    def penalties(self) -> list[Penalty]:
        """Terms the training step adds to the discriminator's loss; none by default."""
        return []

    def mean_output(self, logits: torch.Tensor) -> torch.Tensor:
        """D's mean output as this loss reads it, logged as `d_real` and `d_fake`: by default
        the mean raw score (a critic's scores are not probabilities)."""
        return logits.mean()
