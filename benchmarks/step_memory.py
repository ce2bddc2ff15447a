"""An estimate, on the CPU, of the training step's peak memory on a GPU.

    python benchmarks/step_memory.py --arch dcgan64 --image-size 64 --batch-sizes 16,64 --at 1024

On CUDA, `gancli bench` reports the allocator's own peak. Without a GPU this builds the step
as `train` builds it for CUDA (bf16 autocast, channels-last, fused Adam; no graph, which the CPU
cannot capture), runs one step under `torch.profiler` with memory profiling, adds up its
allocations and frees in time order and reports the highest point: what the step itself needs
on top of what is held throughout (weights, gradients, Adam's state, `bench`'s resident data),
which is added from the tensors' sizes. The step's part grows linearly with the batch, so two
batch sizes give a line and `--at` reads it at a batch too slow to run on a CPU. cuDNN's
workspaces are not in it; the gradients may be in it twice (the profiler does not see the
frees of blocks allocated before it started), so it errs high by at most their size.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from gancli.core.pixels import to_unit_range
from gancli.core.shapes import ImageShape
from gancli.errors import run_script
from gancli.training.step.bench import DATA_BATCHES
from gancli.config import TrainConfig
from gancli.training.step.assembly import build_training, resolve_model
from gancli.training.step.execution import Execution

MIB = 2**20


def step_peak_bytes(arch: str, shape: ImageShape, batch_size: int, precision: str) -> tuple[int, int]:
    """(the step's allocation peak above its start, bytes held throughout) for one batch size."""
    config = TrainConfig(arch=arch)
    model = resolve_model(config)
    architecture = model.architecture
    execution = Execution(torch.device("cpu"), precision, channels_last=True, fused_adam=True, cuda_graphs=False,
                          compile=False)
    training = build_training(config, model, shape, execution)
    pixels = torch.randint(0, 256, (batch_size * architecture.d_steps, *shape.as_tuple()), dtype=torch.uint8)

    def step() -> None:
        training.gan_step([to_unit_range(batch) for batch in pixels.split(batch_size)])

    step()  # Adam's state and the gradients exist from the first step on
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        step()
    changes = sorted((event.time_range.start, event.self_cpu_memory_usage)
                     for event in profiler.events() if event.self_cpu_memory_usage)
    allocated = peak = 0
    for _, change in changes:
        allocated += change
        peak = max(peak, allocated)
    optimizers = (training.opt_g, training.opt_d)
    weights = [p for opt in optimizers for group in opt.param_groups for p in group["params"]]
    adam_state = [t for opt in optimizers for state in opt.state.values() for t in state.values() if torch.is_tensor(t)]
    held = 2 * _nbytes(weights) + _nbytes(adam_state)  # the weights and their gradients, Adam's moments and steps
    return peak, held


def _nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="dcgan64")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--precision", default="bf16", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--batch-sizes", default="16,64", help="two or more, to fit the line")
    parser.add_argument("--at", type=int, default=1024, help="the batch size to read the line at")
    args = parser.parse_args()
    shape = ImageShape(args.channels, args.image_size, args.image_size)
    sizes = sorted(int(size) for size in args.batch_sizes.split(","))
    print(f"{args.arch} {shape}, {args.precision}; the step's peak above its start, and what is held throughout")
    peaks = []
    for batch_size in sizes:
        peak, held = step_peak_bytes(args.arch, shape, batch_size, args.precision)
        peaks.append(peak)
        print(f"batch {batch_size:5}: step {peak / MIB:8.1f} MiB   held {held / MIB:7.1f} MiB", flush=True)
    if len(sizes) < 2:
        return
    per_image = (peaks[-1] - peaks[0]) / (sizes[-1] - sizes[0])
    step_at = peaks[0] + per_image * (args.at - sizes[0])
    data = DATA_BATCHES * args.at * shape.channels * shape.height * shape.width  # bench's resident uint8 images
    total = step_at + held + data
    print(f"batch {args.at:5}: step {step_at / MIB:8.1f} MiB (extrapolated, {per_image / 1024:.0f} KiB an image)"
          f" + held {held / MIB:.1f} MiB + bench's data {data / MIB:.1f} MiB = {total / MIB:.0f} MiB")


if __name__ == "__main__":
    run_script(main)
