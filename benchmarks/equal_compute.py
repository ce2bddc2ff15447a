"""Quality per minute: gancli's MNIST recipe and pytorch/examples' DCGAN recipe given the same
wall-clock minutes on the same machine, several seeds, scored on images neither trained on.

    python benchmarks/equal_compute.py [--minutes 1,2,5,10] [--seeds 0,1,2] [--num 1000] [--threads 1]
                                       [--recipe examples/mnist.yaml] [--sides gancli,reference]
    python benchmarks/equal_compute.py --table OUT/report.json [OUT2/report.json ...]

The data, split and scoring are `reference_comparison.py`'s (8,000 real MNIST images to train on,
2,000 held out; FID of `--num` generated images at 28x28x1 against the held-out ones; the
classifier measures). Each side trains once per seed for the largest budget; its clock counts
the training steps only (from its first step, the data already in memory) and stops while the
generator is copied at each budget, so the copy at 5 minutes is the model a 5-minute run makes:
neither recipe's schedule depends on how long the run will be (gancli's EMA warms up by step,
not by the step count to come). The copies are scored after training, outside the clock.

- gancli runs `--recipe` (default `examples/mnist.yaml`) through its own trainer, as `gancli
  train` runs it (its log and guard every `log_every` steps included), and its EMA generator is
  scored; another recipe's side is named after it (`gancli mnist-cpu`), so reports of several
  recipes join (`--table`: one table and one curve of them all);
- the reference runs `dcgan/main.py`'s loop (`reference_comparison.train_reference`'s recipe, its
  32x32 variant by default) step by step.

The two sides take turns, seed by seed, so a drift in the machine's speed falls on both
(`--sides gancli` or `--sides reference` runs one of them). Every
figure goes to `OUT/report.json` as it is measured, the table of means to stdout, and the curve
of FID against minutes to `OUT/fid-vs-minutes.svg`.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from heldout_mnist import RECIPE, add_shared_arguments, classifier_recipe, heldout_fid, prepare, recipe_config
from reference_comparison import (NZ, ReferenceSampler, reference_discriminator, reference_generator, score,
                                  weights_init)
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import torch.nn.functional as F

from gancli.core.device import resolve_device
from gancli.core.pixels import save_grid
from gancli.errors import ConfigError, run_script
from gancli.metrics.classifier import reference_classifier
from gancli.training import Reporter, Trainer


class BudgetReached(Exception):
    """Raised from inside the trainer's loop once the last budget is spent."""


class Stopwatch:
    """Training time only: `pause()` while a copy is taken."""

    def __init__(self, budgets_s: list[float]):
        self.budgets = sorted(budgets_s)
        self.started = time.perf_counter()
        self.paused = 0.0
        self.copies: list[tuple[float, int, nn.Module]] = []   # (budget s, steps, generator)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started - self.paused

    def due(self) -> bool:
        return len(self.copies) < len(self.budgets) and self.elapsed() >= self.budgets[len(self.copies)]

    def take(self, steps: int, generator: nn.Module) -> bool:
        """Copy `generator` for the budget just reached; True when it was the last."""
        pause = time.perf_counter()
        self.copies.append((self.budgets[len(self.copies)], steps, copy.deepcopy(generator).eval()))
        self.paused += time.perf_counter() - pause
        return len(self.copies) == len(self.budgets)


class BudgetReporter(Reporter):
    """Watches gancli's trainer step by step and copies its EMA generator at each budget."""

    def __init__(self, budgets_s: list[float]):
        self.budgets_s = budgets_s
        self.trainer: Trainer | None = None
        self.watch: Stopwatch | None = None

    def start(self, total_steps: int, steps_per_epoch: int, first_step: int = 0) -> None:
        self.watch = Stopwatch(self.budgets_s)

    def advance(self, step: int, epoch: int) -> None:
        if self.watch.due() and self.watch.take(step, self.trainer.run.sampled_generator):
            raise BudgetReached


def train_gancli(config, budgets_s: list[float]) -> tuple[list[tuple[float, int, nn.Module]], object]:
    reporter = BudgetReporter(budgets_s)
    trainer = Trainer(config, reporter=reporter, overwrite=True)
    reporter.trainer = trainer
    try:
        trainer.run_loop()
    except BudgetReached:
        pass
    finally:
        trainer.close()
    return reporter.watch.copies, trainer.run.step.model.sample_latent


