"""gancli's shipped recipes, and variants of them, side by side: several seeds, each scored on held-out images of its own dataset.

    python benchmarks/recipes.py [--recipes examples/quickstart.yaml,examples/mnist.yaml,...] [--seeds 0,1,2]
                                 [--num 1000] [--epochs-of mnist=5] [--data-root svhn=PATH]
                                 [--variant NAME:KEY=VALUE,...] [--base FILE]
    python benchmarks/recipes.py --table OUT/report.json [OUT2/report.json ...]

Without `--recipes`, every `examples/*.yaml`: the recipe table of benchmarks/README.md. A recipe
trains on one dataset and is scored on images of the same kind that it never saw:

- `mnist`: the 10,000 real MNIST test images split as `reference_comparison.py` splits them
  (`heldout_mnist.py`): 8,000 to train on, 2,000 held out;
- any other dataset: its `train` split to train on and the first `--heldout` images of its
  `test` split held out (`synthetic`: 10,000 and 2,000 digits drawn from other seeds). A dataset whose files are not found
  (`--data-root NAME=PATH`, e.g. SVHN's `train_32x32.mat` and `test_32x32.mat`) gets a row saying
  so, and the other recipes run.

Each recipe trains its own epochs unless `--epochs N` (every recipe) or `--epochs-of NAME=N`
says otherwise; by default the MNIST recipe trains 5, as every MNIST table of the README (its 25
are meant for 60,000 images; here there are 8,000) and so does the large-batch one, and the CPU
one 15 (`MNIST_EPOCHS`). Scores:
FID of `--num` EMA samples against the held-out images, at the data's own size, beside the
real-data floor (FID between two halves of the held-out images, `--num` each or half of them),
and the classifier measures of a reference classifier trained on the training images (a
conditional recipe samples classes as often as its training labels have them, and adds
conditional accuracy). `--variant NAME:KEY=VALUE,...` adds a
recipe: `--base` (default: the first `--recipes` file) with those overrides, for trying settings
without writing a file; `--recipes ''` runs the variants alone. `--score-at 5,10` also scores
each run at those earlier epochs, from the checkpoints it writes there (a row each: how quality
grows with passes, from one run). Each run's final grid (one row
per class for a conditional recipe) is saved beside `OUT/report.json`, which is rewritten after
every run; `--table` prints the table of one or more such reports, joined.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from heldout_mnist import add_shared_arguments, classifier_recipe, heldout_fid, prepare, recipe_config
from quality import grid_of

from gancli.checkpoints.generator import load_generator
from gancli.cli.progress import PlainReporter
from gancli.config import read_yaml
from gancli.core.device import resolve_device
from gancli.core.pixels import save_grid
from gancli.datasets.base import Images
from gancli.datasets.loading import load_images
from gancli.errors import ConfigError, GancliError, run_script
from gancli.metrics.classifier import classifier_scores, reference_classifier
from gancli.metrics.evaluation import floor_of, generated_pixels, labels_like
from gancli.training import train
from gancli.training.run.folder import RunFolder
from gancli.training.step.assembly import resolve_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# The MNIST recipes' epochs are meant for MNIST's 60,000 training images; on the 8,000 here,
# mnist.yaml trains the 2,500 updates of every MNIST table, mnist-cpu.yaml the ~7,500 it makes in
# ten minutes on one AVX2 core (the equal-compute curve), mnist-large-batch.yaml the same 5 epochs
# as mnist.yaml (930 updates of 128).
MNIST_EPOCHS = ("mnist=5", "mnist-cpu=15", "mnist-large-batch=5")
SAMPLE_SEED = 1


@dataclass
class RecipeData:
    """A dataset as the recipes use it: images to train on, images held out, where they are."""

    name: str
    root: Path | None
    train: Images
    heldout: Images

    def training_values(self) -> dict:
        """The settings that train on `train`."""
        root = {"data_root": str(self.root)} if self.root is not None else {}
        return {"data": self.name, "split": "train", "download": False, **root}


def load_data(name: str, args, folder: Path) -> RecipeData:
    """`name`'s images to train on and held out (MNIST's split written under `folder`)."""
    if name == "mnist":
        split = prepare(folder / "mnist", args.data, args.heldout, args.limit)
        return RecipeData(name, split.root, Images(split.train_pixels, split.train_labels),
                          Images(split.heldout_pixels, split.heldout_labels))
    root = args.data_roots.get(name)
    train_images, heldout = (load_images(name, split, root, download=False) for split in ("train", "test"))
    if args.limit is not None:  # what the classifier trains on; the run itself reads the whole split
        train_images = Images(train_images.pixels[:args.limit], train_images.labels[:args.limit])
    return RecipeData(name, root, train_images, Images(heldout.pixels[:args.heldout], heldout.labels[:args.heldout]))


def named_values(options: list[str], flag: str) -> dict[str, str]:
    """`NAME=VALUE` options as a dict."""
    values = {}
    for option in options:
        name, _, value = option.partition("=")
        if not name or not value:
            raise ConfigError(f"{flag} {option!r}: expected NAME=VALUE")
        values[name] = value
    return values


def recipes_of(args) -> dict[str, tuple[Path, list[str]]]:
    """Each recipe's name, file and overrides: the files, then the variants."""
    files = [Path(part) for part in args.recipes.split(",") if part]
    recipes = {path.stem: (path, []) for path in files}
    base = args.base or (files[0] if files else None)
    for variant in args.variant:
        name, _, settings = variant.partition(":")
        if not name or not settings or base is None:
            raise ConfigError(f"--variant {variant!r}: expected NAME:KEY=VALUE,KEY=VALUE over --base or --recipes")
        recipes[name] = (base, settings.split(","))
    return recipes


