"""A classifier-based measure for labelled digit datasets (MNIST, SVHN): a small CNN trained once on
the real labelled images, cached, then used to score generated ones.

It is a measure, not part of a GAN: it never sees the generated images it scores while training,
and its accuracy is measured on real held-out images it never trained on, reported beside every
score so a user can judge how far to trust it. `classification_accuracy_score` is the other way
round (CAS, Ravuri & Vinyals 2019): a classifier trained on generated labelled images only,
tested on real held-out ones.

    reference = reference_classifier(images.pixels, images.labels, classes=10, notify=print)
    classifier_scores(reference, fake_pixels, requested=fake_labels)

How long it trains and how accurate it gets: benchmarks/README.md ("The classifier measure").
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from gancli import __version__
from gancli.core.files import write_file
from gancli.errors import GancliError
from gancli.metrics.weights import cache_root

FORMAT = 2  # bump when the network or training changes, so caches re-train

EPOCHS = 6  # ~9,000 MNIST images reach 98-99% held-out accuracy in six passes (97.7% in four)
MIN_STEPS = 800  # but small sets get more passes: the colour `synthetic` digits (9,000 images) are
#                  91% right and never 0.9 sure of a real digit after six passes (426 steps), 100%
#                  right and 0.9 sure of 99.6% after 852; 800 MNIST images reach 55% in 28 steps
MAX_STEPS = 1000  # and large ones fewer: MNIST's 60,000 train images take two passes, SVHN's 73,257 one
BATCH_SIZE = 128
LEARNING_RATE = 3e-3  # Adam's peak, decayed linearly to zero: fast and stable with batch norm
OUTLIERS = 16  # non-digit images added to each batch (see train_classifier); 1/8 more work
OUTLIER_WEIGHT = 0.5  # of their loss against the real images' (the outlier exposure paper's value)
SHIFT = 2  # pixels of random translation, so strokes a little off-centre (as a GAN draws them) still read
CALIBRATION = 2048  # images that batch norm's statistics are measured on after training
HELDOUT_FRACTION = 0.1
SMOOTHING = 1e-6  # added to every class's sample share before the KL, so a missing class costs ln(p/1e-6)
METADATA_KEY = "gancli.classifier"

Progress = Callable[[int, int], None]


def fingerprint(pixels: torch.Tensor, labels: torch.Tensor) -> str:
    """sha256 hex over FORMAT, shapes, dtypes and the raw bytes of pixels and labels."""
    digest = hashlib.sha256(f"classifier-format-{FORMAT}".encode())
    for tensor in (pixels, labels):
        digest.update(f"{tuple(tensor.shape)} {tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


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


def block(inputs: int, outputs: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU())


class DigitClassifier(nn.Module):
    """Five 3x3 conv blocks and a global average pool: any side from 16 to 64, 1 or 3 channels."""

    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.channels, self.classes = channels, classes
        self.features = nn.Sequential(
            block(channels, 16),      # 16 x S x S: narrow, as full-size layers cost the most
            block(16, 32, stride=2),  # 32 x S/2 x S/2
            block(32, 32),            # 32 x S/2 x S/2
            block(32, 64, stride=2),  # 64 x S/4 x S/4
            block(64, 64),            # 64 x S/4 x S/4
        )
        self.head = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))  # (N, classes) logits


def to_unit(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.float() / 127.5 - 1


def check_images(pixels: torch.Tensor, labels: torch.Tensor | None = None, classes: int | None = None) -> None:
    if pixels.dtype != torch.uint8 or pixels.dim() != 4 or pixels.shape[1] not in (1, 3):
        raise ValueError(f"images must be uint8 (N, 1 or 3, H, W), got {pixels.dtype} {tuple(pixels.shape)}")
    if labels is None:
        return
    if labels.shape != (pixels.shape[0],):
        raise ValueError(f"{pixels.shape[0]} images need {pixels.shape[0]} labels, got shape {tuple(labels.shape)}")
    if classes is not None and labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < classes:
        raise GancliError(f"labels must lie in 0..{classes - 1}, found {int(labels.min())}..{int(labels.max())}")


def shifted(x: torch.Tensor, generator: torch.Generator, most: int = SHIFT) -> torch.Tensor:
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


def epochs_for(count: int, batch_size: int = BATCH_SIZE) -> int:
    """EPOCHS passes over `count` images, or more to make MIN_STEPS batches, or fewer (at least one)
    to stay within MAX_STEPS: how long the reference and CAS classifiers train."""
    batches = math.ceil(count / batch_size)
    return max(1, min(max(EPOCHS, math.ceil(MIN_STEPS / batches)), MAX_STEPS // batches))


def train_classifier(pixels: torch.Tensor, labels: torch.Tensor, classes: int, seed: int = 0, epochs: int = EPOCHS,
                     batch_size: int = BATCH_SIZE, progress: Progress | None = None) -> DigitClassifier:
    """A fresh classifier trained from `seed` (deterministic on the CPU for the same inputs and
    thread count), returned in eval mode. progress(done, total) after each batch.

    Each batch is the real images, shifted by up to SHIFT pixels, and OUTLIERS images that are no
    digit with a uniform target (outlier exposure, Hendrycks et al. 2019): without them the network
    calls noise or a blank image a digit with near certainty, and "recognisable" would mean nothing.
    """
    check_images(pixels, labels, classes)
    pixels, labels = pixels.cpu(), labels.cpu().long()
    with torch.random.fork_rng(devices=[]):  # the weights' initialisation, without touching the caller's RNG
        torch.manual_seed(seed)
        network = DigitClassifier(pixels.shape[1], classes)
    network = network.to(memory_format=torch.channels_last).train()
    generator = torch.Generator().manual_seed(seed)
    total = epochs * math.ceil(len(pixels) / batch_size)
    optimiser = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 1 - step / total)
    done = 0
    for _ in range(epochs):
        for batch in torch.randperm(len(pixels), generator=generator).split(batch_size):
            digits = shifted(to_unit(pixels[batch]), generator)                  # B x C x H x W
            images = torch.cat([digits, outliers(digits[:OUTLIERS], generator)])  # B + OUTLIERS x C x H x W
            logits = network(images.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits[:len(batch)], labels[batch])
            loss = loss - OUTLIER_WEIGHT * logits[len(batch):].log_softmax(1).mean()  # + cross-entropy to uniform
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            done += 1
            if progress is not None:
                progress(done, total)
    recalibrate(network, pixels, generator, batch_size)
    return network.eval()


@torch.no_grad()
def recalibrate(network: DigitClassifier, pixels: torch.Tensor, generator: torch.Generator, batch_size: int) -> None:
    """Batch norm's running statistics measured again on the final weights, over up to CALIBRATION
    training images mixed as in training: the moving averages lag behind the weights, most in a
    short training (800 MNIST images, 28 steps: 20% held-out accuracy without this, 55% with it)."""
    layers = [layer for layer in network.modules() if isinstance(layer, nn.BatchNorm2d)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a plain average over the batches below
    network.train()
    for batch in torch.randperm(len(pixels), generator=generator)[:CALIBRATION].split(batch_size):
        digits = shifted(to_unit(pixels[batch]), generator)
        images = torch.cat([digits, outliers(digits[:OUTLIERS], generator)])
        network(images.contiguous(memory_format=torch.channels_last))
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


@torch.no_grad()
def logits_of(network: DigitClassifier, pixels: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    check_images(pixels)
    if pixels.shape[1] != network.channels:
        raise ValueError(f"the classifier reads {network.channels}-channel images, got {pixels.shape[1]}")
    network.eval()
    chunks = [network(to_unit(chunk.cpu()).contiguous(memory_format=torch.channels_last))
              for chunk in pixels.split(batch_size)]
    return torch.cat(chunks) if chunks else torch.empty(0, network.classes)


def accuracy(network: DigitClassifier, pixels: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    """The share of `pixels` whose predicted class is their label."""
    check_images(pixels, labels)
    if not len(labels):
        raise ValueError("accuracy needs at least one image")
    return float((logits_of(network, pixels, batch_size).argmax(1) == labels.cpu().long()).double().mean())


@dataclass
class ReferenceClassifier:
    """A classifier of one labelled dataset's real images, and what it needs to score samples."""

    network: DigitClassifier
    classes: int
    accuracy: float          # on the held-out real images, which it never trained on
    histogram: torch.Tensor  # the dataset's class frequencies (float64, sums to 1), all of the data
    heldout: torch.Tensor    # indices of the held-out images in the data it was given
    fingerprint: str
    cached: bool             # True when read from the cache rather than trained now

    def probabilities(self, pixels: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """(N, K) class probabilities on the CPU, float32, without gradients."""
        return logits_of(self.network, pixels, batch_size).softmax(1)


def read_cached(path: Path, channels: int, classes: int) -> tuple[DigitClassifier, float, torch.Tensor]:
    """The network, its held-out accuracy and held-out indices from a cache file; any damage raises."""
    with safe_open(str(path), framework="pt") as cached:
        meta = json.loads((cached.metadata() or {})[METADATA_KEY])
        tensors = {name: cached.get_tensor(name) for name in cached.keys()}
    if (meta["format"], meta["classes"], meta["channels"]) != (FORMAT, classes, channels):
        raise ValueError(f"made for format {meta['format']}, {meta['channels']} channels, {meta['classes']} classes")
    network = DigitClassifier(channels, classes)
    network.load_state_dict({name.removeprefix("network."): value for name, value in tensors.items()
                             if name.startswith("network.")})
    heldout = tensors["heldout"].long()
    if len(heldout) != meta["heldout"]:
        raise ValueError("held-out indices do not match their count")
    return network.to(memory_format=torch.channels_last).eval(), float(meta["accuracy"]), heldout


def reference_classifier(pixels: torch.Tensor, labels: torch.Tensor, classes: int, cache_folder: Path | None = None,
                         notify: Callable[[str], None] | None = None,
                         progress: Progress | None = None) -> ReferenceClassifier:
    """The classifier for these exact images: read from `cache_folder/<fingerprint>.safetensors`
    (default: the gancli cache's `classifiers/`), else trained on all but a held-out tenth, measured
    on that tenth and written there. A damaged or outdated cache file is replaced; an unwritable
    folder only means no cache (said through `notify`)."""
    check_images(pixels, labels, classes)
    say = notify or (lambda text: None)
    pixels, labels = pixels.cpu(), labels.cpu()
    key = fingerprint(pixels, labels)
    histogram = torch.bincount(labels.long(), minlength=classes).double()
    histogram /= histogram.sum()
    folder = Path(cache_folder) if cache_folder is not None else cache_root() / "classifiers"
    path = folder / f"{key}.safetensors"
    try:
        network, held_accuracy, heldout = read_cached(path, pixels.shape[1], classes)
        return ReferenceClassifier(network, classes, held_accuracy, histogram, heldout, key, cached=True)
    except (FileNotFoundError, NotADirectoryError):
        pass  # not cached yet
    except Exception as err:  # safetensors, json and load_state_dict each raise their own types
        say(f"cannot use the cached classifier {path} ({err}); training it again")
    train, heldout = heldout_split(len(pixels))
    say(f"training the reference classifier on {len(train):,} real images (once; cached in {folder})")
    epochs = epochs_for(len(train))
    network = train_classifier(pixels[train], labels[train], classes, epochs=epochs, progress=progress)
    held_accuracy = accuracy(network, pixels[heldout], labels[heldout])
    meta = {"made_by": f"gancli {__version__}", "format": FORMAT, "classes": classes, "channels": pixels.shape[1],
            "image_shape": list(pixels.shape[1:]), "accuracy": held_accuracy, "heldout": len(heldout),
            "trained_on": len(train), "epochs": epochs}
    tensors = {f"network.{name}": value.contiguous() for name, value in network.state_dict().items()}
    tensors["heldout"] = heldout.contiguous()
    try:
        write_file(path, lambda tmp: save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(meta)}))
    except GancliError as err:
        say(f"not caching the reference classifier: {err}")
    return ReferenceClassifier(network, classes, held_accuracy, histogram, heldout, key, cached=False)


