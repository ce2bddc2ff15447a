"""The reference classifier of one labelled dataset: trained once on its real images, measured on
a held-out tenth it never trained on, and cached under a fingerprint of those images."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from gancli import __version__
from gancli.core.files import write_file
from gancli.errors import GancliError
from gancli.metrics.classifier.network import DigitClassifier, accuracy, check_images, logits_of
from gancli.metrics.classifier.training import ClassifierRecipe, Progress, heldout_split, train_classifier
from gancli.metrics.weights import cache_root

FORMAT = 2  # bump when the network or training changes, so caches re-train
METADATA_KEY = "gancli.classifier"


def fingerprint(pixels: torch.Tensor, labels: torch.Tensor) -> str:
    """sha256 hex over FORMAT, shapes, dtypes and the raw bytes of pixels and labels."""
    digest = hashlib.sha256(f"classifier-format-{FORMAT}".encode())
    for tensor in (pixels, labels):
        digest.update(f"{tuple(tensor.shape)} {tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


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


def check_recipe(meta: dict, recipe: ClassifierRecipe) -> None:
    """Raises unless the cached classifier was trained by `recipe`."""
    wanted = asdict(recipe)
    made_by = meta.get("recipe")
    if made_by is None:  # written before the recipe was recorded: by the default one, at its epochs
        if recipe != ClassifierRecipe() or meta["epochs"] != recipe.epochs_for(meta["trained_on"]):
            raise ValueError(f"trained for {meta['epochs']} epochs by a recipe it does not record")
    elif made_by != wanted:
        differences = [f"{name} {made_by.get(name)}" for name in wanted if made_by.get(name) != wanted[name]]
        raise ValueError(f"made by another training recipe ({', '.join(differences) or made_by})")


def read_cached(path: Path, channels: int, classes: int,
                recipe: ClassifierRecipe) -> tuple[DigitClassifier, float, torch.Tensor]:
    """The network, its held-out accuracy and held-out indices from a cache file; any damage raises."""
    with safe_open(str(path), framework="pt") as cached:
        meta = json.loads((cached.metadata() or {})[METADATA_KEY])
        tensors = {name: cached.get_tensor(name) for name in cached.keys()}
    if (meta["format"], meta["classes"], meta["channels"]) != (FORMAT, classes, channels):
        raise ValueError(f"made for format {meta['format']}, {meta['channels']} channels, {meta['classes']} classes")
    check_recipe(meta, recipe)
    network = DigitClassifier(channels, classes)
    network.load_state_dict({name.removeprefix("network."): value for name, value in tensors.items()
                             if name.startswith("network.")})
    heldout = tensors["heldout"].long()
    if len(heldout) != meta["heldout"]:
        raise ValueError("held-out indices do not match their count")
    return network.to(memory_format=torch.channels_last).eval(), float(meta["accuracy"]), heldout


def reference_classifier(pixels: torch.Tensor, labels: torch.Tensor, classes: int, cache_folder: Path | None = None,
                         notify: Callable[[str], None] | None = None, progress: Progress | None = None,
                         recipe: ClassifierRecipe = ClassifierRecipe()) -> ReferenceClassifier:
    """The classifier for these exact images: read from `cache_folder/<fingerprint>.safetensors`
    (default: the gancli cache's `classifiers/`), else trained by `recipe` on all but a held-out
    tenth, measured on that tenth and written there. A damaged or outdated cache file, or one
    trained by another recipe, is replaced; an unwritable folder only means no cache (said through
    `notify`)."""
    check_images(pixels, labels, classes)
    say = notify or (lambda text: None)
    pixels, labels = pixels.cpu(), labels.cpu()
    key = fingerprint(pixels, labels)
    histogram = torch.bincount(labels.long(), minlength=classes).double()
    histogram /= histogram.sum()
    folder = Path(cache_folder) if cache_folder is not None else cache_root() / "classifiers"
    path = folder / f"{key}.safetensors"
    try:
        network, held_accuracy, heldout = read_cached(path, pixels.shape[1], classes, recipe)
        return ReferenceClassifier(network, classes, held_accuracy, histogram, heldout, key, cached=True)
    except (FileNotFoundError, NotADirectoryError):
        pass  # not cached yet
    except Exception as err:  # safetensors, json and load_state_dict each raise their own types
        say(f"cannot use the cached classifier {path} ({err}); training it again")
    train, heldout = heldout_split(len(pixels))
    say(f"training the reference classifier on {len(train):,} real images (once; cached in {folder})")
    epochs = recipe.epochs_for(len(train))
    network = train_classifier(pixels[train], labels[train], classes, epochs=epochs, recipe=recipe, progress=progress)
    held_accuracy = accuracy(network, pixels[heldout], labels[heldout])
    meta = {"made_by": f"gancli {__version__}", "format": FORMAT, "classes": classes, "channels": pixels.shape[1],
            "image_shape": list(pixels.shape[1:]), "accuracy": held_accuracy, "heldout": len(heldout),
            "trained_on": len(train), "epochs": epochs, "recipe": asdict(recipe)}
    tensors = {f"network.{name}": value.contiguous() for name, value in network.state_dict().items()}
    tensors["heldout"] = heldout.contiguous()
    try:
        write_file(path, lambda tmp: save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(meta)}))
    except GancliError as err:
        say(f"not caching the reference classifier: {err}")
    return ReferenceClassifier(network, classes, held_accuracy, histogram, heldout, key, cached=False)
