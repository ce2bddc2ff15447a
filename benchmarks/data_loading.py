"""What the data pipeline costs: startup from the decode cache, and batch selection against a step.

    python benchmarks/data_loading.py --device cuda --batch-size 128

1. Startup: writes an SVHN-train-sized `train_32x32.mat` (73,257 random images, 225 MB) to a
   temporary folder and loads it through the `svhn` dataset twice: the first load decodes the
   .mat and writes the cache, the second reads the cache.
2. Per step: times `DeviceBatches.next()` (and `StreamedBatches.next()`) against one full DCGAN
   step (the default 3x32x32 networks) at the given batch size, synchronising the device so
   the times are real.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gancli.architectures import architectures
from gancli.core.device import resolve_device
from gancli.core.shapes import ImageShape
from gancli.datasets import DataRequest, datasets
from gancli.errors import run_script
from gancli.losses import make_loss
from gancli.training.step.batches import DeviceBatches, StreamedBatches
from gancli.training.step.gan_step import GANStep


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def per_call_ms(fn, device: torch.device, calls: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    synchronise(device)
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    synchronise(device)
    return (time.perf_counter() - started) / calls * 1000


def startup(images: int) -> torch.Tensor:
    from scipy.io import savemat

    with tempfile.TemporaryDirectory() as folder:
        pixels = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3, images), dtype=np.uint8)
        savemat(f"{folder}/train_32x32.mat", {"X": pixels, "y": np.ones((images, 1), dtype=np.uint8)})
        request = DataRequest(root=Path(folder), split="train")
        for label in ("decode + write cache", "from the cache"):
            started = time.perf_counter()
            loaded = datasets.get("svhn").load(request)
            print(f"startup, {label}: {time.perf_counter() - started:.3f} s "
                  f"({len(loaded):,} images, {loaded.pixels.numel() / 2**20:.0f} MB)")
    return loaded.pixels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=73_257)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)

    pixels = startup(args.images)

    architecture = architectures.get("dcgan")
    config = architecture.make_config({})
    generator, discriminator = architecture.build(ImageShape(3, 32, 32), config)
    generator.to(device), discriminator.to(device)
    step = GANStep(generator, discriminator, make_loss("bce", 0.1),
                   torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999)),
                   torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999)),
                   lambda n: architecture.sample_latent(n, config, device=device))

    resident = DeviceBatches(pixels.to(device), args.batch_size, seed=0)
    streamed = StreamedBatches(pixels, args.batch_size, seed=0, device=device, workers=2)
    real = resident.next()
    select_ms = per_call_ms(resident.next, device, calls=200)
    stream_ms = per_call_ms(streamed.next, device, calls=50)
    step_ms = per_call_ms(lambda: step([real]), device, calls=args.steps)
    print(f"device {device}, batch {args.batch_size}: DCGAN step {step_ms:.2f} ms; "
          f"on-device batch {select_ms:.3f} ms ({select_ms / step_ms:.2%} of the step); "
          f"streamed batch {stream_ms:.3f} ms ({stream_ms / step_ms:.2%})")


if __name__ == "__main__":
    run_script(main)
