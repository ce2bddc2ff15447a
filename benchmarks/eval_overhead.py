"""What a score's context costs `gancli eval`: the protocol, the real-data floor (first and
cached), FID's bootstrap spread and FID-infinity, each timed beside FID itself on features of
the Inception network's size, with no network run (their cost does not depend on the images).

    python benchmarks/eval_overhead.py [--generated 10000] [--real 10000] [--bootstrap 10]

Generating the images and computing their Inception features is the same with or without any
of these, and dominates an eval on a CPU (about 0.2 s an image on two cores).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from gancli.errors import run_script
from gancli.metrics.evaluation import Scorer
from gancli.metrics.features import FeatureExtractor


class Precomputed(torch.nn.Module):
    """A 'network' whose features are given: image i's are row i of `features`."""

    def __init__(self, features: torch.Tensor):
        super().__init__()
        self.features = features

    def forward(self, x):
        index = (x[:, 0, 0, :4] * 128 + 128).round().long()  # the image's number, written in its pixels
        return self.features[(index * torch.tensor([1, 256, 65536, 0])).sum(1)]


def numbered_images(n: int) -> torch.Tensor:
    pixels = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)  # MNIST-sized, for the hash
    numbers = torch.arange(n)
    for byte in range(3):
        pixels[:, 0, 0, byte] = (numbers >> (8 * byte)) % 256
    return pixels


def timed(what: str, work) -> object:
    started = time.perf_counter()
    result = work()
    print(f"{what:<44} {time.perf_counter() - started:8.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=10000)
    parser.add_argument("--real", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--bootstrap", type=int, default=10)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(args.real, args.dim, generator=generator).relu()
    fake = torch.randn(args.generated, args.dim, generator=generator).relu() + 0.05
    print(f"{args.generated:,} generated against {args.real:,} real features of {args.dim}, "
          f"{torch.get_num_threads()} torch threads")
    with tempfile.TemporaryDirectory() as cache:
        extractor = FeatureExtractor(Precomputed(real), "precomputed", input_size=None)
        scorer = Scorer(extractor, "mnist", "test", numbered_images(args.real), ("fid",), Path(cache))
        timed("FID (the score itself)", lambda: scorer.score_features(fake))
        timed("the protocol (hash of the real pixels)", lambda: scorer.protocol(("fid",), args.generated, "EMA", 0))
        timed("the real-data floor, first eval", lambda: scorer.floor(args.generated))
        timed("the real-data floor, cached", lambda: scorer.floor(args.generated))
        timed(f"FID's bootstrap spread, {args.bootstrap} resamples",
              lambda: scorer.score_features(fake, bootstrap=args.bootstrap))
        scorer.metrics = ("fid_inf",)
        timed("FID-infinity (opt-in)", lambda: scorer.score_features(fake))


if __name__ == "__main__":
    run_script(main)
