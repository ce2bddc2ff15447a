"""The DCGAN of pytorch/examples `dcgan/main.py`: 64x64 images, 4x4 (transposed) convolutions.

The networks are the reference's layer for layer (no biases, batch norm everywhere but the
discriminator's first layer and both ends), except that the discriminator returns logits and
leaves the sigmoid to the loss, which is the same objective computed more stably. It is here so
that gancli can train, and `benchmarks/` can time, exactly the model most DCGAN users start from.

Conditional (`classes` > 0), as `dcgan`: a label embedding joined to the latent, and a projection
of the label onto the discriminator's last features (summed over their 4x4 positions).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from gancli.architectures.base import ArchConfig, Architecture
from gancli.architectures.conditioning import LabelledLatent, Projection
from gancli.architectures.dcgan import init_weights
from gancli.core.shapes import ImageShape

SIDE = 64


@dataclass
class DCGAN64Config(ArchConfig):
    g_features: int = 64    # the reference's ngf: the generator's last feature map has this many channels
    d_features: int = 64    # the reference's ndf: the discriminator's first feature map has this many

    def __post_init__(self):
        super().__post_init__()
        if self.g_features <= 0 or self.d_features <= 0:
            raise ValueError("g_features and d_features must be positive")


class Generator(nn.Module):
    def __init__(self, channels: int, config: DCGAN64Config, classes: int = 0):
        super().__init__()
        nz, ngf = config.latent_dim, config.g_features
        self.label = LabelledLatent(classes, nz) if classes else None
        nz = self.label.size if classes else nz
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8), nn.ReLU(True),          # (ngf*8) x 4 x 4
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4), nn.ReLU(True),          # (ngf*4) x 8 x 8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2), nn.ReLU(True),          # (ngf*2) x 16 x 16
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf), nn.ReLU(True),              # ngf x 32 x 32
            nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False),
            nn.Tanh(),                                       # channels x 64 x 64
        )

    def forward(self, z, labels=None):
        if self.label is not None:
            z = self.label(z, labels)
        return self.main(z.view(z.shape[0], -1, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, channels: int, config: DCGAN64Config, classes: int = 0):
        super().__init__()
        ndf = config.d_features
        self.main = nn.Sequential(
            nn.Conv2d(channels, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),                 # ndf x 32 x 32
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),   # (ndf*2) x 16 x 16
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),   # (ndf*4) x 8 x 8
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),   # (ndf*8) x 4 x 4
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),     # 1 x 1 x 1
        )
        self.projection = Projection(classes, ndf * 8) if classes else None

    def forward(self, images, labels=None):
        if self.projection is None:
            return self.main(images).view(-1)   # one logit per image
        *body, head = self.main
        features = images
        for layer in body:
            features = layer(features)
        return head(features).view(-1) + self.projection(features.sum(dim=(2, 3)), labels)


class DCGAN64(Architecture):
    config_class = DCGAN64Config
    default_loss = "bce"
    d_steps = 1
    image_sizes = (SIDE,)
    description = "pytorch/examples' DCGAN: 64x64 images, 4x4 convolutions, ngf = ndf = 64"
    conditional = True

    def check_shape(self, shape: ImageShape) -> None:
        if (shape.height, shape.width) != (SIDE, SIDE):
            raise ValueError(f"dcgan64 makes {SIDE}x{SIDE} images only, got {shape} (try --image-size 64)")

    def build(self, shape: ImageShape, config: DCGAN64Config, classes: int = 0) -> tuple[nn.Module, nn.Module]:
        self.check_shape(shape)
        generator = Generator(shape.channels, config, classes)
        discriminator = Discriminator(shape.channels, config, classes)
        generator.apply(init_weights)
        discriminator.apply(init_weights)
        return generator, discriminator


dcgan64 = DCGAN64()
