"""Building blocks for class-conditional networks, for the built-in architectures and plugins.

The generator takes the label as cGAN does (Mirza & Osindero 2014): a learned embedding of it
joined to the latent. The discriminator takes it by projection (Miyato & Koyama 2018): its score
is the unconditional score plus the inner product of an embedding of the label with the
discriminator's features, which asks "is this a real image of this class" without a second head.
"""

from __future__ import annotations

import torch
from torch import nn


def label_dim(classes: int, latent_dim: int) -> int:
    """The size of the generator's label embedding: one entry per class, as many as a one-hot
    code has (Mirza & Osindero's), but at most a quarter of the latent's. It must stay small
    beside the latent: with an embedding as large as the latent, the quick start's DCGAN learnt
    to ignore the latent within its first 150 steps and drew one image per class
    (benchmarks/README.md, "Conditioning")."""
    return max(1, min(classes, latent_dim // 4))


class LabelledLatent(nn.Module):
    """(z, labels) -> z joined to a learned vector per class: the generator's input, of
    `latent_dim + label_dim(classes, latent_dim)` values (`size`)."""

    def __init__(self, classes: int, latent_dim: int):
        super().__init__()
        if classes < 1:
            raise ValueError(f"a conditional network needs at least one class, got {classes}")
        self.size = latent_dim + label_dim(classes, latent_dim)
        self.embed = nn.Embedding(classes, label_dim(classes, latent_dim))  # N(0, 1), the latent's own scale

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, self.embed(labels).to(z.dtype)], dim=1)


class Projection(nn.Module):
    """(features (N, F), labels) -> the projection term (N,): <embed(label), features>."""

    def __init__(self, classes: int, features: int):
        super().__init__()
        if classes < 1:
            raise ValueError(f"a conditional network needs at least one class, got {classes}")
        self.embed = nn.Embedding(classes, features)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)  # the scale of the unconditional head's weights

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (self.embed(labels).to(features.dtype) * features).sum(dim=1)


def projection_logits(head: nn.Module, projection: Projection | None, features: torch.Tensor,
                      labels: torch.Tensor | None = None) -> torch.Tensor:
    """A projection discriminator's output, one logit per image (N,), from its last features
    (N, F): the unconditional `head(features)`, plus `projection(features, labels)` where the
    network is conditional (`projection` is not None)."""
    logits = head(features).squeeze(1)
    if projection is not None:
        logits = logits + projection(features, labels)
    return logits


class ClassBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose scale and shift are learned per class (conditional batch norm, de Vries et
    al. 2017, the generator of Miyato & Koyama 2018): the label acts on every layer, not only on
    the first. `forward(x, labels)`."""

    def __init__(self, channels: int, classes: int):
        super().__init__(channels, affine=False)
        self.scale = nn.Embedding(classes, channels)
        self.shift = nn.Embedding(classes, channels)
        nn.init.normal_(self.scale.weight, 1.0, 0.02)  # the scale of DCGAN's batch-norm weights
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        scale = self.scale(labels).to(x.dtype)[:, :, None, None]
        return x * scale + self.shift(labels).to(x.dtype)[:, :, None, None]


class SyncClassBatchNorm2d(ClassBatchNorm2d, nn.SyncBatchNorm):
    """`ClassBatchNorm2d` with its statistics over every process's batch (`--sync-bn`), the same
    per-class scale and shift: what data parallelism converts a `ClassBatchNorm2d` into."""

    @classmethod
    def sharing(cls, norm: ClassBatchNorm2d, process_group=None) -> "SyncClassBatchNorm2d":
        """A synchronised norm holding `norm`'s own embeddings and running statistics, so the
        network it is put in keeps training (and saving) the same tensors under the same names."""
        synced = cls(norm.num_features, norm.scale.num_embeddings)
        synced.eps, synced.momentum, synced.process_group = norm.eps, norm.momentum, process_group
        synced.scale, synced.shift = norm.scale, norm.shift
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            setattr(synced, name, getattr(norm, name))
        synced.train(norm.training)
        return synced


class LabelledSequential(nn.Sequential):
    """A Sequential that hands the labels to the modules that take them (`ClassBatchNorm2d`,
    nested `LabelledSequential`s); its parameters are named as a plain Sequential's."""

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        for module in self:
            x = module(x, labels) if isinstance(module, (ClassBatchNorm2d, LabelledSequential)) else module(x)
        return x