def train_reference(pixels: torch.Tensor, size: int, width: int, seed: int, device: torch.device,
                    budgets_s: list[float]) -> list[tuple[float, int, nn.Module]]:
    """`reference_comparison.train_reference`'s loop, for as long as the budgets say."""
    torch.manual_seed(seed)
    images = F.interpolate(pixels.float() / 255, size=(size, size), mode="bilinear", antialias=True,
                           align_corners=False).clamp(0, 1) * 2 - 1
    loader = DataLoader(TensorDataset(images), batch_size=64, shuffle=True)
    net_g, net_d = reference_generator(size, width).to(device), reference_discriminator(size, width).to(device)
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    watch, taken = Stopwatch(budgets_s), 0
    while True:
        for (real,) in loader:
            real = real.to(device)
            n = real.shape[0]
            net_d.zero_grad()
            label = torch.full((n,), 1.0, device=device)
            criterion(net_d(real).view(-1), label).backward()
            fake = net_g(torch.randn(n, NZ, 1, 1, device=device))
            label.fill_(0.0)
            criterion(net_d(fake.detach()).view(-1), label).backward()
            opt_d.step()
            net_g.zero_grad()
            label.fill_(1.0)
            criterion(net_d(fake).view(-1), label).backward()
            opt_g.step()
            taken += 1
            if watch.due() and watch.take(taken, ReferenceSampler(net_g)):
                return watch.copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="1,2,5,10", help="the budgets, comma-separated")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--reference-size", type=int, choices=(32, 64), default=32)
    parser.add_argument("--reference-width", type=int, default=64)
    parser.add_argument("--min-classes", type=int, default=8)
    parser.add_argument("--recipe", type=Path, default=RECIPE, help="gancli's side (default: examples/mnist.yaml)")
    parser.add_argument("--sides", default="gancli,reference", help="which sides train: gancli, reference or both")
    parser.add_argument("--table", nargs="+", type=Path, metavar="REPORT",
                        help="the table and curve of these reports, joined (written to --out)")
    add_shared_arguments(parser, out=Path("runs/benchmark-equal-compute"), recipes="the gancli recipe")
    parser.set_defaults(num=1000)
    args = parser.parse_args()
    if args.table:
        joined = means([run for path in args.table for run in json.loads(path.read_text())["runs"]])
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "fid-vs-minutes.svg").write_text(curve_svg(joined))
        print(table(joined, 0))
        return
    sides = set(args.sides.split(","))
    if not sides or not sides <= {"gancli", "reference"}:
        raise ConfigError(f"--sides {args.sides}: expected gancli, reference or gancli,reference")
    gancli_side = "gancli" if args.recipe.resolve() == RECIPE else f"gancli {args.recipe.stem}"
    if args.threads:
        torch.set_num_threads(args.threads)
    budgets = sorted(float(m) * 60 for m in args.minutes.split(","))
    device = resolve_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
              "machine": (torch.cuda.get_device_name(device) if device.type == "cuda"
                          else f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads"),
              "torch": torch.__version__, "minutes": [round(b / 60, 6) for b in budgets], "generated_per_run": args.num,
              "runs": []}

    with tempfile.TemporaryDirectory() as tmp:
        data = prepare(Path(tmp), args.data, args.heldout, args.limit)
        reference = reference_classifier(data.train_pixels, data.train_labels, 10, args.out / "classifiers",
                                         notify=print, recipe=classifier_recipe(args))
        scorer, report["fid_network"] = heldout_fid(data.heldout_pixels, device, args.inception, args.no_fid,
                                                    args.out / "real-features")
        for seed in [int(s) for s in args.seeds.split(",")]:
            if "gancli" in sides:
                config = recipe_config(data, args.out / f"gancli-seed{seed}", seed, 1, 10 ** 9, args.device,
                                       args.overrides, recipe=args.recipe)
                copies, latent = train_gancli(config, budgets)
                score_copies(gancli_side, seed, copies, latent, args, reference, scorer, device, report)
            if "reference" in sides:
                copies = train_reference(data.train_pixels, args.reference_size, args.reference_width, seed, device,
                                         budgets)
                score_copies("reference", seed, copies, lambda n, generator: torch.randn(n, NZ, generator=generator),
                             args, reference, scorer, device, report)

    report["means"] = means(report["runs"])
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    (args.out / "fid-vs-minutes.svg").write_text(curve_svg(report["means"]))
    print(table(report["means"], len(report["runs"])))


def score_copies(side, seed, copies, latent, args, reference, scorer, device, report) -> None:
    for budget, steps, generator in copies:
        row, fake = score(generator, latent, args, reference, scorer, device)
        minutes = round(budget / 60, 6)
        report["runs"].append({"side": side, "seed": seed, "minutes": minutes, "steps": steps, **row})
        save_grid(fake[:64], args.out / f"{side.replace(' ', '-')}-seed{seed}-{minutes:g}min.png", nrow=8)
        print(json.dumps(report["runs"][-1]), flush=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=2))


