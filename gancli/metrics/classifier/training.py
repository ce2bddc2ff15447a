"""How a digit classifier is trained: the recipe, the held-out split, and the training itself.

Each batch is the real images, shifted by a few pixels, and images that are no digit with a
uniform target (outlier exposure, Hendrycks et al. 2019): without them the network calls noise or
a blank image a digit with near certainty, and "recognisable" would mean nothing. How long it
trains and how accurate it gets: benchmarks/README.md ("The classifier measure").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gancli.errors import ConfigError
from gancli.metrics.classifier.network import DigitClassifier, check_images, to_unit

HELDOUT_FRACTION = 0.1

Progress = Callable[[int, int], None]  # (batches done, batches in all)


@dataclass(frozen=True)
class ClassifierRecipe:
    """How the reference classifier and CAS's classifiers train; the figures behind the defaults
    are in benchmarks/README.md ("The classifier measure"). A cached classifier made by another
    recipe is trained again (see `gancli.metrics.classifier.reference`)."""

    epochs: int = 6           # passes over the data: enough for a set of MNIST's size
    min_steps: int = 800      # but small sets get more passes: at six, the colour `synthetic` digits
    #                           are mostly read right yet never with confidence
    max_steps: int = 1000     # and large ones fewer: MNIST's 60,000 train images take two passes, SVHN's 73,257 one
    batch_size: int = 128
    learning_rate: float = 3e-3   # Adam's peak, decayed linearly to zero: fast and stable with batch norm
    outliers: int = 16        # non-digit images added to each batch; an eighth more work at batch 128
    outlier_weight: float = 0.5   # of their loss against the real images' (the outlier exposure paper's value)
    shift: int = 2            # pixels of random translation, so strokes a little off-centre (as a GAN
    #                           draws them) still read
    calibration: int = 2048   # images that batch norm's statistics are measured on after training

    def __post_init__(self):
        least = {"epochs": 1, "min_steps": 0, "max_steps": 1, "batch_size": 1, "outliers": 1, "shift": 0,
                 "calibration": 1}
        for name, value in least.items():
            if getattr(self, name) < value:
                raise ConfigError(f"classifier recipe: {name} must be at least {value}, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ConfigError(f"classifier recipe: learning_rate must be positive, got {self.learning_rate}")

    def epochs_for(self, count: int) -> int:
        """`epochs` passes over `count` images, or more to make `min_steps` batches, or fewer (at
        least one) to stay within `max_steps`: how long a classifier of `count` images trains."""
        batches = math.ceil(count / self.batch_size)
        return max(1, min(max(self.epochs, math.ceil(self.min_steps / batches)), self.max_steps // batches))


def permutation(count: int, seed: int) -> torch.Tensor:
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed))


def heldout_split(count: int, fraction: float = HELDOUT_FRACTION, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, held-out indices): a seeded permutation on the CPU, disjoint, together all of
    range(count); at least 1 held out. The held-out ones are the permutation's head, so the train
    order depends on `count` and `seed` alone (see `train_order`)."""
    if count < 2:
        raise ValueError(f"a held-out split needs at least 2 images, got {count}")
    held = min(count - 1, max(1, round(count * fraction)))
    order = permutation(count, seed)
    return order[held:], order[:held]