def epochs_of(name: str, path: Path, args) -> int:
    """`--epochs`, else `--epochs-of` for the recipe or the file it varies, else the file's own."""
    if args.epochs is not None:
        return args.epochs
    chosen = args.epochs_of.get(name, args.epochs_of.get(path.stem))
    try:
        return int(chosen) if chosen is not None else int(read_yaml(path).get("epochs", 1))
    except ValueError:
        raise ConfigError(f"--epochs-of {name}={chosen}: expected a whole number of epochs") from None


def data_of(path: Path) -> str:
    return read_yaml(path).get("data", "")


def judged_datasets(recipes: dict, args, folder: Path, device: torch.device,
                    report: dict) -> dict[str, tuple[RecipeData, object, object] | str]:
    """Each recipe's dataset with its reference classifier and held-out FID scorer, or why it
    cannot be measured; the FID network's name goes into `report`."""
    datasets: dict[str, tuple[RecipeData, object, object] | str] = {}
    for path, _ in recipes.values():
        name = data_of(path)
        if name in datasets:
            continue
        try:
            data = load_data(name, args, folder)
        except GancliError as err:
            datasets[name] = f"not measured: {err}"
            continue
        reference = reference_classifier(data.train.pixels, data.train.labels, 10, args.out / "classifiers",
                                         notify=print, recipe=classifier_recipe(args))
        scorer, report.setdefault("fid_network", {})[name] = heldout_fid(
            data.heldout.pixels, device, args.inception, args.no_fid, args.out / "real-features",
            name=f"{name}-heldout")
        datasets[name] = data, reference, scorer
    return datasets


def run_recipe(name: str, path: Path, overrides: list[str], seed: int, judged: tuple, args,
               device: torch.device) -> list[dict]:
    """Train one recipe for one seed and score its EMA generator, at the end and at each of
    `--score-at`'s earlier epochs (from the checkpoint written there); the grids are saved beside
    the report. A run's schedule does not depend on its length (constant learning rates, the EMA
    warmed up by step), so its checkpoint at epoch 5 is the model a 5-epoch run makes."""
    data, reference, scorer = judged
    epochs = epochs_of(name, path, args)
    earlier = sorted(e for e in args.score_at if e < epochs) if args.steps is None else []
    config = recipe_config(data, args.out / f"{name}-seed{seed}", seed, epochs, args.steps, args.device,
                           [*overrides, *args.overrides], recipe=path)
    per_epoch = len(data.train) // config.batch_size // resolve_model(config).d_steps
    if earlier:
        config = dataclasses.replace(config, checkpoint_every=per_epoch)
    started = time.perf_counter()
    result = train(config, reporter=PlainReporter(), overwrite=True)
    seconds = time.perf_counter() - started
    common = {"recipe": name, "seed": seed, "data": data.name, "train_images": len(data.train),
              "heldout_images": len(data.heldout), "conditional": config.conditional,
              "batch_size": config.batch_size, "settings": overrides or read_yaml(path)}
    rows = []
    for at in earlier:
        checkpoint = RunFolder(Path(config.out)).checkpoint_path(at * per_epoch)
        if not checkpoint.exists():
            raise ConfigError(f"--score-at {at}: no checkpoint at step {at * per_epoch} in {checkpoint.parent}")
        rows.append({**common, "epochs": at, "steps": at * per_epoch, "train_s": round(seconds * at / epochs, 1),
                     **scores(checkpoint, config.conditional, judged, args, device, f"{name}-seed{seed}-epoch{at}")})
    rows.append({**common, "epochs": epochs, "steps": result.steps, "train_s": round(seconds, 1),
                 **scores(result.last_checkpoint, config.conditional, judged, args, device, f"{name}-seed{seed}")})
    return rows


