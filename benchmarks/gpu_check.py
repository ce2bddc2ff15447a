"""GPU check, under five minutes: the captured step trains like the eager one, then the bench table.

    python benchmarks/gpu_check.py            # on a CUDA machine
    python benchmarks/gpu_check.py --quick    # anywhere: tiny sizes, to check the script itself

1. Correctness: the same fp32 step, eager and replayed as a CUDA graph, from one seed, with
   deterministic cuDNN: the statistics of every step and the parameters afterwards must agree
   (the graph replays the same kernels, so they should agree to rounding); again for a
   class-conditional step with DiffAugment (labels copied into the graph's buffers with the
   images, augmentation drawn inside the graph). Then the default fast path (bf16,
   channels-last, graph) runs 50 steps and must keep finite losses.
2. `gancli bench` for 64x64x3 (pytorch/examples' model, `dcgan64`) and 32x32x3 (the seed's
   `dcgan`) at batch 128 and 1024, the default fast path and eager bf16 for comparison.
3. `gancli train` in steady state on the synthetic data against `bench` at the same settings.

Without CUDA it runs the same checks on the CPU at tiny sizes (no graph is captured there).
The table comes last.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from gancli.architectures import architectures
from gancli.config import TrainConfig
from gancli.core.shapes import ImageShape
from gancli.errors import run_script
from gancli.losses import make_loss
from gancli.training.batches import DeviceBatches
from gancli.training.bench import bench
from gancli.training.build import build_training
from gancli.training.execution import Execution, ExecutionOptions, resolve_execution
from gancli.training.graph import WARMUP_STEPS
from gancli.training.reporting import Reporter
from gancli.training.trainer import train

STATS_RTOL = 1e-4
LR = 2e-4  # dcgan's default learning rate
# After the first replay the graph has run the very kernels the eager step ran, in the same order:
# the two must agree exactly. Later, as in tests/test_fast_step.py, a parameter whose gradient is
# almost zero can see its sign flip between two correct runs and Adam then moves it a whole step
# (lr) the other way: up to 2 * lr apart per step since the first difference.
FIRST_REPLAY = WARMUP_STEPS + 1
TINY_MODEL = {"g_channels": 64, "d_channels": 16, "latent_dim": 16}  # --quick: seconds on a CPU


def parameters_of(training) -> torch.Tensor:
    return torch.cat([p.detach().float().flatten() for p in training.generator.state_dict().values()]
                     + [p.detach().float().flatten() for p in training.discriminator.state_dict().values()])


def run_steps(execution: Execution, steps: int, shape: ImageShape, batch_size: int, deterministic: bool = False,
              conditional: bool = False):
    """The statistics of each step, the parameters after the first replay and after the last step;
    `conditional`: ten classes, labels with every batch, and all DiffAugment policies."""
    architecture = architectures.get("dcgan")
    arch_config = architecture.make_config({})
    extra = dict(classes=10, augment=("color", "translation", "cutout")) if conditional else {}
    training = build_training(architecture, arch_config, shape, make_loss("bce", 0.1), execution, seed=0, **extra)
    if deterministic:  # build_training turned the autotuner on; both sides must run the same kernels
        torch.backends.cudnn.benchmark = False
    pixels = torch.randint(0, 256, (batch_size * 4, *shape.as_tuple()), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0)).to(execution.device)
    labels = torch.arange(batch_size * 4, device=execution.device) % 10 if conditional else None
    batches = DeviceBatches(pixels, batch_size, seed=0, labels=labels)
    stats, first = [], None
    for index in range(1, steps + 1):
        stats.append(training.update([batches.next()]).clone())
        if index == FIRST_REPLAY:
            first = parameters_of(training)
    return torch.stack(stats), first, parameters_of(training), training.effective_execution.describe()


def check_correctness(device: torch.device, quick: bool) -> list[str]:
    failures = []
    for conditional in (False, True):
        failures += check_graph_against_eager(device, quick, conditional)
    fast = resolve_execution(ExecutionOptions(), device)
    shape, batch = (ImageShape(3, 16, 16), 8) if quick else (ImageShape(3, 32, 32), 128)
    stats, _, _, mode = run_steps(fast, 5 if quick else 50, shape, batch)
    finite = bool(torch.isfinite(stats).all())
    print(f"stability: {mode}, {len(stats)} steps, final losses {stats[-1, :2].tolist()} -> {'ok' if finite else 'FAIL'}")
    if not finite:
        failures.append("fast path losses not finite")
    return failures


def check_graph_against_eager(device: torch.device, quick: bool, conditional: bool) -> list[str]:
    failures = []
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    shape, batch, steps = (ImageShape(3, 16, 16), 8, FIRST_REPLAY + 1) if quick else (ImageShape(3, 32, 32), 128, 8)
    graphs = device.type == "cuda"
    eager = Execution(device, "fp32", channels_last=False, fused_adam=True, cuda_graphs=False, compile=False)
    graphed = Execution(device, "fp32", channels_last=False, fused_adam=True, cuda_graphs=graphs, compile=False)
    eager_stats, eager_first, eager_params, _ = run_steps(eager, steps, shape, batch, True, conditional)
    graph_stats, graph_first, graph_params, mode = run_steps(graphed, steps, shape, batch, True, conditional)
    stats_error = ((graph_stats - eager_stats).abs() / eager_stats.abs().clamp_min(1e-6)).max().item()
    first_error = (graph_first - eager_first).abs().max().item()
    param_error = (graph_params - eager_params).abs().max().item()
    param_atol = 2 * LR * (steps - FIRST_REPLAY)
    ok = stats_error <= STATS_RTOL and first_error == 0 and param_error <= param_atol \
        and (mode.startswith("cuda graph") or not graphs)
    what = "conditional + augment" if conditional else "plain"
    print(f"correctness ({what}): {mode} vs eager over {steps} steps: stats rel err {stats_error:.2e} (<= {STATS_RTOL}), "
          f"params after the first replay {'equal' if first_error == 0 else f'differ by {first_error:.2e}'}, "
          f"after {steps} steps max abs err {param_error:.2e} (<= {param_atol:.1e}) -> {'ok' if ok else 'FAIL'}")
    if not ok:
        failures.append(f"graph step differs from eager step ({what})")
    torch.backends.cudnn.deterministic = False
    torch.backends.cudnn.benchmark = True
    return failures


def bench_rows(device: str, quick: bool) -> list[dict]:
    if quick:
        cases = [("dcgan", 32, 8)]
        steps, warmup = 2, 1
    else:
        cases = [("dcgan64", 64, 128), ("dcgan64", 64, 1024), ("dcgan", 32, 128), ("dcgan", 32, 1024)]
        steps, warmup = 200, 10
    rows = []
    for arch, size, batch in cases:
        for options in (ExecutionOptions(), ExecutionOptions(cuda_graphs=False)):
            result = bench(arch=arch, image_size=size, batch_size=batch, steps=steps, warmup_steps=warmup,
                           device=device, options=options, model=TINY_MODEL if quick else None)
            rows.append(dict(what="bench", arch=arch, image=f"{size}x{size}x3", batch=batch,
                             images_per_s=result.images_per_s, ms_per_step=result.ms_per_step,
                             peak_mib=result.peak_memory_mib, mode=result.mode))
            print(json.dumps(rows[-1]), flush=True)
            if device == "cpu":
                break  # no graph on the CPU: the second row would repeat the first
    return rows


def train_row(device: str, quick: bool, bench_rate: float) -> dict:
    steps, log_every = (4, 2) if quick else (600, 200)
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(arch="dcgan", data="synthetic", split="test" if quick else None,
                             batch_size=8 if quick else 128, steps=steps,
                             device=device, out=str(Path(out) / "run"), log_every=log_every,
                             sample_every=log_every, checkpoint_every=0,
                             model=TINY_MODEL if quick else {})
        started = time.perf_counter()
        result = train(config, reporter=Reporter())
        wall = time.perf_counter() - started
    rate = result.metrics["images_per_s"]  # the last logging interval: steady state
    row = dict(what="train", arch="dcgan", image="32x32x3", batch=config.batch_size, images_per_s=rate,
               ms_per_step=1000 * config.batch_size / rate, peak_mib=float("nan"),
               mode=f"{rate / bench_rate:.0%} of bench (whole run {wall:.0f}s)")
    print(json.dumps(row), flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes; implied without CUDA")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    quick = args.quick or not cuda
    device = torch.device("cuda" if cuda else "cpu")
    name = torch.cuda.get_device_name(device) if cuda else "CPU (no CUDA: tiny sizes, eager only)"
    print(f"device: {name}; torch {torch.__version__}", flush=True)

    failures = check_correctness(device, quick)
    rows = bench_rows(device.type, quick)
    seed_bench = next(r for r in rows if r["arch"] == "dcgan" and r["batch"] == (8 if quick else 128))
    # train's rate against bench's at the same settings: the seed's dcgan, 32x32x3, default path.
    rows.append(train_row(device.type, quick, seed_bench["images_per_s"]))

    print(f"\n{name}")
    print(f"{'what':6} {'arch':8} {'image':8} {'batch':>5} {'images/s':>10} {'ms/step':>8} {'peak MiB':>9}  mode")
    for r in rows:
        print(f"{r['what']:6} {r['arch']:8} {r['image']:8} {r['batch']:>5} {r['images_per_s']:>10,.0f} "
              f"{r['ms_per_step']:>8.2f} {r['peak_mib']:>9.0f}  {r['mode']}")
    print("correctness: " + ("ok" if not failures else "FAILED: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    run_script(main)
