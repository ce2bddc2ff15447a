import math

import pytest
import torch
from conftest import tiny_config

from gancli.checkpoints.format import read_info
from gancli.errors import RegistryError
from gancli.losses import losses, make_loss
from gancli.training.step.batches import RealBatch
from gancli.training.reporting import Reporter
from gancli.training.step.gan_step import GANStep
from gancli.training.run.trainer import train


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


def test_hinge_penalises_reals_below_one_and_fakes_above_minus_one():
    loss = make_loss("hinge", smooth=0.1)
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.5])
    assert math.isclose(loss.discriminator(real, fake).item(), (0 + 0.5 + 2.0) / 3 + (0 + 1.0 + 2.5) / 3, rel_tol=1e-6)
    assert math.isclose(loss.generator(fake).item(), -(-2.0 + 0.0 + 1.5) / 3, rel_tol=1e-6)
    assert loss.penalties() == []


class LinearCritic(torch.nn.Module):
    """D(x) = <w, x>: its gradient is w at every point, so the penalty is known exactly."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, images):
        return (images * self.w).flatten(1).sum(1)


def test_wgan_gp_is_the_score_gap_plus_ten_times_the_squared_gradient_norm_excess():
    loss = make_loss("wgan-gp", smooth=0.1)
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([0.5, -0.5])
    assert math.isclose(loss.discriminator(real, fake).item(), 0.0 - 2.0, rel_tol=1e-6)
    assert math.isclose(loss.generator(fake).item(), 0.0, abs_tol=1e-7)

    w = torch.tensor([[[3.0, 0.0], [0.0, 4.0]]])  # ||w|| = 5
    critic = LinearCritic(w.clone())
    [penalty] = loss.penalties()
    value = penalty(critic, torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2))
    assert math.isclose(value.item(), 10 * (5 - 1) ** 2, rel_tol=1e-5)
    value.backward()  # the penalty is differentiable in D's weights: d/dw 10 (|w| - 1)^2
    assert torch.allclose(critic.w.grad, 20 * (5 - 1) * w / 5, rtol=1e-5)


def test_every_registered_loss_trains_and_is_recorded_in_the_checkpoint(tmp_path):
    for name in ("hinge", "wgan-gp"):
        result = train(tiny_config(tmp_path / name, steps=1, loss=name, sample_every=0), reporter=Reporter())
        assert read_info(result.last_checkpoint).loss == name
        assert all(math.isfinite(result.metrics[key]) for key in ("loss_d", "loss_g"))


def test_an_unknown_loss_names_the_available_ones(tmp_path):
    from gancli.losses import losses

    available = ", ".join(losses.names())  # the built-ins and any installed plugin's
    assert {"bce", "hinge", "wgan-gp"} <= set(losses.names())
    with pytest.raises(RegistryError, match=f"unknown loss 'wgan'; did you mean wgan-gp\\? available: {available}$"):
        train(tiny_config(tmp_path / "run", loss="wgan"))
    assert not (tmp_path / "run").exists()


class ConstantCritic(torch.nn.Module):
    """Scores every image `score`, with one weight so that optimisers have something to update."""

    def __init__(self, score: float):
        super().__init__()
        self.score = torch.nn.Parameter(torch.tensor(score))

    def forward(self, images):
        return self.score.expand(images.shape[0])


@pytest.mark.parametrize("name, logged", [("bce", 1 / (1 + math.exp(-2.0))), ("hinge", 2.0), ("wgan-gp", 2.0)])
def test_d_real_and_d_fake_are_probabilities_for_bce_and_raw_scores_for_critics(name, logged):
    generator = torch.nn.Linear(4, 12)
    critic = ConstantCritic(2.0)
    step = GANStep(generator, critic, make_loss(name, smooth=0.1),
                   torch.optim.SGD(generator.parameters(), lr=0.0), torch.optim.SGD(critic.parameters(), lr=0.0),
                   sample_latent=lambda n: torch.randn(n, 4))
    _, _, d_real, d_fake = step([RealBatch(torch.randn(5, 12))]).tolist()
    assert d_real == pytest.approx(logged) and d_fake == pytest.approx(logged)


def test_r1_is_half_gamma_times_the_squared_gradient_norm_on_reals_and_trains_d():
    from gancli.losses import R1

    critic = torch.nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[1.0, -2.0, 2.0]]))  # the gradient of D(x) is w for every x: |w|^2 = 9
    penalty = R1(gamma=10.0)(critic, torch.randn(4, 3), fake=torch.randn(4, 3))
    assert math.isclose(penalty.item(), 10.0 / 2 * 9.0, rel_tol=1e-6)
    penalty.backward()  # it pulls D's weights towards a flat critic: d/dw = gamma * w
    torch.testing.assert_close(critic.weight.grad, 10.0 * critic.weight.detach())


def test_r1_is_an_option_of_any_run_and_a_negative_weight_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from gancli.cli import app

    result = train(tiny_config(tmp_path / "run", steps=2, sample_every=0, r1=10.0, loss="hinge",
                               augment=["translation"]), reporter=Reporter())
    assert result.steps == 2 and math.isfinite(result.metrics["loss_d"])
    assert "r1: 10.0" in (tmp_path / "run" / "config.yaml").read_text()
    refused = CliRunner().invoke(app, ["train", "--data", "synthetic", "--r1", "-1", "--out", str(tmp_path / "bad")])
    assert refused.exit_code != 0 and "r1 must be a finite number >= 0, got -1.0" in refused.output
    assert not (tmp_path / "bad").exists()
