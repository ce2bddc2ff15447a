"""SNGAN's "standard CNN" (Miyato et al. 2018, "Spectral Normalization for GANs", Table 3).

Generator, for 32x32: z (128) -> dense 4x4x512 -> BN ReLU -> 4x4 stride-2 deconvolutions with BN
and ReLU to 8x8x256, 16x16x128, 32x32x64 -> 3x3 convolution to C channels -> tanh.
Discriminator: pairs of a 3x3 stride-1 and a 4x4 stride-2 convolution, 64 -> 64, 128 -> 128,
256 -> 256 channels, then a 3x3 convolution to 512 and a dense layer to one score; LeakyReLU 0.1
and spectral normalisation on every layer. It trains with the hinge loss, Adam(2e-4, 0.0, 0.9)
and five discriminator updates per generator update, the paper's setting for its hinge runs.
Any side divisible by 8 builds (the paper used 32 and 48).

Class-conditional (`gancli train --conditional`): the generator's dense layer takes the latent
joined to a label embedding, and the discriminator adds the projection of a spectrally
normalised label embedding onto its last features (Miyato & Koyama 2018, as in the paper's
conditional runs; the paper's conditional batch norm in G is left out).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gancli.architectures import ArchConfig, Architecture, ImageShape, LabelledLatent, Projection, projection_logits

UPSAMPLINGS = 3  # three stride-2 steps: the image side is 8 times the first feature map's


@dataclass
class SNGANConfig(ArchConfig):
    latent_dim: int = 128    # the paper's z dimension
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0       # Adam(2e-4, 0.0, 0.9), as the paper's hinge-loss experiments
    beta2: float = 0.9
    g_channels: int = 512    # the generator's first feature map, halved per upsampling
    d_channels: int = 64     # the discriminator's first convolutions, doubled per stage
    leak: float = 0.1        # LeakyReLU slope in the discriminator

    def __post_init__(self):
        super().__post_init__()
        if self.g_channels < 2 ** UPSAMPLINGS or self.d_channels <= 0:
            raise ValueError(f"g_channels must be >= {2 ** UPSAMPLINGS} and d_channels positive")


class Generator(nn.Module):
    def __init__(self, shape: ImageShape, config: SNGANConfig, classes: int = 0):
        super().__init__()
        width = config.g_channels
        self.start = (width, shape.height // 8, shape.width // 8)
        self.label = LabelledLatent(classes, config.latent_dim) if classes else None
        inputs = self.label.size if classes else config.latent_dim
        self.project = nn.Linear(inputs, width * self.start[1] * self.start[2])
        self.project_norm = nn.BatchNorm2d(width)
        blocks = []
        for i in range(UPSAMPLINGS):
            blocks += [nn.ConvTranspose2d(width >> i, width >> (i + 1), 4, stride=2, padding=1),
                       nn.BatchNorm2d(width >> (i + 1)), nn.ReLU(True)]
        self.blocks = nn.Sequential(*blocks)
        self.to_image = nn.Conv2d(width >> UPSAMPLINGS, shape.channels, 3, padding=1)

    def forward(self, z, labels=None):
        if self.label is not None:
            z = self.label(z, labels)
        x = self.project(z).view(-1, *self.start)          # 512 x 4 x 4 for 32x32
        x = self.blocks(nn.functional.relu(self.project_norm(x)))  # 64 x 32 x 32
        return self.to_image(x).tanh()                     # C x 32 x 32, in [-1, 1]


class Discriminator(nn.Module):
    def __init__(self, shape: ImageShape, config: SNGANConfig, classes: int = 0):
        super().__init__()
        width = config.d_channels
        layers, channels = [], shape.channels
        for stage in range(UPSAMPLINGS):
            out = width << stage
            layers += [spectral_norm(nn.Conv2d(channels, out, 3, padding=1)), nn.LeakyReLU(config.leak),
                       spectral_norm(nn.Conv2d(out, out, 4, stride=2, padding=1)), nn.LeakyReLU(config.leak)]
            channels = out                                 # 64 x 16 x 16, 128 x 8 x 8, 256 x 4 x 4
        top = width << UPSAMPLINGS
        layers += [spectral_norm(nn.Conv2d(channels, top, 3, padding=1)), nn.LeakyReLU(config.leak)]
        self.blocks = nn.Sequential(*layers)               # 512 x 4 x 4 for 32x32
        features = top * (shape.height // 8) * (shape.width // 8)
        self.score = spectral_norm(nn.Linear(features, 1))
        self.projection = None
        if classes:
            self.projection = Projection(classes, features)
            spectral_norm(self.projection.embed)

    def forward(self, images, labels=None):
        features = self.blocks(images).flatten(1)          # 512*4*4 for 32x32
        return projection_logits(self.score, self.projection, features, labels)  # one score per image


class SNGAN(Architecture):
    config_class = SNGANConfig
    default_loss = "hinge"
    d_steps = 5
    image_sizes = (32, 48, 64)
    description = "SNGAN standard CNN: spectral norm in D, hinge loss, 5 D steps (Miyato et al. 2018)"
    conditional = True

    def check_shape(self, shape: ImageShape) -> None:
        if shape.height % 8 or shape.width % 8:
            raise ValueError(f"SNGAN's standard CNN needs sides divisible by 8, got {shape}")

    def build(self, shape: ImageShape, config: SNGANConfig, classes: int = 0) -> tuple[nn.Module, nn.Module]:
        # PyTorch's default initialisation, as the authors' Chainer code used its framework's.
        self.check_shape(shape)
        return Generator(shape, config, classes), Discriminator(shape, config, classes)


sngan = SNGAN()
