"""Differentiable augmentation: what the discriminator sees, real and fake, and what G learns through it."""

import pytest
import torch
from conftest import TINY_MODEL, assert_same_tensors, tiny_config
from torch import nn
from typer.testing import CliRunner

from gancli.architectures import architectures
from gancli.cli import app
from gancli.core.shapes import ImageShape
from gancli.errors import ConfigError
from gancli.losses import make_loss
from gancli.training.step.augment import POLICIES, DiffAugment
from gancli.training.step.batches import RealBatch
from gancli.training.reporting import Reporter
from gancli.training.step.gan_step import GANStep
from gancli.training.run.trainer import train

SHAPE = ImageShape(3, 16, 16)


@pytest.mark.parametrize("policy", list(POLICIES))
def test_each_policy_changes_images_differentiably_and_each_image_draws_its_own(policy):
    augment = DiffAugment([policy], torch.Generator().manual_seed(0))
    images = (torch.rand(6, *SHAPE.as_tuple()) * 2 - 1).requires_grad_(True)
    out = augment(images)
    assert out.shape == images.shape and not torch.equal(out, images)
    (grad,) = torch.autograd.grad(out.pow(2).sum(), images)
    assert grad.abs().sum() > 0 and torch.isfinite(grad).all()  # gradients flow back to the input
    same = augment(images[:1].expand(6, -1, -1, -1))  # one image six times: six different draws
    assert len({tuple(image.flatten().tolist()) for image in same}) > 1


def test_real_and_fake_pass_through_the_same_policy_and_g_learns_through_it():
    architecture = architectures.get("dcgan")
    config = architecture.make_config(TINY_MODEL)
    torch.manual_seed(0)
    generator, discriminator = architecture.build(SHAPE, config)
    seen = []

    class Recording(nn.Module):
        def __init__(self, network):
            super().__init__()
            self.network = network

        def forward(self, images):
            seen.append(images.detach().clone())
            return self.network(images)

    recording = Recording(discriminator)
    rng = torch.Generator().manual_seed(1)
    step = GANStep(generator, recording, make_loss("bce", 0.1), torch.optim.Adam(generator.parameters()),
                   torch.optim.Adam(discriminator.parameters()), lambda n: torch.randn(n, config.latent_dim),
                   augment=DiffAugment(["cutout"], rng))
    real = torch.rand(4, *SHAPE.as_tuple()) * 0.5 + 0.5  # never exactly zero, unless cut out
    before = [p.detach().clone() for p in generator.parameters()]
    step([RealBatch(real)])
    # D saw real, fake (its update), then fake again (G's update): every one with a square cut out.
    assert len(seen) == 3
    for images in seen:
        assert all(bool((image == 0).all(dim=0).any()) for image in images)
    assert all(not torch.equal(a, b) for a, b in zip(before, generator.parameters()))  # G updated through it


@pytest.mark.parametrize("arch, loss, model", [
    ("dcgan", "bce", TINY_MODEL), ("dcgan", "hinge", TINY_MODEL), ("dcgan", "wgan-gp", TINY_MODEL),
    ("dcgan64", "bce", {"g_features": 8, "d_features": 8, "latent_dim": 16}),
    ("sngan", "hinge", {"g_channels": 32, "d_channels": 8, "latent_dim": 16}),
], ids=["dcgan-bce", "dcgan-hinge", "dcgan-wgan-gp", "dcgan64", "sngan"])
def test_every_architecture_and_loss_trains_with_all_augmentations(tmp_path, arch, loss, model):
    if arch == "sngan":
        pytest.importorskip("gancli_sngan")
    config = tiny_config(tmp_path / "run", arch=arch, loss=loss, model=model, steps=2, d_steps=1,
                         augment=list(POLICIES), image_size=64 if arch == "dcgan64" else None)
    result = train(config, reporter=Reporter())
    assert result.steps == 2 and all(v == v for v in result.metrics.values())  # no NaN


def test_an_augmented_run_is_reproducible_and_resumes_bit_for_bit(tmp_path):
    settings = dict(batch_size=400, checkpoint_every=3, log_every=2, sample_every=0, augment=["color", "translation", "cutout"])
    straight = train(tiny_config(tmp_path / "straight", steps=6, **settings), reporter=Reporter())
    again = train(tiny_config(tmp_path / "again", steps=6, **settings), reporter=Reporter())
    assert_same_tensors(straight.last_checkpoint, again.last_checkpoint)
    train(tiny_config(tmp_path / "resumed", steps=3, **settings), reporter=Reporter())
    resumed = train(tiny_config(tmp_path / "resumed", steps=6, **settings), reporter=Reporter(),
                    resume=tmp_path / "resumed")
    assert_same_tensors(straight.last_checkpoint, resumed.last_checkpoint)
    plain = train(tiny_config(tmp_path / "plain", steps=6, **dict(settings, augment=[])), reporter=Reporter())
    with pytest.raises(AssertionError):  # the augmentation really changes training
        assert_same_tensors(straight.last_checkpoint, plain.last_checkpoint)


def test_an_unknown_augmentation_is_one_clear_line(tmp_path):
    with pytest.raises(ConfigError, match="augment must list some of color, translation, cutout"):
        tiny_config(tmp_path, augment=["flip"])
    result = CliRunner().invoke(app, ["train", "--augment", "color,flip", "--device", "cpu", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "augment must list some of" in result.output and "Traceback" not in result.output
