"""gancli's MNIST recipe against pytorch/examples' DCGAN recipe, several seeds, scored on images neither trained on.

    python benchmarks/reference_comparison.py [--epochs 5] [--seeds 0,1,2] [--reference-size 32] [--num 2000]

The 10,000 real MNIST test images are split (`heldout_mnist.py`): 8,000 to train on, 2,000 that
neither side sees. For every seed, both sides train for `--epochs` passes over the 8,000:

- the reference is pytorch/examples `dcgan/main.py` as it runs: its transforms (Resize, ToTensor,
  Normalize to [-1, 1]), its networks (4x4 (transposed) convolutions, batch norm, nz 100,
  ngf = ndf = 64, N(0, 0.02) weights), BCE on sigmoid outputs with hard labels, Adam(2e-4, 0.5),
  batch 64 shuffled by a DataLoader, one D step (real then fake) and one G step. At its own 64x64
  (`--reference-size 64`), or at 32x32 with one block fewer in each network (`32`, the default:
  a quarter of the work, which fits a CPU);
- gancli is `gancli train --config examples/mnist.yaml` (the recipe users are pointed to), its
  EMA generator scored.

Every model is scored at MNIST's own 28x28x1 (the reference's images are resized down with
antialiasing, as a user would to compare): FID of `--num` generated images against the 2,000
held-out ones (the standard Inception network; needs its weights, see `gancli eval --help`), and
the classifier measures of `gancli.metrics.classifier` (a classifier of the 8,000 training
images). A run whose samples cover fewer than `--min-classes` of the 10 digits is flagged
collapsed and left out of its side's mean, which the table says. Each run's final grid is saved
next to `OUT/report.json`.
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
import torch.nn.functional as F
from heldout_mnist import add_shared_arguments, classifier_recipe, heldout_fid, prepare, recipe_config
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gancli.checkpoints.generator import load_generator
from gancli.cli.progress import PlainReporter
from gancli.core.device import resolve_device
from gancli.core.pixels import save_grid
from gancli.errors import run_script
from gancli.metrics.classifier import classifier_scores, reference_classifier
from gancli.metrics.evaluation import generated_pixels
from gancli.training import train

SAMPLE_SEED = 1
NZ = 100


def reference_generator(size: int, width: int) -> nn.Module:
    """main.py's netG (nc = 1); at 32x32 the first block is left out."""
    blocks = 4 if size == 64 else 3
    layers: list[nn.Module] = []
    channels = [width * 2 ** i for i in reversed(range(blocks))]   # 512, 256, 128, 64 at 64x64
    layers += [nn.ConvTranspose2d(NZ, channels[0], 4, 1, 0, bias=False), nn.BatchNorm2d(channels[0]), nn.ReLU(True)]
    for inputs, outputs in zip(channels, channels[1:]):
        layers += [nn.ConvTranspose2d(inputs, outputs, 4, 2, 1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(channels[-1], 1, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def reference_discriminator(size: int, width: int) -> nn.Module:
    """main.py's netD (nc = 1), sigmoid included; at 32x32 the last block is left out."""
    blocks = 4 if size == 64 else 3
    channels = [width * 2 ** i for i in range(blocks)]              # 64, 128, 256, 512 at 64x64
    layers: list[nn.Module] = [nn.Conv2d(1, channels[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    for inputs, outputs in zip(channels, channels[1:]):
        layers += [nn.Conv2d(inputs, outputs, 4, 2, 1, bias=False), nn.BatchNorm2d(outputs),
                   nn.LeakyReLU(0.2, inplace=True)]
    layers += [nn.Conv2d(channels[-1], 1, 4, 1, 0, bias=False), nn.Sigmoid()]
    return nn.Sequential(*layers)


def weights_init(m: nn.Module) -> None:  # main.py's
    name = type(m).__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class ReferenceSampler(nn.Module):
    """The reference generator as gancli scores it: z (N, 100) -> images at 28x28 in [-1, 1]."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z):
        images = self.generator(z.view(z.shape[0], NZ, 1, 1))
        return F.interpolate(images, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)


def train_reference(pixels: torch.Tensor, size: int, width: int, epochs: int, steps: int | None, seed: int,
                    device: torch.device) -> tuple[nn.Module, int]:
    """main.py's loop on `pixels` (uint8, N x 1 x 28 x 28); returns netG and the steps taken."""
    torch.manual_seed(seed)
    # transforms.Resize(size) (bilinear, antialiased on tensors), ToTensor, Normalize((0.5,), (0.5,)).
    images = F.interpolate(pixels.float() / 255, size=(size, size), mode="bilinear", antialias=True,
                           align_corners=False).clamp(0, 1) * 2 - 1
    loader = DataLoader(TensorDataset(images), batch_size=64, shuffle=True)
    net_g, net_d = reference_generator(size, width).to(device), reference_discriminator(size, width).to(device)
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    taken = 0
    for epoch in range(epochs):
        for (real,) in loader:
            real = real.to(device)
            n = real.shape[0]
            net_d.zero_grad()
            label = torch.full((n,), 1.0, device=device)
            err_real = criterion(net_d(real).view(-1), label)
            err_real.backward()
            fake = net_g(torch.randn(n, NZ, 1, 1, device=device))
            label.fill_(0.0)
            err_fake = criterion(net_d(fake.detach()).view(-1), label)
            err_fake.backward()
            opt_d.step()
            net_g.zero_grad()
            label.fill_(1.0)
            criterion(net_d(fake).view(-1), label).backward()
            opt_g.step()
            taken += 1
            if steps is not None and taken >= steps:
                return net_g, taken
        print(f"reference seed {seed}: epoch {epoch + 1}/{epochs}", flush=True)
    return net_g, taken


def score(sampler: nn.Module, latent, args, reference, scorer, device) -> tuple[dict, torch.Tensor]:
    fake = generated_pixels(sampler, latent, args.num, SAMPLE_SEED, device)
    row = classifier_scores(reference, fake)
    row["collapsed"] = row["classes_covered"] < args.min_classes
    if scorer is not None:
        row["fid"] = scorer.score(fake)["fid"]
    return row, fake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--reference-size", type=int, choices=(32, 64), default=32)
    parser.add_argument("--reference-width", type=int, default=64, help="main.py's ngf = ndf")
    parser.add_argument("--min-classes", type=int, default=8, help="fewer digits covered than this: collapsed")
    add_shared_arguments(parser, out=Path("runs/benchmark-reference"), recipes="the gancli recipe")
    args = parser.parse_args()
    device = resolve_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        data = prepare(Path(tmp), args.data, args.heldout, args.limit)
        reference = reference_classifier(data.train_pixels, data.train_labels, 10, args.out / "classifiers",
                                         notify=print, recipe=classifier_recipe(args))
        scorer, fid_network = heldout_fid(data.heldout_pixels, device, args.inception, args.no_fid,
                                          args.out / "real-features")
        rows = []
        for seed in [int(s) for s in args.seeds.split(",")]:
            config = recipe_config(data, args.out / f"gancli-seed{seed}", seed, args.epochs, args.steps, args.device,
                                   args.overrides)
            started = time.perf_counter()
            result = train(config, reporter=PlainReporter(), overwrite=True)
            seconds = time.perf_counter() - started
            model = load_generator(result.last_checkpoint, device)
            row, fake = score(model.generator, model.sample_latent, args, reference, scorer, device)
            rows.append({"side": "gancli", "seed": seed, "steps": result.steps, "train_s": round(seconds, 1), **row})
            save_grid(fake[:64], args.out / f"gancli-seed{seed}.png", nrow=8)
            print(json.dumps(rows[-1]), flush=True)

            started = time.perf_counter()
            net_g, steps = train_reference(data.train_pixels, args.reference_size, args.reference_width,
                                           args.epochs, args.steps, seed, device)
            seconds = time.perf_counter() - started
            row, fake = score(ReferenceSampler(net_g).eval(), lambda n, generator: torch.randn(n, NZ, generator=generator),
                              args, reference, scorer, device)
            rows.append({"side": "reference", "seed": seed, "steps": steps, "train_s": round(seconds, 1), **row})
            save_grid(fake[:64], args.out / f"reference-seed{seed}.png", nrow=8)
            print(json.dumps(rows[-1]), flush=True)

    means = {side: mean_of([r for r in rows if r["side"] == side]) for side in ("gancli", "reference")}
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
              "machine": (torch.cuda.get_device_name(device) if device.type == "cuda"
                          else f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads"),
              "torch": torch.__version__, "epochs": args.epochs, "reference_size": args.reference_size,
              "generated_per_run": args.num, "train_images": len(data.train_pixels),
              "heldout_images": len(data.heldout_pixels), "fid_network": fid_network,
              "classifier_accuracy": reference.accuracy, "runs": rows, "means": means}
    if means["gancli"].get("fid") and means["reference"].get("fid"):
        report["fid_ratio"] = means["gancli"]["fid"] / means["reference"]["fid"]
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(table(rows, means, report.get("fid_ratio"), fid_network))


def mean_of(rows: list[dict]) -> dict:
    """Means over the runs that did not collapse, and how many those were."""
    kept = [r for r in rows if not r["collapsed"]]
    means: dict = {"runs": len(rows), "kept": len(kept)}
    for key in ("fid", "recognisable", "classes_covered", "class_kl"):
        if kept and all(key in r for r in kept):
            means[key] = statistics.fmean(r[key] for r in kept)
    return means


def table(rows: list[dict], means: dict, ratio: float | None, fid_network: str) -> str:
    lines = ["| side | seed | steps | FID (held-out, 28x28) | recognisable | classes covered | class KL | collapsed | train s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fid = f"{r['fid']:.1f}" if "fid" in r else "-"
        lines.append(f"| {r['side']} | {r['seed']} | {r['steps']} | {fid} | {r['recognisable']:.1%} | "
                     f"{r['classes_covered']:.0f}/10 | {r['class_kl']:.3f} | {'yes' if r['collapsed'] else 'no'} | "
                     f"{r['train_s']:.0f} |")
    for side, m in means.items():
        fid = f"{m['fid']:.1f}" if "fid" in m else "-"
        lines.append(f"| {side} mean of {m['kept']} of {m['runs']} | | | {fid} | "
                     + (f"{m['recognisable']:.1%} | {m['classes_covered']:.1f}/10 | {m['class_kl']:.3f}" if m["kept"] else "- | - | -")
                     + " | | |")
    lines.append("")
    lines.append(f"FID ratio gancli / reference: {ratio:.2f}" if ratio else f"FID: {fid_network}")
    return "\n".join(lines)


if __name__ == "__main__":
    run_script(main)