def train_order(count: int, heldout: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The indices of range(count) not in `heldout`, in the order `heldout_split(count, seed=seed)` gives them."""
    order = permutation(count, seed)
    outside = torch.ones(count, dtype=torch.bool)
    outside[heldout.long()] = False
    return order[outside[order]]


def shifted(x: torch.Tensor, generator: torch.Generator, most: int) -> torch.Tensor:
    """Each image moved by its own random whole-pixel offset in -most..most, edges repeated."""
    n, _, height, width = x.shape
    padded = F.pad(x, (most,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * most + 1, (2, n, 1), generator=generator)
    rows = (dy + torch.arange(height))[:, None, :, None]  # N x 1 x H x 1
    cols = (dx + torch.arange(width))[:, None, None, :]   # N x 1 x 1 x W
    return padded[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None], rows, cols]


def outliers(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Images that are no digit, each one of four kinds: uniform noise, the pixels of `images`
    shuffled (the same ink, no strokes), a flat grey, and smooth low-frequency blobs."""
    n = images.shape[0]
    noise = torch.rand(images.shape, generator=generator) * 2 - 1
    flat = images.flatten(1)
    shuffled = flat.gather(1, torch.rand(flat.shape, generator=generator).argsort(1)).view_as(images)
    grey = (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1).expand_as(images)
    coarse = torch.rand(n, images.shape[1], 7, 7, generator=generator) * 2 - 1
    blobs = F.interpolate(coarse, size=images.shape[2:], mode="bilinear", align_corners=False)
    kinds = torch.stack([noise, shuffled, grey, blobs])  # 4 x N x C x H x W
    return kinds[torch.randint(0, 4, (n,), generator=generator), torch.arange(n)]


def mixed_batch(pixels: torch.Tensor, generator: torch.Generator, recipe: ClassifierRecipe) -> torch.Tensor:
    """Real images shifted, then `recipe.outliers` images that are no digit, channels-last."""
    digits = shifted(to_unit(pixels), generator, recipe.shift)                          # B x C x H x W
    images = torch.cat([digits, outliers(digits[:recipe.outliers], generator)])         # B + outliers x C x H x W
    return images.contiguous(memory_format=torch.channels_last)


def train_classifier(pixels: torch.Tensor, labels: torch.Tensor, classes: int, seed: int = 0,
                     epochs: int | None = None, recipe: ClassifierRecipe = ClassifierRecipe(),
                     progress: Progress | None = None) -> DigitClassifier:
    """A fresh classifier trained from `seed` for `epochs` passes (default: the recipe's),
    deterministic on the CPU for the same inputs and thread count, returned in eval mode.
    progress(done, total) after each batch."""
    check_images(pixels, labels, classes)
    epochs = recipe.epochs if epochs is None else epochs
    pixels, labels = pixels.cpu(), labels.cpu().long()
    with torch.random.fork_rng(devices=[]):  # the weights' initialisation, without touching the caller's RNG
        torch.manual_seed(seed)
        network = DigitClassifier(pixels.shape[1], classes)
    network = network.to(memory_format=torch.channels_last).train()
    generator = torch.Generator().manual_seed(seed)
    total = epochs * math.ceil(len(pixels) / recipe.batch_size)
    optimiser = torch.optim.Adam(network.parameters(), lr=recipe.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 1 - step / total)
    done = 0
    for _ in range(epochs):
        for batch in torch.randperm(len(pixels), generator=generator).split(recipe.batch_size):
            logits = network(mixed_batch(pixels[batch], generator, recipe))
            loss = F.cross_entropy(logits[:len(batch)], labels[batch])
            uniform = logits[len(batch):].log_softmax(1).mean()  # minus the outliers' cross-entropy to uniform
            loss = loss - recipe.outlier_weight * uniform
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            done += 1
            if progress is not None:
                progress(done, total)
    recalibrate(network, pixels, generator, recipe)
    return network.eval()


@torch.no_grad()
def recalibrate(network: DigitClassifier, pixels: torch.Tensor, generator: torch.Generator,
                recipe: ClassifierRecipe) -> None:
    """Batch norm's running statistics measured again on the final weights, over up to
    `recipe.calibration` training images mixed as in training: the moving averages lag behind the
    weights, most in a short training (benchmarks/README.md, "The classifier measure")."""
    layers = [layer for layer in network.modules() if isinstance(layer, nn.BatchNorm2d)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a plain average over the batches below
    network.train()
    for batch in torch.randperm(len(pixels), generator=generator)[:recipe.calibration].split(recipe.batch_size):
        network(mixed_batch(pixels[batch], generator, recipe))
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
