import pytest
import torch

from gancli.architectures import architectures
from gancli.architectures.conditioning import ClassBatchNorm2d
from gancli.architectures.dcgan import upsampling_layers
from gancli.core.shapes import ImageShape
from gancli.errors import ConfigError


@pytest.mark.parametrize("shape, start, layers", [
    (ImageShape(1, 28, 28), (512, 7, 7), 2),
    (ImageShape(3, 32, 32), (512, 4, 4), 3),
    (ImageShape(3, 64, 64), (512, 4, 4), 4),
])
def test_dcgan_shapes_follow_the_seed(shape, start, layers):
    dcgan = architectures.get("dcgan")
    config = dcgan.make_config()
    generator, discriminator = dcgan.build(shape, config)
    assert generator.start == start
    assert upsampling_layers(shape.height, shape.width) == layers

    images = generator(torch.randn(5, 100))
    assert images.shape == (5, *shape.as_tuple())
    assert images.min() >= -1 and images.max() <= 1  # tanh output
    assert discriminator(images).shape == (5,)


def test_dcgan_channels_halve_in_the_generator_and_double_in_the_discriminator():
    dcgan = architectures.get("dcgan")
    generator, discriminator = dcgan.build(ImageShape(3, 32, 32), dcgan.make_config())
    up = [m for m in generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    down = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(m.in_channels, m.out_channels) for m in up] == [(512, 256), (256, 128), (128, 3)]
    assert [(m.in_channels, m.out_channels) for m in down] == [(3, 64), (64, 128), (128, 256)]
    assert all(m.kernel_size == (5, 5) and m.stride == (2, 2) for m in up + down)
    norms = [m for m in discriminator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 2  # none after the first convolution


def test_dcgan_initialisation_is_normal_with_std_0_02():
    torch.manual_seed(0)
    dcgan = architectures.get("dcgan")
    generator, _ = dcgan.build(ImageShape(3, 32, 32), dcgan.make_config())
    conv = [m for m in generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)][0]
    assert abs(conv.weight.std().item() - 0.02) < 0.002
    norm = [m for m in generator.modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    assert abs(norm.weight.mean().item() - 1.0) < 0.01


def test_dcgan_refuses_images_too_small_to_halve():
    dcgan = architectures.get("dcgan")
    with pytest.raises(ValueError, match="halves"):
        dcgan.build(ImageShape(3, 5, 5), dcgan.make_config())


def test_a_conditional_dcgan_takes_the_label_in_its_latent_or_in_every_batch_norm_as_asked():
    dcgan = architectures.get("dcgan")
    shape = ImageShape(3, 32, 32)
    plain, _ = dcgan.build(shape, dcgan.make_config())
    latent, _ = dcgan.build(shape, dcgan.make_config(), classes=10)
    norm, _ = dcgan.build(shape, dcgan.make_config({"g_label": "norm"}), classes=10)
    plain_names = set(plain.state_dict())
    # a label embedding added, every other tensor named as in the unconditional generator
    assert set(latent.state_dict()) - plain_names == {"label.embed.weight"}
    class_norms = [m for m in norm.modules() if isinstance(m, ClassBatchNorm2d)]
    assert len(class_norms) == 3 and not any(m.affine for m in class_norms)
    assert all(m.scale.weight.shape == (10, m.num_features) for m in class_norms)

    torch.manual_seed(0)
    z = torch.randn(4, 100).repeat(2, 1)
    labels = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    for generator in (latent, norm):
        generator.eval()
        with torch.no_grad():
            same_latents_other_classes = generator(z, labels)
        assert not torch.allclose(same_latents_other_classes[:4], same_latents_other_classes[4:])
    # classes 0 and 1 made alike everywhere but in one batch norm's scale: they still differ
    with torch.no_grad():
        norm.label.embed.weight[1] = norm.label.embed.weight[0]
        for m in class_norms:
            m.scale.weight[1], m.shift.weight[1] = m.scale.weight[0], m.shift.weight[0]
        alike = norm(z[:2], torch.tensor([0, 0])), norm(z[:2], torch.tensor([1, 1]))
        class_norms[1].scale.weight[1] *= 2
        apart = norm(z[:2], torch.tensor([0, 0])), norm(z[:2], torch.tensor([1, 1]))
    assert torch.equal(*alike)
    assert not torch.allclose(*apart)


def test_dcgan_refuses_an_unknown_way_to_take_the_label():
    with pytest.raises(ConfigError, match="model: g_label must be one of latent, norm, got .input."):
        architectures.get("dcgan").make_config({"g_label": "input"})
