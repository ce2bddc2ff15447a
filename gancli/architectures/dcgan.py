"""DCGAN as in the seed document: 5x5 stride-2 (transposed) convolutions with batch norm.

For 32x32x3 (SVHN) the generator goes 100 -> 4x4x512 -> 8x8x256 -> 16x16x128 -> 32x32x3 and the
discriminator 32x32x3 -> 16x16x64 -> 8x8x128 -> 4x4x256 -> 1 logit. The number of stride-2 layers
is the number of times the image side halves (evenly) while staying at least 4: three for 32,
two for MNIST's 28 (starting at 7x7), four for 64.

Conditional (`classes` > 0): the generator's dense layer takes the latent joined to a small
learned embedding of the label (`conditioning.label_dim`); the discriminator adds a projection of the label
onto its last features to its logit (see `gancli.architectures.conditioning`). With
`model.g_label: norm` every batch norm of the generator also has a scale and shift per class
(conditional batch norm); benchmarks/README.md ("Conditioning") has what each measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from torch import nn

from gancli.architectures.base import ArchConfig, Architecture
from gancli.architectures.conditioning import (ClassBatchNorm2d, LabelledLatent, LabelledSequential, Projection,
                                               projection_logits)
from gancli.core.shapes import ImageShape

G_LABELS = ("latent", "norm")


@dataclass
class DCGANConfig(ArchConfig):
    g_channels: int = 512   # channels of the generator's first feature map, halved per layer
    d_channels: int = 64    # channels of the discriminator's first layer, doubled per layer
    leak: float = 0.2       # LeakyReLU slope in the discriminator, as in the seed
    g_label: str = "latent"  # conditional generators: "latent" (label embedding joined to z) or
    #                          "norm" (that, and batch norm with a scale and shift per class)

    def __post_init__(self):
        super().__post_init__()
        if self.g_channels <= 0 or self.d_channels <= 0:
            raise ValueError("g_channels and d_channels must be positive")
        if self.g_label not in G_LABELS:
            raise ValueError(f"g_label must be one of {', '.join(G_LABELS)}, got {self.g_label!r}")


def upsampling_layers(height: int, width: int) -> int:
    """How many stride-2 layers take the smallest feature map (side >= 4) to this size."""
    layers = 0
    while height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= 4:
        height, width, layers = height // 2, width // 2, layers + 1
    return layers


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for convolutions and dense layers, N(1, 0.02) for batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def up_conv(in_channels: int, out_channels: int, bias: bool) -> nn.ConvTranspose2d:
    # padding 2 + output_padding 1 is TensorFlow's "same" for a 5x5 kernel at stride 2: side x 2.
    return nn.ConvTranspose2d(in_channels, out_channels, 5, stride=2, padding=2, output_padding=1, bias=bias)


def down_conv(in_channels: int, out_channels: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 5, stride=2, padding=2, bias=bias)


class Generator(nn.Module):
    def __init__(self, shape: ImageShape, config: DCGANConfig, classes: int = 0):
        super().__init__()
        layers = upsampling_layers(shape.height, shape.width)
        self.start = (config.g_channels, shape.height >> layers, shape.width >> layers)
        channels = [config.g_channels >> i for i in range(layers)] + [shape.channels]
        self.label = LabelledLatent(classes, config.latent_dim) if classes else None
        inputs = self.label.size if classes else config.latent_dim
        norm = partial(ClassBatchNorm2d, classes=classes) if classes and config.g_label == "norm" else nn.BatchNorm2d
        self.project = nn.Linear(inputs, self.start[0] * self.start[1] * self.start[2], bias=False)
        self.project_norm = norm(channels[0])
        blocks = []
        for i in range(layers):
            last = i == layers - 1
            blocks.append(up_conv(channels[i], channels[i + 1], bias=last))
            blocks.append(nn.Tanh() if last else LabelledSequential(norm(channels[i + 1]), nn.ReLU(True)))
        self.blocks = LabelledSequential(*blocks)

    def forward(self, z, labels=None):
        if self.label is not None:
            z = self.label(z, labels)
        x = self.project(z).view(-1, *self.start)      # 512 x 4 x 4 for 32x32
        x = self.project_norm(x, labels) if isinstance(self.project_norm, ClassBatchNorm2d) else self.project_norm(x)
        x = nn.functional.relu(x)
        return self.blocks(x, labels)                   # C x H x W, in [-1, 1]


class Discriminator(nn.Module):
    def __init__(self, shape: ImageShape, config: DCGANConfig, classes: int = 0):
        super().__init__()
        layers = upsampling_layers(shape.height, shape.width)
        channels = [shape.channels] + [config.d_channels << i for i in range(layers)]
        blocks = []
        for i in range(layers):
            first = i == 0
            blocks.append(down_conv(channels[i], channels[i + 1], bias=first))
            if not first:
                blocks.append(nn.BatchNorm2d(channels[i + 1]))
            blocks.append(nn.LeakyReLU(config.leak, inplace=True))
        self.blocks = nn.Sequential(*blocks)            # 256 x 4 x 4 for 32x32
        side_h, side_w = shape.height >> layers, shape.width >> layers
        self.classify = nn.Linear(channels[-1] * side_h * side_w, 1)
        self.projection = Projection(classes, channels[-1] * side_h * side_w) if classes else None

    def forward(self, images, labels=None):
        features = self.blocks(images).flatten(1)       # 256*4*4 for 32x32
        return projection_logits(self.classify, self.projection, features, labels)  # one logit per image


class DCGAN(Architecture):
    config_class = DCGANConfig
    default_loss = "bce"
    d_steps = 1
    image_sizes = (16, 28, 32, 64)  # any side that halves evenly to >= 4 builds
    description = "the seed's DCGAN: 5x5 stride-2 convolutions, batch norm, BCE with label smoothing"
    conditional = True

    def check_shape(self, shape: ImageShape) -> None:
        if upsampling_layers(shape.height, shape.width) < 1:
            raise ValueError(f"DCGAN needs an image side that halves at least once to >= 4, got {shape}")

    def build(self, shape: ImageShape, config: DCGANConfig, classes: int = 0) -> tuple[nn.Module, nn.Module]:
        self.check_shape(shape)
        layers = upsampling_layers(shape.height, shape.width)
        if config.g_channels >> (layers - 1) < 1:
            raise ValueError(f"g_channels={config.g_channels} is too small for {layers} layers")
        generator, discriminator = Generator(shape, config, classes), Discriminator(shape, config, classes)
        generator.apply(init_weights)
        discriminator.apply(init_weights)
        return generator, discriminator


dcgan = DCGAN()
