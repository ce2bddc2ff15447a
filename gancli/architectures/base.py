"""The architecture contract: what a built-in or plugin architecture provides to gancli.

An architecture is an `Architecture` instance (or subclass) published under the entry-point
group `gancli.architectures`. It provides a typed config of hyperparameters (`config_class`, an
`ArchConfig` subclass, which holds the latent size and the optimiser settings), a builder from
image shape and config to (generator, discriminator), its default loss, the number of
discriminator updates per generator update, the image sizes it is made for, whether it can be
class-conditional, and optionally penalties added to the discriminator's loss. In return gancli gives it the training loop,
checkpoints that record its package and version, sampling from a checkpoint alone, `inspect`,
and a line in `gancli list`. docs/plugins.md spells the contract out; `gancli.testing.
check_architecture` checks it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from gancli.config.typed import from_mapping, to_mapping
from gancli.core.shapes import ImageShape
from gancli.losses import Penalty


@dataclass
class ArchConfig:
    """Hyperparameters every architecture has; subclasses add their own fields."""

    latent_dim: int = 100
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999

    def __post_init__(self):
        if self.latent_dim <= 0:
            raise ValueError(f"latent_dim must be positive, got {self.latent_dim}")
        for name in ("lr_g", "lr_d"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")


class Architecture(ABC):
    """A generator/discriminator pair and how to train it."""

    #: Dataclass of hyperparameters, a subclass of `ArchConfig`.
    config_class: type[ArchConfig] = ArchConfig
    #: Name of the loss in `gancli.losses` it trains with unless `--loss` says otherwise.
    default_loss: str = "bce"
    #: Discriminator updates per generator update.
    d_steps: int = 1
    #: Square image sides it is made and tested for, shown by `gancli list` and built by the
    #: conformance kit; `check_shape` decides about any other shape.
    image_sizes: tuple[int, ...] = ()
    #: One line for `gancli list`.
    description: str = ""
    #: True when `build(shape, config, classes=K)` makes a class-conditional pair: the generator
    #: called as `G(z, labels)`, the discriminator as `D(images, labels)`, labels int64 (N,) in
    #: [0, K). gancli passes `classes` only to architectures that declare it (`--conditional`).
    conditional: bool = False

    def make_config(self, values: Mapping[str, Any] | None = None) -> ArchConfig:
        """The hyperparameters: defaults overridden by `values`, every key checked."""
        return from_mapping(self.config_class, values, where="model.")

    def config_dict(self, config: ArchConfig) -> dict[str, Any]:
        return to_mapping(config)

    def check_shape(self, shape: ImageShape) -> None:
        """Raise ValueError naming the problem when `shape` cannot be built."""

    @abstractmethod
    def build(self, shape: ImageShape, config: ArchConfig, classes: int = 0) -> tuple[nn.Module, nn.Module]:
        """A fresh (generator, discriminator), initialised.

        The generator maps a latent batch (N, latent_dim) to images (N, C, H, W) in [-1, 1];
        the discriminator maps images to logits of shape (N,) or (N, 1). With `classes` > 0
        (asked only of a `conditional` architecture) both also take the batch's labels.
        """

    def penalties(self, config: ArchConfig) -> list[Penalty]:
        """Terms added to the discriminator's loss at every update, each called as
        `penalty(discriminator, real, fake)`, the discriminator bound to the batch's labels when
        the run is conditional; none by default. The loss's own penalties (the
        gradient penalty of `wgan-gp`) are added as well."""
        return []

    def sample_latent(self, n: int, config: ArchConfig, *, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu") -> torch.Tensor:
        """Latent vectors for `n` images; N(0, 1) unless an architecture says otherwise."""
        return torch.randn(n, config.latent_dim, generator=generator, device=device)


def build_networks(architecture: Architecture, shape: ImageShape, config: ArchConfig,
                   classes: int = 0) -> tuple[nn.Module, nn.Module]:
    """The architecture's (generator, discriminator), class-conditional when `classes` > 0.

    `classes` is passed only when it is asked for, so an architecture written before
    conditioning existed builds as it always did; one that cannot condition raises ValueError."""
    if not classes:
        return architecture.build(shape, config)
    if not architecture.conditional:
        raise ValueError("it is not class-conditional (its `conditional` is False)")
    return architecture.build(shape, config, classes=classes)
