"""gancli's MNIST recipes side by side at equal epochs, several seeds, scored on images none trained on.

    python benchmarks/recipes.py [--recipes examples/mnist.yaml,examples/mnist-large-batch.yaml]
                                 [--seeds 0,1,2] [--epochs 5] [--num 1000] [--variant NAME:KEY=VALUE,...]

The data and scoring are `reference_comparison.py`'s: 8,000 real MNIST images to train on and
2,000 held out (`heldout_mnist.py`); FID of `--num` EMA samples at 28x28x1 against the held-out
images, and the classifier measures. Every recipe trains `--epochs` passes over the 8,000 images
at its own batch size, so a recipe at batch 128 takes an eighth of the updates of one at 16.
`--variant NAME:KEY=VALUE,KEY=VALUE` adds a recipe: the first `--recipes` file with those
overrides, for trying settings without writing a file. Each run's final grid is saved beside
`OUT/report.json`; the table gives each recipe's mean and range over its seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from heldout_mnist import add_shared_arguments, classifier_recipe, heldout_fid, prepare, recipe_config
from reference_comparison import score

from gancli.checkpoints.generator import load_generator
from gancli.cli.progress import PlainReporter
from gancli.config import read_yaml
from gancli.core.device import resolve_device
from gancli.core.pixels import save_grid
from gancli.errors import ConfigError, run_script
from gancli.metrics.classifier import reference_classifier
from gancli.training import train

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def recipes_of(args) -> dict[str, tuple[Path, list[str]]]:
    """Each recipe's name, file and overrides: the files, then the variants."""
    files = [Path(part) for part in args.recipes.split(",") if part]
    recipes = {path.stem: (path, []) for path in files}
    for variant in args.variant:
        name, _, settings = variant.partition(":")
        if not name or not settings or not files:
            raise ConfigError(f"--variant {variant!r}: expected NAME:KEY=VALUE,KEY=VALUE after --recipes")
        recipes[name] = (files[0], settings.split(","))
    return recipes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default=f"{EXAMPLES / 'mnist.yaml'},{EXAMPLES / 'mnist-large-batch.yaml'}")
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--min-classes", type=int, default=8)
    add_shared_arguments(parser, out=Path("runs/benchmark-recipes"), recipes="every recipe")
    parser.set_defaults(num=1000)
    args = parser.parse_args()
    device = resolve_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    recipes = recipes_of(args)
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
              "machine": (torch.cuda.get_device_name(device) if device.type == "cuda"
                          else f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads"),
              "torch": torch.__version__, "epochs": args.epochs, "generated_per_run": args.num, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare(Path(tmp), args.data, args.heldout, args.limit)
        reference = reference_classifier(data.train_pixels, data.train_labels, 10, args.out / "classifiers",
                                         notify=print, recipe=classifier_recipe(args))
        scorer, report["fid_network"] = heldout_fid(data.heldout_pixels, device, args.inception, args.no_fid,
                                                    args.out / "real-features")
        for seed in [int(s) for s in args.seeds.split(",")]:
            for name, (path, overrides) in recipes.items():
                values = read_yaml(path)
                config = recipe_config(data, args.out / f"{name}-seed{seed}", seed, args.epochs, args.steps,
                                       args.device, [*overrides, *args.overrides], recipe=path)
                started = time.perf_counter()
                result = train(config, reporter=PlainReporter(), overwrite=True)
                seconds = time.perf_counter() - started
                model = load_generator(result.last_checkpoint, device)
                row, fake = score(model.generator, model.sample_latent, args, reference, scorer, device)
                report["runs"].append({"recipe": name, "seed": seed, "batch_size": config.batch_size,
                                       "steps": result.steps, "train_s": round(seconds, 1),
                                       "settings": overrides or values, **row})
                save_grid(fake[:64], args.out / f"{name}-seed{seed}.png", nrow=8)
                print(json.dumps(report["runs"][-1]), flush=True)
                (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(table(report["runs"]))


def table(runs: list[dict]) -> str:
    lines = ["| recipe | batch | steps | seeds | FID mean | FID range | recognisable | classes covered | collapsed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["recipe"] for r in runs):
        group = [r for r in runs if r["recipe"] == name]
        fids = [r["fid"] for r in group if "fid" in r]
        fid = f"{statistics.fmean(fids):.1f} | {min(fids):.1f}-{max(fids):.1f}" if fids else "- | -"
        lines.append(f"| {name} | {group[0]['batch_size']} | {group[0]['steps']} | {len(group)} | {fid} | "
                     f"{statistics.fmean(r['recognisable'] for r in group):.1%} | "
                     f"{statistics.fmean(r['classes_covered'] for r in group):.1f}/10 | "
                     f"{sum(r['collapsed'] for r in group)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    run_script(main)