def scores(checkpoint: Path, conditional: bool, judged: tuple, args, device: torch.device, grid: str) -> dict:
    """A checkpoint's EMA generator scored on the held-out images; its grid saved as OUT/GRID.png."""
    data, reference, scorer = judged
    model = load_generator(checkpoint, device)
    requested = labels_like(data.train.labels, args.num, SAMPLE_SEED) if conditional else None
    fake = generated_pixels(model.generator, model.sample_latent, args.num, SAMPLE_SEED, device, labels=requested)
    row = classifier_scores(reference, fake, requested)
    row["collapsed"] = row["classes_covered"] < args.min_classes
    if scorer is not None:
        row.update(fid=scorer.score(fake)["fid"], **floor_of(scorer, args.num))
    save_grid(grid_of(model, conditional, device), args.out / f"{grid}.png", nrow=8 if conditional else 10)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default=",".join(str(path) for path in sorted(EXAMPLES.glob("*.yaml"))))
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument("--base", type=Path, default=None, help="the recipe variants change")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--min-classes", type=int, default=8)
    parser.add_argument("--epochs-of", action="append", default=None, metavar="NAME=N",
                        help="one recipe's epochs (default: mnist=5, mnist-cpu=15, mnist-large-batch=5)")
    parser.add_argument("--data-root", action="append", default=[], metavar="NAME=PATH",
                        help="where a dataset's files are (e.g. svhn=~/data/svhn)")
    parser.add_argument("--score-at", default="", metavar="EPOCHS",
                        help="also score each run at these earlier epochs, e.g. 5,10 (a row each)")
    parser.add_argument("--table", nargs="+", type=Path, metavar="REPORT", help="print the table of these reports")
    add_shared_arguments(parser, out=Path("runs/benchmark-recipes"), recipes="every recipe")
    parser.set_defaults(num=1000, epochs=None)
    args = parser.parse_args()
    if args.table:
        print(table([run for path in args.table for run in json.loads(path.read_text())["runs"]]))
        return
    args.score_at = [int(e) for e in args.score_at.split(",") if e]
    args.epochs_of = named_values(args.epochs_of if args.epochs_of is not None else list(MNIST_EPOCHS),
                                  "--epochs-of")
    args.data_roots = {name: Path(path).expanduser() for name, path in named_values(args.data_root, "--data-root").items()}
    device = resolve_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    recipes = recipes_of(args)
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
              "machine": (torch.cuda.get_device_name(device) if device.type == "cuda"
                          else f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads"),
              "torch": torch.__version__, "generated_per_run": args.num, "runs": []}

    def record(row: dict) -> None:
        report["runs"].append(row)
        print(json.dumps(row), flush=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=2))

    with tempfile.TemporaryDirectory() as tmp:
        datasets = judged_datasets(recipes, args, Path(tmp), device, report)
        judged = {name: datasets[data_of(path)] for name, (path, _) in recipes.items()}
        for name, found in judged.items():
            if isinstance(found, str):
                record({"recipe": name, "skipped": found})
        for seed in [int(s) for s in args.seeds.split(",")]:
            for name, (path, overrides) in recipes.items():
                if not isinstance(judged[name], str):
                    for row in run_recipe(name, path, overrides, seed, judged[name], args, device):
                        record(row)
    print(table(report["runs"]))


def table(runs: list[dict]) -> str:
    """Each recipe's mean and range over its seeds, a row per recipe and epochs; a recipe not
    measured says why."""
    lines = ["| recipe | data | batch | epochs | steps | seeds | FID mean | FID range | real vs real | recognisable | "
             "classes covered | conditional accuracy | collapsed |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, epochs in dict.fromkeys((r["recipe"], r.get("epochs")) for r in runs):
        group = [r for r in runs if r["recipe"] == name and r.get("epochs") == epochs and "skipped" not in r]
        if not group:
            reason = next(r["skipped"] for r in runs if r["recipe"] == name).split(";")[0]  # report.json: all of it
            lines.append(f"| {name} | {reason} |" + " |" * 11)
            continue
        fids = [r["fid"] for r in group if "fid" in r]
        fid = f"{statistics.fmean(fids):.1f} | {min(fids):.1f}-{max(fids):.1f}" if fids else "- | -"
        accuracy = [r["conditional_accuracy"] for r in group if "conditional_accuracy" in r]
        first = group[0]
        floor = f"{first['fid_floor']:.1f} at {first['fid_floor_n']:,}" if "fid_floor" in first else "-"
        lines.append(f"| {name} | {first['data']} | {first['batch_size']} | {first['epochs']} | {first['steps']} | "
                     f"{len(group)} | {fid} | {floor} | {statistics.fmean(r['recognisable'] for r in group):.1%} | "
                     f"{statistics.fmean(r['classes_covered'] for r in group):.1f}/10 | "
                     f"{f'{statistics.fmean(accuracy):.1%}' if accuracy else '-'} | "
                     f"{sum(r['collapsed'] for r in group)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    run_script(main)