def means(runs: list[dict]) -> list[dict]:
    """Per side and budget: mean and spread of FID over the seeds, the steps, and collapsed runs."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["side"], run["minutes"]), []).append(run)
    rows = []
    for (side, minutes), group in sorted(groups.items()):
        fids = [r["fid"] for r in group if "fid" in r]
        rows.append({"side": side, "minutes": minutes, "seeds": len(group),
                     "steps": statistics.fmean(r["steps"] for r in group),
                     "fid": statistics.fmean(fids) if fids else None,
                     "fid_min": min(fids) if fids else None, "fid_max": max(fids) if fids else None,
                     "recognisable": statistics.fmean(r["recognisable"] for r in group),
                     "collapsed": sum(r["collapsed"] for r in group)})
    return rows


def table(rows: list[dict], runs: int) -> str:
    lines = ["| minutes | side | seeds | steps (mean) | FID mean | FID range | recognisable | collapsed |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["minutes"], r["side"])):
        fid = f"{r['fid']:.1f} | {r['fid_min']:.1f}-{r['fid_max']:.1f}" if r["fid"] is not None else "- | -"
        lines.append(f"| {r['minutes']:g} | {r['side']} | {r['seeds']} | {r['steps']:.0f} | {fid} | "
                     f"{r['recognisable']:.1%} | {r['collapsed']} |")
    return "\n".join(lines)


def curve_svg(rows: list[dict], width: int = 560, height: int = 320) -> str:
    """FID (mean over seeds, bars from the best to the worst seed) against minutes, log-scaled."""
    import math
    rows = [r for r in rows if r["fid"] is not None]
    if not rows:
        return "<svg xmlns='http://www.w3.org/2000/svg'/>"
    left, right, top, bottom = 60, 130, 20, 50
    minutes = sorted({r["minutes"] for r in rows})
    top_fid = max(r["fid_max"] for r in rows) * 1.1
    lo, hi = math.log(minutes[0]), math.log(minutes[-1]) if len(minutes) > 1 else math.log(minutes[0]) + 1

    def x(m):
        return left + (math.log(m) - lo) / (hi - lo or 1) * (width - left - right)

    def y(f):
        return top + (1 - f / top_fid) * (height - top - bottom)

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' "
             f"font-size='12'><rect width='100%' height='100%' fill='white'/>",
             f"<line x1='{left}' y1='{y(0)}' x2='{width - right}' y2='{y(0)}' stroke='#333'/>",
             f"<line x1='{left}' y1='{top}' x2='{left}' y2='{y(0)}' stroke='#333'/>",
             f"<text x='{(left + width - right) / 2}' y='{height - 10}' text-anchor='middle'>minutes of training "
             f"(log scale)</text>",
             f"<text x='14' y='{(top + y(0)) / 2}' transform='rotate(-90 14 {(top + y(0)) / 2})' "
             f"text-anchor='middle'>FID, held-out MNIST</text>"]
    for m in minutes:
        parts.append(f"<text x='{x(m)}' y='{y(0) + 16}' text-anchor='middle'>{m:g}</text>")
    step = 25 if top_fid < 150 else 50
    for f in range(0, int(top_fid) + 1, step):
        parts.append(f"<text x='{left - 6}' y='{y(f) + 4}' text-anchor='end'>{f}</text>"
                     f"<line x1='{left}' y1='{y(f)}' x2='{width - right}' y2='{y(f)}' stroke='#ddd'/>")
    sides = sorted({r["side"] for r in rows}, key=lambda side: (side == "reference", side))
    for index, side in enumerate(sides):
        colour = "#d62728" if side == "reference" else ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b")[index % 4]
        points = sorted((r for r in rows if r["side"] == side), key=lambda r: r["minutes"])
        path = " ".join(f"{x(r['minutes']):.1f},{y(r['fid']):.1f}" for r in points)
        parts.append(f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2'/>")
        for r in points:
            parts.append(f"<line x1='{x(r['minutes']):.1f}' y1='{y(r['fid_min']):.1f}' x2='{x(r['minutes']):.1f}' "
                         f"y2='{y(r['fid_max']):.1f}' stroke='{colour}'/>"
                         f"<circle cx='{x(r['minutes']):.1f}' cy='{y(r['fid']):.1f}' r='3' fill='{colour}'/>")
        label = {"reference": "pytorch/examples", "gancli": "gancli mnist.yaml"}.get(side, f"{side}.yaml")
        parts.append(f"<text x='{width - right + 10}' y='{top + 20 + 18 * index}' fill='{colour}'>{label}</text>")
    parts.append("</svg>")
    return "\n".join(parts)


if __name__ == "__main__":
    run_script(main)
