"""examples/svhn.yaml on the 151 real SVHN images in ../shared/data: does the recipe train, and not collapse?

    python benchmarks/svhn_small.py [--epochs 100] [--batch-size N] [--seeds 0,1,2] [--set KEY=VALUE] [--out DIR]

151 images are far too few for FID (its Inception statistics need thousands) or for a classifier
of their own, so this checks only that the recipe trains and does not collapse, per seed:

- diversity: the mean distance between two of 151 generated images (pixels in [0, 1]) over the
  same for the 151 real ones. A collapsed generator, one image or a few, is near 0; a generator
  as varied as the data is near 1.
- copying: the mean distance from each generated image to its nearest real one, over the mean
  distance between a real image and its nearest other real one. Far below 1 means the generator
  reproduces its 151 training images.
- the final grid of 64 samples beside the report, to look at.
The run reads the real `.mat` file through gancli's SVHN reader (a data root holding a link to it).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from gancli.checkpoints.generator import load_generator
from gancli.cli.progress import PlainReporter
from gancli.config import TrainConfig, apply_overrides, read_yaml
from gancli.core.pixels import save_grid
from gancli.datasets.loading import load_images
from gancli.errors import run_script
from gancli.metrics.evaluation import generated_pixels
from gancli.training.run.trainer import train

ROOT = Path(__file__).resolve().parents[1]
SHARED_SVHN = ROOT.parent / "shared" / "data" / "svhn" / "svhn_real_151_32x32.mat"
RECIPE = ROOT / "examples" / "svhn.yaml"


def mean_pairwise(a: torch.Tensor, b: torch.Tensor, same: bool) -> torch.Tensor:
    distances = torch.cdist(a.flatten(1), b.flatten(1))
    if same:  # leave out each image's distance to itself
        return distances.sum() / (distances.numel() - distances.shape[0])
    return distances.mean()


def nearest(a: torch.Tensor, b: torch.Tensor, same: bool) -> torch.Tensor:
    distances = torch.cdist(a.flatten(1), b.flatten(1))
    if same:
        distances.fill_diagonal_(float("inf"))
    return distances.min(dim=1).values.mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The recipe's 25 passes are for SVHN's 73,257 training images (114,000 updates at batch 16);
    # over 151 images they are 225 updates, and the samples are still one grey blur.
    parser.add_argument("--epochs", type=int, default=100, help="passes over the 151 images (900 updates at batch 16)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data", type=Path, default=SHARED_SVHN, help="an SVHN .mat file")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="KEY=VALUE (YAML) over the recipe, e.g. augment=[color,translation,cutout] or model.g_channels=64")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark-svhn"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "train_32x32.mat").symlink_to(args.data.resolve())
        real = load_images("svhn", None, root, False, None, None).pixels.float() / 255
        for seed in (int(s) for s in args.seeds.split(",")):
            values = dict(read_yaml(RECIPE), data_root=root, download=False, device="cpu", seed=seed,
                          out=str(args.out / f"seed{seed}"), sample_every=0, checkpoint_every=0)
            values.update({k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size)) if v})
            values = apply_overrides(values, args.overrides)
            result = train(TrainConfig.from_dict(values), reporter=PlainReporter())
            model = load_generator(result.last_checkpoint)
            fake = generated_pixels(model.generator, model.sample_latent, real.shape[0], seed=1, device="cpu")
            save_grid(fake[:64], args.out / f"seed{seed}.png", nrow=8)
            fake = fake.float() / 255
            rows.append(dict(seed=seed, steps=result.steps, batch_size=values.get("batch_size"),
                             diversity=round(float(mean_pairwise(fake, fake, True) / mean_pairwise(real, real, True)), 3),
                             copying=round(float(nearest(fake, real, False) / nearest(real, real, True)), 3)))
            print(json.dumps(rows[-1]), flush=True)
    (args.out / "report.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    run_script(main)
