"""A conformance kit for loss authors: `check_loss(name)` in a package's tests.

    from gancli.testing import check_loss

    def test_my_loss_conforms():
        check_loss("lsgan")

It finds the loss through the registry, as `gancli train --loss` does, and checks the contract:
a `GANLoss` subclass built as `Loss(smooth=...)` with a description; finite values and gradients
for ordinary and extreme logits; a separable loss's halves sum to the whole; the discriminator's
objective, minimised, rates real images above fakes, and the generator's, minimised, raises the
fakes' rating; penalties give finite scalars whose gradients reach the discriminator. A broken promise
raises `ConformanceError` saying which.
"""

from __future__ import annotations

import torch
from torch import nn

from gancli.losses import GANLoss, losses
from gancli.testing.conformance import expect

EXTREME_LOGIT = 1e4  # a saturated discriminator's scores


def _finite(value: torch.Tensor, what: str) -> None:
    expect(isinstance(value, torch.Tensor) and value.dim() == 0, f"{what} must be a scalar tensor, got {value!r}")
    expect(bool(torch.isfinite(value)), f"{what} is not finite: {float(value.detach())}")


def _objectives(loss: GANLoss, real: torch.Tensor, fake: torch.Tensor, where: str):
    real, fake = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    loss_d = loss.discriminator(real, fake)
    _finite(loss_d, f"the discriminator's loss on {where} logits")
    grad_real, grad_fake = torch.autograd.grad(loss_d, (real, fake))
    expect(bool(torch.isfinite(grad_real).all() and torch.isfinite(grad_fake).all()),
           f"the discriminator's loss has non-finite gradients on {where} logits")
    fake_g = fake.detach().clone().requires_grad_(True)
    loss_g = generator_objective(loss, fake_g, real.detach())
    _finite(loss_g, f"the generator's loss on {where} logits")
    (grad_g,) = torch.autograd.grad(loss_g, fake_g)
    expect(bool(torch.isfinite(grad_g).all()), f"the generator's loss has non-finite gradients on {where} logits")
    _finite(loss.mean_output(real.detach()), f"mean_output on {where} logits")
    return loss_d.detach()


def generator_objective(loss: GANLoss, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The generator's loss as the training step calls it: with the real logits when relativistic."""
    return loss.generator(fake, real) if loss.relativistic else loss.generator(fake)


def descend(objective, scores: list[torch.Tensor], steps: int = 20, rate: float = 0.1) -> None:
    optimizer = torch.optim.SGD(scores, lr=rate)
    for _ in range(steps):
        optimizer.zero_grad()
        objective().backward()
        optimizer.step()


def check_loss(name: str, smooth: float = 0.1) -> None:
    """Check that loss `name` (or `package:name`) keeps gancli's contract."""
    loss_class = losses.get(name)
    expect(isinstance(loss_class, type) and issubclass(loss_class, GANLoss),
           f"a loss is registered as a GANLoss subclass, got {loss_class!r}")
    loss = loss_class(smooth=smooth)
    expect(isinstance(loss.description, str) and bool(loss.description),
           "a loss has a one-line description (shown by gancli list)")

    generator = torch.Generator().manual_seed(0)
    ordinary = torch.randn(8, generator=generator), torch.randn(8, generator=generator)
    extreme = torch.tensor([EXTREME_LOGIT, -EXTREME_LOGIT] * 4), torch.tensor([-EXTREME_LOGIT, EXTREME_LOGIT] * 4)
    column = ordinary[0][:, None], ordinary[1][:, None]  # discriminators may give (N, 1)
    for (real, fake), where in ((ordinary, "ordinary"), (extreme, "extreme"), (column, "(N, 1)-shaped")):
        loss_d = _objectives(loss, real, fake, where)
        if loss.separable:
            halves = loss.discriminator_real(real) + loss.discriminator_fake(fake)
            expect(torch.allclose(halves.detach(), loss_d, rtol=1e-5, atol=1e-5),
                   f"on {where} logits discriminator_real + discriminator_fake ({float(halves):.6g}) is not "
                   f"discriminator ({float(loss_d):.6g})")

    # Scores free to move: minimising D's objective must separate real from fake as the loss
    # reads them, and minimising G's must then raise the fakes' (whatever the targets are).
    real, fake = torch.zeros(8, requires_grad=True), torch.zeros(8, requires_grad=True)
    descend(lambda: loss.discriminator(real, fake), [real, fake])
    separated = float(loss.mean_output(real.detach()) - loss.mean_output(fake.detach()))
    expect(separated > 0, "minimising the discriminator's loss must rate real images above fakes "
                          f"(mean_output real - fake = {separated:.3g})")
    before = float(loss.mean_output(fake.detach()))
    descend(lambda: generator_objective(loss, fake, real.detach()), [fake])
    expect(float(loss.mean_output(fake.detach())) > before,
           "minimising the generator's loss must raise the discriminator's rating of fakes")

    critic = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 1))
    real_images, fake_images = torch.rand(4, 3, 4, 4, generator=generator), torch.rand(4, 3, 4, 4, generator=generator)
    for index, penalty in enumerate(loss.penalties()):
        value = penalty(critic, real_images * 2 - 1, fake_images * 2 - 1)
        _finite(value, f"penalty {index}")
        grads = torch.autograd.grad(value, list(critic.parameters()), allow_unused=True)
        expect(any(g is not None for g in grads) and all(g is None or bool(torch.isfinite(g).all()) for g in grads),
               f"penalty {index} must give the discriminator finite gradients")
