"""Side by side: pytorch/examples `dcgan/main.py`'s training loop against `gancli bench`.

    python benchmarks/reference_vs_gancli.py --device cpu --batch-size 16 --steps 20

Both train the same model, pytorch/examples' 64x64x3 DCGAN (nz 100, ngf = ndf = 64, 4x4
kernels; gancli's `dcgan64`), on the same batch size, in the same process. The reference loop is
main.py's, line for line: separate backward passes for real and fake, BCELoss on sigmoid
outputs, and `.item()` reads (its log line) every step. Both read their real batches from the
same kind of device-resident uint8 tensor, which spares the reference its DataLoader. gancli's
step is built by `build_training`, as `train` and `bench` build it, and driven by the trainer's
loop body. Steps alternate, one reference step then one gancli step, so that other load on a
shared machine hits both alike; the ratio is printed last.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.optim as optim

from gancli.core.device import resolve_device
from gancli.core.shapes import ImageShape
from gancli.errors import run_script
from gancli.config import TrainConfig
from gancli.training.step.batches import DeviceBatches
from gancli.training.step.assembly import build_training, resolve_model
from gancli.training.step.execution import ExecutionOptions, resolve_execution
from gancli.training.step.gan_step import STAT_NAMES

NZ, NGF, NDF, NC = 100, 64, 64, 3


class ReferenceGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, NGF * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(NGF * 8), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 8, NGF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 4), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 2), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF), nn.ReLU(True),
            nn.ConvTranspose2d(NGF, NC, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, z):
        return self.main(z)


class ReferenceDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(NC, NDF, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 4, NDF * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class ReferenceLoop:
    """pytorch/examples dcgan/main.py's networks, optimisers and inner loop."""

    def __init__(self, device: torch.device, batch_size: int):
        self.device = device
        self.netG = ReferenceGenerator().to(device)
        self.netG.apply(weights_init)
        self.netD = ReferenceDiscriminator().to(device)
        self.netD.apply(weights_init)
        self.criterion = nn.BCELoss()
        self.optimizerD = optim.Adam(self.netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
        self.optimizerG = optim.Adam(self.netG.parameters(), lr=0.0002, betas=(0.5, 0.999))
        self.pixels = torch.randint(0, 256, (batch_size * 4, NC, 64, 64), dtype=torch.uint8, device=device)
        self.batch_size = batch_size
        self.position = 0
        self.log = []

    def next_batch(self) -> torch.Tensor:
        start = (self.position % 4) * self.batch_size
        self.position += 1
        return self.pixels[start:start + self.batch_size].float() / 127.5 - 1

    def step(self) -> None:
        real_label, fake_label = 1.0, 0.0
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        self.netD.zero_grad()
        real_cpu = self.next_batch()
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=self.device)
        output = self.netD(real_cpu)
        errD_real = self.criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.randn(batch_size, NZ, 1, 1, device=self.device)
        fake = self.netG(noise)
        label.fill_(fake_label)
        output = self.netD(fake.detach())
        errD_fake = self.criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        self.optimizerD.step()
        # (2) Update G network: maximize log(D(G(z)))
        self.netG.zero_grad()
        label.fill_(real_label)
        output = self.netD(fake)
        errG = self.criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        self.optimizerG.step()
        # main.py prints this line every step; keeping it (not printing) keeps its host reads.
        self.log.append("Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f"
                        % (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))



class GancliLoop:
    """gancli's `dcgan64` step, built as `train` and `bench` build it, and the trainer's loop body."""

    def __init__(self, device: torch.device, batch_size: int, options: ExecutionOptions):
        config = TrainConfig(arch="dcgan64")
        execution = resolve_execution(options, device)
        self.training = build_training(config, resolve_model(config), ImageShape(NC, 64, 64), execution)
        pixels = torch.randint(0, 256, (batch_size * 4, NC, 64, 64), dtype=torch.uint8, device=device)
        self.batches = DeviceBatches(pixels, batch_size, seed=0)
        self.totals = torch.zeros(len(STAT_NAMES), device=device)

    def step(self) -> None:
        self.totals.add_(self.training.gan_step([self.batches.next()]))


def timed(step, device: torch.device) -> float:
    started = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed steps on each side")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps on each side first")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)

    reference = ReferenceLoop(device, args.batch_size)
    gancli = GancliLoop(device, args.batch_size, ExecutionOptions(precision=args.precision, compile=args.compile))
    for _ in range(args.warmup):
        reference.step()
        gancli.step()
    # Steps alternate one by one, so load from other jobs falls on both sides alike.
    reference_s, gancli_s = [], []
    for number in range(args.steps):
        reference_s.append(timed(reference.step, device))
        gancli_s.append(timed(gancli.step, device))
        print(f"step {number + 1}: reference {reference_s[-1] * 1000:9.1f} ms   gancli {gancli_s[-1] * 1000:9.1f} ms   "
              f"ratio {reference_s[-1] / gancli_s[-1]:.2f}", flush=True)
    ratios = [r / g for r, g in zip(reference_s, gancli_s)]
    print(f"gancli step: {gancli.training.effective_execution.describe()}; "
          f"batch {args.batch_size}, {args.steps} timed steps each")
    print(f"images/s over all timed steps: reference {args.batch_size * len(reference_s) / sum(reference_s):.2f}, "
          f"gancli {args.batch_size * len(gancli_s) / sum(gancli_s):.2f}; ratio {sum(reference_s) / sum(gancli_s):.2f}")
    print(f"per-step ratios: median {statistics.median(ratios):.2f}, range {min(ratios):.2f}..{max(ratios):.2f}")


if __name__ == "__main__":
    run_script(main)
