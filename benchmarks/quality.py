"""Conditional against unconditional `dcgan` on real MNIST, scored on images neither trained on.

    python benchmarks/quality.py [--epochs 5] [--seeds 0,1,2] [--num 2000] [--device cpu] [--set KEY=VALUE]

The 10,000 real MNIST test images are split (`heldout_mnist.py`): 8,000 to train on, 2,000 that
no model sees. Both recipes are `gancli train --config examples/mnist.yaml` (the recipe users are
pointed to), one with `--conditional`, at the same epochs and seed. Each final
EMA generator makes `--num` images (a conditional one for classes drawn from the training
labels), scored by:

- FID against the 2,000 held-out images, every image at 28x28x1 (when the FID network's weights
  are installed: see `gancli eval --help`; else the column says so);
- the classifier measures (`gancli.metrics.classifier`): a reference classifier trained on the
  8,000 training images (its accuracy measured on a tenth of them it did not train on) says how
  many samples are recognisable, how many classes they cover, and for the conditional recipe how
  many show the class asked for;
- CAS (conditional only): a classifier trained on the generated images alone, tested on the
  2,000 held-out images, beside the same classifier trained on as many real training images.

The table is printed as Markdown and written with every figure to `OUT/report.json`; each run's
final grid (one row per class for the conditional recipe) is saved beside it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from heldout_mnist import add_shared_arguments, classifier_recipe, heldout_fid, prepare, recipe_config

from gancli.checkpoints.generator import load_generator
from gancli.cli.progress import PlainReporter
from gancli.core.device import resolve_device
from gancli.core.pixels import save_grid
from gancli.errors import run_script
from gancli.metrics.classifier import classification_accuracy_score, classifier_scores, reference_classifier
from gancli.metrics.evaluation import generated_pixels, labels_like
from gancli.training import train

RECIPES = {"unconditional": False, "conditional": True}
SAMPLE_SEED = 1


def grid_of(model, conditional: bool, device) -> torch.Tensor:
    """8 images per class (rows) for a conditional generator, 80 images otherwise; fixed latents."""
    latents = model.sample_latent(8 if conditional else 80, generator=torch.Generator().manual_seed(SAMPLE_SEED))
    labels = None
    if conditional:
        latents = latents.repeat(10, 1)
        labels = torch.arange(10).repeat_interleave(8)
    return generated_pixels(model.generator, lambda n, generator: latents, len(latents), 0, device, labels=labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds")
    add_shared_arguments(parser, out=Path("runs/benchmark-quality"), recipes="both recipes")
    args = parser.parse_args()
    recipe = classifier_recipe(args)
    device = resolve_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        data = prepare(Path(tmp), args.data, args.heldout, args.limit)
        print(f"real MNIST: {len(data.train_pixels)} images to train on, {len(data.heldout_pixels)} held out", flush=True)
        reference = reference_classifier(data.train_pixels, data.train_labels, 10, args.out / "classifiers",
                                         notify=print, recipe=recipe)
        real_pixels = torch.cat([data.train_pixels, data.heldout_pixels])
        real_labels = torch.cat([data.train_labels, data.heldout_labels])
        heldout = torch.arange(len(data.train_pixels), len(real_pixels))
        scorer, fid_network = heldout_fid(data.heldout_pixels, device, args.inception, args.no_fid,
                                          args.out / "real-features")
        rows = []
        for seed in [int(s) for s in args.seeds.split(",")]:
            for name, conditional in RECIPES.items():
                started = time.perf_counter()
                config = recipe_config(data, args.out / f"{name}-seed{seed}", seed, args.epochs, args.steps, args.device,
                                       args.overrides, conditional=conditional, log_every=100)
                result = train(config, reporter=PlainReporter(), overwrite=True)
                seconds = time.perf_counter() - started
                model = load_generator(result.last_checkpoint, device)
                requested = labels_like(data.train_labels, args.num, SAMPLE_SEED) if conditional else None
                fake = generated_pixels(model.generator, model.sample_latent, args.num, SAMPLE_SEED, device,
                                        labels=requested)
                row = {"recipe": name, "seed": seed, "steps": result.steps, "train_s": round(seconds, 1),
                       **classifier_scores(reference, fake, requested)}
                if conditional:
                    row.update(classification_accuracy_score(fake, requested, real_pixels, real_labels, heldout, 10,
                                                             seed=seed, recipe=recipe))
                if scorer is not None:
                    row["fid"] = scorer.score(fake)["fid"]
                save_grid(grid_of(model, conditional, device), args.out / f"{name}-seed{seed}.png", nrow=8 if conditional else 10)
                rows.append(row)
                print(json.dumps(row), flush=True)

    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
              "machine": (torch.cuda.get_device_name(device) if device.type == "cuda"
                          else f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads"),
              "torch": torch.__version__, "epochs": args.epochs, "generated_per_run": args.num,
              "train_images": len(data.train_pixels), "heldout_images": len(data.heldout_pixels),
              "fid_network": fid_network, "classifier_accuracy": reference.accuracy, "runs": rows}
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(table(rows, fid_network))


def table(rows: list[dict], fid_network: str) -> str:
    def cell(row: dict, key: str, form: str) -> str:
        return format(row[key], form) if key in row else "-"

    lines = ["| recipe | seed | steps | FID (held-out) | recognisable | classes covered | class KL | "
             "conditional accuracy | CAS | CAS on real | train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['recipe']} | {row['seed']} | {row['steps']} | {cell(row, 'fid', '.1f')} | "
                     f"{row['recognisable']:.1%} | {row['classes_covered']:.0f}/{row['classes']:.0f} | "
                     f"{row['class_kl']:.3f} | {cell(row, 'conditional_accuracy', '.1%')} | {cell(row, 'cas', '.1%')} | "
                     f"{cell(row, 'cas_real', '.1%')} | {row['train_s']:.0f} |")
    if not any("fid" in row for row in rows):
        lines.append(f"\nFID: {fid_network}")
    return "\n".join(lines)


if __name__ == "__main__":
    run_script(main)
