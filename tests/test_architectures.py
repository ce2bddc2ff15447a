import pytest
import torch

from gancli.architectures import architectures
from gancli.architectures.dcgan import upsampling_layers
from gancli.core.shapes import ImageShape


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
