"""Which execution is fastest on this CPU: plain, fused Adam, channels-last, bf16 autocast, compiled.

    python benchmarks/cpu_execution_modes.py --arch dcgan64 --image-size 64 --batch-size 16 --rounds 3 --steps 2

Each round times every mode once, in turn, so that other load on a shared machine hits all
modes alike; the medians are printed relative to the plain step. Modes whose losses turn
non-finite are reported as unstable.
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch

from gancli.config import TrainConfig
from gancli.errors import run_script
from gancli.training.step.bench import bench
from gancli.training.step.execution import Execution, ExecutionOptions, resolve_execution

CPU = torch.device("cpu")
MODES = {
    "plain": Execution(CPU, "fp32", channels_last=False, fused_adam=False, cuda_graphs=False, compile=False),
    "fused adam": Execution(CPU, "fp32", channels_last=False, fused_adam=True, cuda_graphs=False, compile=False),
    "channels-last": Execution(CPU, "fp32", channels_last=True, fused_adam=True, cuda_graphs=False, compile=False),
    "bf16": Execution(CPU, "bf16", channels_last=True, fused_adam=True, cuda_graphs=False, compile=False),
    "compiled": Execution(CPU, "fp32", channels_last=True, fused_adam=True, cuda_graphs=False, compile=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="dcgan64")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=3, help="1 for MNIST's grey digits")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of: " + ", ".join(MODES))
    args = parser.parse_args()
    modes = {name: MODES[name] for name in args.modes.split(",")}
    rates: dict[str, list[float]] = {name: [] for name in modes}
    stable = {name: True for name in modes}
    for round_number in range(args.rounds):
        for name, execution in modes.items():
            config = TrainConfig(arch=args.arch, batch_size=args.batch_size, device="cpu")
            result = bench(config, image_size=args.image_size, channels=args.channels, steps=args.steps,
                           execution=execution, warmup_steps=2)
            rates[name].append(result.images_per_s)
            stable[name] &= all(math.isfinite(v) for v in result.final_stats.values())
            print(f"round {round_number + 1}  {name:22s} {result.images_per_s:8.2f} images/s", flush=True)
    base = statistics.median(rates[next(iter(modes))])
    print(f"\n{args.arch} {args.image_size}x{args.image_size}x{args.channels}, batch {args.batch_size}, "
          f"{args.rounds} rounds of {args.steps} steps")
    for name in modes:
        median = statistics.median(rates[name])
        print(f"{name:22s} median {median:8.2f} images/s  x{median / base:.2f}{'' if stable[name] else '  UNSTABLE'}")
    print(f"this CPU's default: {resolve_execution(ExecutionOptions(), CPU).describe()}")


if __name__ == "__main__":
    run_script(main)
