import math

import torch

from gancli.losses import losses, make_loss


def bce(logit: float, target: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def test_discriminator_loss_sums_real_and_fake_with_one_sided_smoothing():
    loss = make_loss("bce", smooth=0.1)
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    expected = (bce(2.0, 0.9) + bce(-1.0, 0.9)) / 2 + (bce(0.5, 0.0) + bce(-3.0, 0.0)) / 2
    assert math.isclose(loss.discriminator(real, fake).item(), expected, rel_tol=1e-6)


def test_generator_loss_is_non_saturating_with_unsmoothed_targets():
    loss = make_loss("bce", smooth=0.3)
    fake = torch.tensor([0.5, -3.0])
    assert math.isclose(loss.generator(fake).item(), (bce(0.5, 1.0) + bce(-3.0, 1.0)) / 2, rel_tol=1e-6)


def test_bce_is_registered_through_its_entry_point():
    assert "bce" in losses.names()
    assert losses.find("bce").package == "gancli"