def classifier_scores(reference: ReferenceClassifier, fake_pixels: torch.Tensor,
                      requested: torch.Tensor | None = None, confident: float = 0.9) -> dict[str, float]:
    """Scores of generated images by the reference classifier:

    - recognisable: the share whose top class probability is at least `confident`;
    - classes_covered: classes present in the data whose predicted count is at least half of
      what the data's frequencies expect (histogram * N), out of classes (K);
    - class_kl: KL(data histogram || histogram of predicted classes), the latter smoothed by adding
      SMOOTHING to each share and renormalising, so it is finite (at most about ln(1/SMOOTHING) = 13.8);
    - conditional_accuracy, when `requested` (the class each sample was made for) is given: the
      share predicted as that class;
    - classifier_accuracy: the reference's held-out accuracy, to judge the others by.
    """
    if not len(fake_pixels):
        raise ValueError("scoring needs at least one generated image")
    probabilities = reference.probabilities(fake_pixels)
    top, predicted = probabilities.max(1)
    count = len(predicted)
    predicted_counts = torch.bincount(predicted, minlength=reference.classes).double()
    expected = reference.histogram * count
    covered = ((predicted_counts >= expected / 2) & (reference.histogram > 0)).sum()
    sample = predicted_counts / count + SMOOTHING
    sample /= sample.sum()
    data = reference.histogram
    present = data > 0
    kl = (data[present] * (data[present] / sample[present]).log()).sum()
    scores = {"recognisable": float((top >= confident).double().mean()), "classes_covered": float(covered),
              "classes": float(reference.classes), "class_kl": float(kl)}
    if requested is not None:
        if requested.shape != (count,):
            raise ValueError(f"{count} samples need {count} requested classes, got shape {tuple(requested.shape)}")
        scores["conditional_accuracy"] = float((predicted == requested.cpu().long()).double().mean())
    scores["classifier_accuracy"] = reference.accuracy
    return scores


