"""Real MNIST split into images to train on and images no model sees, and the options, recipe and
FID the quality benchmarks share.

The 10,000 real MNIST test images (`../shared/data/mnist`, or `--data`) are split by a seeded
permutation: `heldout` images are set aside, the rest are for training. Both parts are written as
IDX files into a data root, the training part as MNIST's `train` split and the held-out part as
its `test` split, so gancli's own `mnist` dataset reads them (`--data mnist --split train
--data-root ROOT`) exactly as it reads the official files.
"""

from __future__ import annotations

import argparse
import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from gancli.config import TrainConfig, apply_overrides, read_yaml
from gancli.errors import ConfigError, GancliError
from gancli.metrics.classifier import ClassifierRecipe
from gancli.metrics.evaluation import Scorer
from gancli.metrics.features import inception_extractor

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
SPLIT_SEED = 2026
RECIPE = Path(__file__).resolve().parents[1] / "examples" / "mnist.yaml"


def read_idx(path: Path) -> torch.Tensor:
    """An IDX file (gzipped or not) as a uint8 tensor of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    zero, kind, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08:
        raise ValueError(f"{path} is not a uint8 IDX file")
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).view(*shape)


def write_idx(path: Path, values: torch.Tensor) -> None:
    header = struct.pack(">HBB", 0, 0x08, values.dim()) + struct.pack(f">{values.dim()}I", *values.shape)
    path.write_bytes(header + values.contiguous().numpy().tobytes())


@dataclass
class HeldoutMNIST:
    root: Path            # a data root: MNIST/raw/ holds the train (to train on) and t10k (held out) files
    train_pixels: torch.Tensor   # (N, 1, 28, 28) uint8
    train_labels: torch.Tensor
    heldout_pixels: torch.Tensor
    heldout_labels: torch.Tensor

    def training_values(self) -> dict:
        """The settings that train on the images to train on."""
        return {"data": "mnist", "split": "train", "data_root": str(self.root), "download": False}


def prepare(root: Path, source: Path = SHARED_MNIST, heldout: int = 2000, limit: int | None = None) -> HeldoutMNIST:
    """Split the real test images (the first `limit` of them, for a quick run) and write both parts under `root`."""
    missing = [name for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz") if not (source / name).is_file()]
    if missing:
        raise ConfigError(f"--data {source}: no {' or '.join(missing)} there (the MNIST test set's IDX files)")
    pixels = read_idx(source / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(source / "t10k-labels-idx1-ubyte.gz")
    if limit is not None:
        pixels, labels = pixels[:limit], labels[:limit]
    if not 0 < heldout < len(pixels):
        raise ValueError(f"cannot hold out {heldout} of {len(pixels)} images")
    order = torch.randperm(len(pixels), generator=torch.Generator().manual_seed(SPLIT_SEED))
    held, kept = order[:heldout], order[heldout:]
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, index in (("train", kept), ("t10k", held)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", pixels[index])
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[index])
    return HeldoutMNIST(root, pixels[kept].unsqueeze(1), labels[kept], pixels[held].unsqueeze(1), labels[held])


def add_shared_arguments(parser: argparse.ArgumentParser, out: Path, recipes: str) -> None:
    """The options both quality benchmarks take: how long to train, how many images to score, the
    real data and its split, the device, FID, the classifiers' fewest batches, `--set` over
    `recipes`, and the report's folder (default `out`)."""
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None, help="wins over --epochs (a quick check)")
    parser.add_argument("--num", type=int, default=2000, help="generated images scored per run")
    parser.add_argument("--heldout", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=None, help="use the first N real images only (a quick run)")
    parser.add_argument("--data", type=Path, default=SHARED_MNIST, help="folder of the MNIST test IDX files")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--inception", type=Path, default=None)
    parser.add_argument("--no-fid", action="store_true")
    parser.add_argument("--classifier-min-steps", type=int, default=ClassifierRecipe().min_steps,
                        help="the classifiers' fewest batches (fewer: a quick check of the script, not a measure)")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help=f"KEY=VALUE (YAML) over {recipes}, e.g. model.g_channels=16")
    parser.add_argument("--out", type=Path, default=out)


def classifier_recipe(args: argparse.Namespace) -> ClassifierRecipe:
    """How the reference and CAS classifiers train: the default recipe, at `--classifier-min-steps`."""
    return ClassifierRecipe(min_steps=args.classifier_min_steps)


def recipe_config(data: HeldoutMNIST, out: Path, seed: int, epochs: int, steps: int | None, device: str,
                  overrides: list[str], recipe: Path = RECIPE, **values) -> TrainConfig:
    """`recipe` (`examples/mnist.yaml`) on `data`'s training part (any object with
    `training_values()`), without grids, intermediate checkpoints or evaluations; `values` and then
    `--set` overrides (KEY=VALUE) over it."""
    values = {**read_yaml(recipe), **data.training_values(), "epochs": epochs, "steps": steps, "seed": seed,
              "device": device, "out": str(out), "sample_every": 0, "checkpoint_every": 0, "eval_every": 0, **values}
    return TrainConfig.from_dict(apply_overrides(values, overrides))


def heldout_fid(heldout_pixels: torch.Tensor, device: torch.device, inception: Path | None, skip: bool,
                cache: Path, name: str = "mnist-heldout") -> tuple[Scorer | None, str]:
    """FID against the held-out images, and the network's name; None and why where there is none."""
    if skip:
        return None, "not asked for (--no-fid)"
    try:
        extractor = inception_extractor(inception, device, batch_size=50)
    except GancliError as err:
        return None, f"not measured: {err}"
    return Scorer(extractor, name, "test", heldout_pixels, ("fid",), cache), extractor.key
