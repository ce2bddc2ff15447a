"""SNGAN's standard CNN: the paper's layers and settings, and gancli's contract."""

from importlib.metadata import version

import pytest
import torch
from gancli_sngan import SNGAN
from torch.nn.utils import parametrize

from gancli.architectures import ImageShape, architectures
from gancli.config import TrainConfig
from gancli.losses import Hinge
from gancli.testing import check_architecture
from gancli.training import Trainer
from gancli.training.reporting import Reporter

# Narrow networks keep every test to seconds on a CPU; the layer pattern is the paper's.
SMALL = {"g_channels": 16, "d_channels": 4, "latent_dim": 8}


def test_sngan_is_found_through_its_entry_point():
    plugin = architectures.find("sngan")
    assert (plugin.package, plugin.version) == ("gancli-sngan", version("gancli-sngan"))
    assert isinstance(architectures.get("sngan"), SNGAN)


def test_sngan_keeps_the_gancli_contract(tmp_path):
    check_architecture("gancli-sngan:sngan", hparams=SMALL, workdir=tmp_path)


def test_the_networks_follow_the_paper_at_32x32():
    sngan = architectures.get("sngan")
    config = sngan.make_config()
    assert (config.latent_dim, config.lr_g, config.lr_d, config.beta1, config.beta2) == (128, 2e-4, 2e-4, 0.0, 0.9)
    generator, discriminator = sngan.build(ImageShape(3, 32, 32), config)
    assert generator.start == (512, 4, 4)
    up = [m for m in generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride) for m in up] == [
        (512, 256, (4, 4), (2, 2)), (256, 128, (4, 4), (2, 2)), (128, 64, (4, 4), (2, 2))]
    assert (generator.to_image.in_channels, generator.to_image.out_channels) == (64, 3)

    convs = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs] == [
        (3, 64, 3, 1), (64, 64, 4, 2), (64, 128, 3, 1), (128, 128, 4, 2),
        (128, 256, 3, 1), (256, 256, 4, 2), (256, 512, 3, 1)]
    layers = convs + [discriminator.score]
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(parametrize.is_parametrized(m) for m in generator.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in discriminator.modules())
    images = generator(torch.randn(2, 128))
    assert images.shape == (2, 3, 32, 32) and discriminator(images).shape == (2,)


def test_spectral_norm_keeps_every_discriminator_layer_at_lipschitz_one():
    sngan = architectures.get("sngan")
    _, discriminator = sngan.build(ImageShape(3, 32, 32), sngan.make_config(SMALL))
    images = torch.randn(4, 3, 32, 32)
    for _ in range(30):  # each training-mode forward runs one power iteration
        discriminator(images)
    for layer in [m for m in discriminator.modules() if parametrize.is_parametrized(m, "weight")]:
        largest = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item()
        assert largest == pytest.approx(1.0, abs=0.05)


def test_training_uses_the_hinge_loss_adam_0_0_9_and_five_d_steps_per_g_step(tmp_path):
    config = TrainConfig(arch="sngan", data="synthetic", split="test", steps=2, batch_size=4, device="cpu",
                         out=str(tmp_path / "run"), sample_every=0, model=dict(SMALL))
    trainer = Trainer(config, Reporter())
    step = trainer.run.step
    assert isinstance(step.model.loss, Hinge) and step.model.loss_name == "hinge"
    for optimiser in (step.training.opt_d, step.training.opt_g):
        assert optimiser.param_groups[0]["lr"] == 2e-4 and optimiser.param_groups[0]["betas"] == (0.0, 0.9)
    trainer.run_loop()
    d_updates = {int(s["step"]) for s in step.training.opt_d.state.values()}
    g_updates = {int(s["step"]) for s in step.training.opt_g.state.values()}
    assert (d_updates, g_updates) == ({10}, {2})


def test_sides_not_divisible_by_8_are_refused():
    sngan = architectures.get("sngan")
    with pytest.raises(ValueError, match="divisible by 8"):
        sngan.build(ImageShape(1, 28, 28), sngan.make_config(SMALL))