def classification_accuracy_score(fake_pixels: torch.Tensor, fake_labels: torch.Tensor, real_pixels: torch.Tensor,
                                  real_labels: torch.Tensor, heldout: torch.Tensor, classes: int, seed: int = 0,
                                  progress: Progress | None = None) -> dict[str, float]:
    """CAS (Ravuri & Vinyals 2019): a fresh classifier trained on the generated labelled images only,
    tested on the real held-out images; beside it, the same classifier (seed, epochs) trained on as
    many real images from outside `heldout` (the first ones in `heldout_split`'s train order) and
    tested on the same images. {"cas", "cas_real", "cas_ratio": cas / cas_real}."""
    check_images(fake_pixels, fake_labels, classes)
    check_images(real_pixels, real_labels, classes)
    if fake_pixels.shape[1:] != real_pixels.shape[1:]:
        raise ValueError(f"generated images are {tuple(fake_pixels.shape[1:])}, "
                         f"real ones {tuple(real_pixels.shape[1:])}")
    heldout = heldout.cpu().long()
    if not len(heldout):
        raise ValueError("CAS needs at least one held-out real image")
    test_pixels, test_labels = real_pixels[heldout], real_labels[heldout]
    real_train = train_order(len(real_pixels), heldout)[:len(fake_pixels)]
    epochs = epochs_for(len(fake_pixels))
    steps = [epochs * math.ceil(len(images) / BATCH_SIZE) for images in (fake_pixels, real_train)]

    def report_from(start: int) -> Progress | None:  # one count across both trainings
        return None if progress is None else (lambda done, _: progress(start + done, sum(steps)))

    on_fake = train_classifier(fake_pixels, fake_labels, classes, seed, epochs, progress=report_from(0))
    cas = accuracy(on_fake, test_pixels, test_labels)
    on_real = train_classifier(real_pixels[real_train], real_labels[real_train], classes, seed, epochs,
                               progress=report_from(steps[0]))
    cas_real = accuracy(on_real, test_pixels, test_labels)
    return {"cas": cas, "cas_real": cas_real, "cas_ratio": cas / cas_real if cas_real > 0 else float("nan")}
