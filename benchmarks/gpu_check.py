"""GPU check, under five minutes on one H100/H200: every CUDA path gancli takes, then the speed table.

    python benchmarks/gpu_check.py            # on a CUDA machine
    python benchmarks/gpu_check.py --quick    # anywhere: tiny sizes, to check the script itself

One line per check, `ok`, `FAIL` or `skip` (with the reason), then the table and one JSON line:

1. The captured step (`LoopStep` as one CUDA graph) against the same step run eagerly, from one
   seed with deterministic cuDNN: fp32 (the parameters equal after the first replay, then within
   2 lr a step: a near-zero gradient may flip sign and Adam moves its weight a whole step), bf16,
   `wgan-gp` (double backward inside the graph), two D steps, fp16 with its grad scaler,
   `--compile` with graphs, a conditional run with DiffAugment, and DiffAugment with `dcgan64`
   (hinge) and `sngan` (wgan-gp).
2. Each replay changes the generator's weights and advances the latent generator (an empty or
   stale graph fails).
3. A NaN injected into a captured step: the run rolls back, captures again and trains on.
4. Exact resume with graphs on; a checkpoint written on the CPU resumed into graph mode (it
   captures, it does not fall back).
5. Streamed data (`data_budget_mb: 0`) with graphs; `cuda:1` when there is a second GPU.
6. The capture-failure fallback, forced by a discriminator that reads a value back to the host:
   one line naming that cause, then eager training on the default stream.
7. `bench`'s CUDA-event time against the wall clock over the same steps (within 5%).
8. The table: `bench` for dcgan64 (64x64x3) and dcgan (32x32x3) at batch 128 and 1024 against
   their targets, and `train` in steady state against `bench` at the same settings.

Without CUDA (or with --quick) the same checks run at tiny sizes on the CPU, skipping those that
need a captured graph or a second GPU, each with a line; the test suite runs it that way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch
from rich.console import Console
from torch import nn

from gancli.architectures import architectures
from gancli.architectures.dcgan import DCGAN
from gancli.cli.progress import RichReporter
from gancli.config import TrainConfig
from gancli.core.shapes import ImageShape
from gancli.errors import run_script
from gancli.losses import NonSaturatingBCE, make_loss
from gancli.training import trainer as trainer_module
from gancli.training.batches import DeviceBatches
from gancli.training.bench import bench
from gancli.training.build import build_training
from gancli.training.ema import GeneratorEMA
from gancli.training.execution import Execution, ExecutionOptions, resolve_execution
from gancli.training.graph import WARMUP_STEPS, GraphedStep
from gancli.training.guards import DivergenceGuard
from gancli.training.loop_step import LoopStep
from gancli.training.reporting import Reporter
from gancli.training.trainer import Trainer, train

STATS_RTOL = 1e-4
LR = 2e-4  # dcgan's default learning rate
FIRST_REPLAY = WARMUP_STEPS + 1  # the call that captures, and replays once
TINY_MODEL = {"g_channels": 16, "d_channels": 4, "latent_dim": 8}  # --quick: seconds on a CPU
# bench targets on one H100/H200: images/s, and the peak allocator memory where one is set.
TARGETS = {("dcgan64", 128): (45_000, None), ("dcgan64", 1024): (85_000, 1536),
           ("dcgan", 128): (75_000, None), ("dcgan", 1024): (170_000, None)}
TRAIN_SHARE_OF_BENCH = 0.90


class Checks:
    def __init__(self):
        self.failures: list[str] = []
        self.results: list[dict] = []

    def report(self, name: str, ok: bool | None, detail: str) -> None:
        """`ok` None: skipped, with `detail` saying why."""
        word = "skip" if ok is None else "ok" if ok else "FAIL"
        print(f"{word:4}  {name}: {detail}", flush=True)
        self.results.append(dict(check=name, result=word, detail=detail))
        if ok is False:
            self.failures.append(name)

    def run(self, name: str, check: Callable[[], tuple[bool | None, str]]) -> None:
        try:
            ok, detail = check()
        except Exception as err:  # a check that crashes is a failure, and the others still run
            ok, detail = False, f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        self.report(name, ok, detail)


class Notices(Reporter):
    def __init__(self):
        self.lines: list[str] = []

    def notify(self, text: str) -> None:
        self.lines.append(text)

    def fallbacks(self) -> list[str]:
        return [line for line in self.lines if "CUDA graph" in line and "failed" in line]


@contextlib.contextmanager
def deterministic():
    """Both sides of a comparison run the same kernels: no autotuning, deterministic cuDNN."""
    saved = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved


def make_loop(execution: Execution, shape: ImageShape, batch: int, loss: str = "bce", d_steps: int = 1,
              conditional: bool = False, arch: str = "dcgan", model: dict | None = None,
              notify: Callable[[str], None] = print, augment: bool = False) -> LoopStep:
    """What `train` steps through, on random resident images: `conditional` adds ten classes and
    every DiffAugment policy, `augment` the policies alone."""
    architecture = architectures.get(arch) if isinstance(arch, str) else arch
    extra = dict(classes=10) if conditional else {}
    if conditional or augment:
        extra["augment"] = ("color", "translation", "cutout")
    training = build_training(architecture, architecture.make_config(model or {}), shape, make_loss(loss, 0.1),
                              execution, seed=0, notify=notify, **extra)
    torch.backends.cudnn.benchmark = not torch.backends.cudnn.deterministic  # build_training turned it on
    pixels = torch.randint(0, 256, (batch * 4 * d_steps, *shape.as_tuple()), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0)).to(execution.device)
    labels = torch.arange(pixels.shape[0], device=execution.device) % 10 if conditional else None
    batches = DeviceBatches(pixels, batch, seed=0, labels=labels, channels_last=execution.channels_last)
    ema = GeneratorEMA(training.generator, TrainConfig.ema_decay)
    return LoopStep(training, batches, d_steps, ema, DivergenceGuard(execution.device), notify=notify)


def flat_parameters(loop: LoopStep) -> torch.Tensor:
    networks = (loop.training.generator, loop.training.discriminator, loop.ema.module)
    return torch.cat([t.detach().float().flatten() for n in networks for t in n.state_dict().values()])


def run_loop(loop: LoopStep, steps: int):
    """The statistics of each step, the parameters after the first replay and after the last step."""
    stats, first = [], None
    for index in range(1, steps + 1):
        stats.append(loop().clone())
        if index == FIRST_REPLAY:
            first = flat_parameters(loop)
    return torch.stack(stats), first, flat_parameters(loop)


def graph_against_eager(device: torch.device, quick: bool, precision: str = "fp32", exact_first: bool = False,
                        compile: bool = False, size: int = 32, **loop_options) -> tuple[bool | None, str]:
    cuda = device.type == "cuda"
    if quick and loop_options.get("arch", "dcgan") != "dcgan":
        return None, "the other architectures run at full size only; the CPU tests train them with --augment"
    if loop_options.get("arch") == "sngan" and "sngan" not in architectures.names():
        return None, "the sngan plugin is not installed (pip install ./plugins/sngan)"
    shape, batch, steps = (ImageShape(3, 16, 16), 8, FIRST_REPLAY + 1) if quick else (ImageShape(3, size, size), 128, 10)
    model = TINY_MODEL if quick else {}
    base = Execution(device, precision, channels_last=cuda, fused_adam=True, cuda_graphs=False, compile=compile,
                     tf32=False)
    with deterministic():
        eager_stats, eager_first, eager_params = run_loop(make_loop(base, shape, batch, model=model, **loop_options), steps)
        graphed_loop = make_loop(replace(base, cuda_graphs=cuda), shape, batch, model=model, **loop_options)
        graph_stats, graph_first, graph_params = run_loop(graphed_loop, steps)
    mode = graphed_loop.effective_execution.describe()
    captured = isinstance(graphed_loop.run, GraphedStep) and graphed_loop.run.captured
    finite = bool(torch.isfinite(eager_stats).all() and torch.isfinite(graph_stats).all())
    stats_error = ((graph_stats - eager_stats).abs() / eager_stats.abs().clamp_min(1e-6)).max().item()
    first_error = (graph_first - eager_first).abs().max().item()
    param_error = (graph_params - eager_params).abs().max().item()
    # Half precision rounds differently wherever a kernel's order differs: its tolerance grows
    # with the steps from the first, the same reasoning as fp32's after the first replay.
    first_atol = 0.0 if exact_first else 2 * LR * FIRST_REPLAY
    param_atol = first_atol + 2 * LR * (steps - FIRST_REPLAY)
    stats_rtol = STATS_RTOL if precision == "fp32" else 1e-2
    ok = finite and stats_error <= stats_rtol and first_error <= first_atol and param_error <= param_atol \
        and (captured or not cuda)
    return ok, (f"{mode}{'' if cuda else ' (no CUDA: both eager)'}, {steps} steps: stats rel err {stats_error:.1e} "
                f"(<= {stats_rtol:g}), after the first replay {first_error:.1e} (<= {first_atol:g}), "
                f"after {steps} steps {param_error:.1e} (<= {param_atol:.1e})")


def replays_advance(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    if device.type != "cuda":
        return None, "needs a captured graph (CUDA)"
    execution = resolve_execution(ExecutionOptions(), device)
    loop = make_loop(execution, ImageShape(3, 32, 32), 128)
    for _ in range(FIRST_REPLAY):
        loop()
    unchanged, stale = 0, 0
    for _ in range(5):
        weights = torch.cat([p.detach().float().flatten() for p in loop.training.generator.parameters()])
        state = loop.training.latent_rng.get_state()
        loop()
        torch.cuda.synchronize(device)
        after = torch.cat([p.detach().float().flatten() for p in loop.training.generator.parameters()])
        unchanged += int(torch.equal(weights, after))
        stale += int(torch.equal(state, loop.training.latent_rng.get_state()))
    ok = loop.run.captured and unchanged == 0 and stale == 0
    return ok, f"5 replays: generator unchanged by {unchanged}, latent generator not advanced by {stale}"


class PoisonedBCE(NonSaturatingBCE):
    """The default loss, made NaN on its `at`-th call: a divergence inside a captured step."""

    def __init__(self, at: int):
        super().__init__(0.1)
        self.at, self.calls = at, None

    def discriminator_real(self, real_logits):
        if self.calls is None:
            self.calls = torch.zeros((), device=real_logits.device)
        self.calls.add_(1)
        poison = torch.where(self.calls == self.at, float("nan"), 1.0)
        return super().discriminator_real(real_logits) * poison


def train_config(out: Path, device: torch.device, quick: bool, **overrides) -> TrainConfig:
    values = dict(arch="dcgan", data="synthetic", split="test", batch_size=8 if quick else 128, device=str(device),
                  out=str(out), log_every=2, sample_every=0, checkpoint_every=4, model=TINY_MODEL if quick else {})
    values.update(overrides)
    return TrainConfig(**values)


@dataclass
class Finished:
    """What a finished run says about its step (read before `Trainer.close` drops it)."""

    step: int
    metrics: dict
    captures: int
    captured: bool
    mode: str


def run_trainer(config: TrainConfig, resume: Path | None = None) -> tuple[Finished, Notices]:
    notices = Notices()
    trainer = Trainer(config, notices, resume=resume)
    try:
        trainer.run_loop()
        graphed = trainer.loop.run if isinstance(trainer.loop.run, GraphedStep) else None
        finished = Finished(trainer.step, trainer.metrics, graphed.captures if graphed else 0,
                            bool(graphed and graphed.captured), trainer.loop.effective_execution.describe())
    finally:
        trainer.close()
    return finished, notices


def nan_rollback(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    original = trainer_module.make_loss
    # The 8th step is a replay; its NaN is seen at step 8's log, the run rolls back to step 4.
    trainer_module.make_loss = lambda *args, **kwargs: PoisonedBCE(at=8)
    try:
        with tempfile.TemporaryDirectory() as out:
            trainer, notices = run_trainer(train_config(Path(out) / "run", device, quick, steps=14, on_nan="rollback"))
    finally:
        trainer_module.make_loss = original
    rolled = [line for line in notices.lines if "rolled back to step 4" in line]
    captures = trainer.captures
    finite = all(torch.isfinite(torch.tensor(trainer.metrics[k])) for k in ("loss_d", "loss_g"))
    graphs = device.type == "cuda"
    ok = len(rolled) == 1 and trainer.step == 14 and finite and not notices.fallbacks() and (captures == 2 or not graphs)
    return ok, (f"rolled back {len(rolled)} time(s), reached step {trainer.step}, captured {captures} graph(s) "
                f"(2 expected: before and after the rollback{'' if graphs else '; none without CUDA'}), losses finite: {finite}")


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    from gancli.checkpoints.format import read_tensors
    return read_tensors(run / "checkpoints" / "last.safetensors")


def exact_resume(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    with tempfile.TemporaryDirectory() as out, deterministic():
        straight, _ = run_trainer(train_config(Path(out) / "straight", device, quick, steps=12))
        run_trainer(train_config(Path(out) / "resumed", device, quick, steps=6))
        resumed, notices = run_trainer(train_config(Path(out) / "resumed", device, quick, steps=12), resume=Path(out) / "resumed")
        a, b = final_weights(Path(out) / "straight"), final_weights(Path(out) / "resumed")
    error = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    atol = 2 * LR * 6  # the six steps after the resume, as graph against eager
    ok = a.keys() == b.keys() and error <= atol and not notices.fallbacks()
    return ok, f"6 steps + resume to 12 against 12 straight: max weight difference {error:.1e} " \
               f"({'bit for bit' if error == 0 else f'<= {atol:.1e}'})"


def cpu_checkpoint_into_graphs(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    if device.type != "cuda":
        return None, "needs CUDA"
    with tempfile.TemporaryDirectory() as out:
        run = Path(out) / "run"
        run_trainer(train_config(run, torch.device("cpu"), True, steps=4, model=TINY_MODEL, batch_size=8))
        trainer, notices = run_trainer(train_config(run, device, True, steps=12, model=TINY_MODEL, batch_size=8), resume=run)
    captured = trainer.captured
    return captured and not notices.fallbacks(), \
        f"resumed a CPU checkpoint at step 4 to 12: {'captured' if captured else 'not captured'}" \
        + (f"; {notices.fallbacks()[0]}" if notices.fallbacks() else "")


def streamed(device: torch.device, quick: bool, index: int | None = None) -> tuple[bool | None, str]:
    if index is not None and (device.type != "cuda" or torch.cuda.device_count() <= index):
        return None, f"needs a CUDA device {index} (this machine has {torch.cuda.device_count()})"
    device = torch.device("cuda", index) if index is not None else device
    options = dict(data_budget_mb=0, data_workers=2) if index is None else {}
    with tempfile.TemporaryDirectory() as out:
        trainer, notices = run_trainer(train_config(Path(out) / "run", device, quick, steps=10, **options))
    graphs = device.type == "cuda"
    captured = trainer.captured
    finite = all(torch.isfinite(torch.tensor(trainer.metrics[k])) for k in ("loss_d", "loss_g"))
    ok = finite and not notices.fallbacks() and (captured or not graphs)
    what = "streamed batches" if index is None else f"cuda:{index}"
    return ok, f"{what}, 10 steps: {trainer.mode}, losses finite: {finite}" \
               + (f"; {notices.fallbacks()[0]}" if notices.fallbacks() else "")


class HostReadingDiscriminator(nn.Module):
    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, images, *labels):
        if images.abs().max().item() > 1e9:  # reads a value back: what a graph cannot capture
            raise ValueError("unreachable")
        return self.network(images, *labels)


class HostReadingDCGAN(DCGAN):
    def build(self, shape, config, classes=0):
        generator, discriminator = super().build(shape, config, classes)
        return generator, HostReadingDiscriminator(discriminator)


def capture_fallback(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    if device.type != "cuda":
        return None, "needs a capture (CUDA)"
    notices: list[str] = []
    loop = make_loop(resolve_execution(ExecutionOptions(), device), ImageShape(3, 32, 32), 64,
                     arch=HostReadingDCGAN(), notify=notices.append)
    for _ in range(FIRST_REPLAY):
        loop()
    before = flat_parameters(loop)
    loop()
    moved = not torch.equal(before, flat_parameters(loop))
    on_default = torch.cuda.current_stream(device) == torch.cuda.default_stream(device)
    named = len(notices) == 1 and "capture failed" in notices[0] and "previous error during capture" not in notices[0]
    ok = named and loop.run.eager and moved and on_default
    return ok, f"{notices[0] if notices else 'no notice'}; trains on eagerly: {moved}, on the default stream: {on_default}"


def bench_against_wall(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    if device.type != "cuda":
        return None, "CUDA events need CUDA"
    result = bench(arch="dcgan", image_size=32, batch_size=128, steps=200, device=str(device))
    gap = abs(result.ms_per_step - result.wall_ms_per_step) / result.wall_ms_per_step
    return gap <= 0.05, f"events {result.ms_per_step:.3f} ms/step, wall clock {result.wall_ms_per_step:.3f} ms/step: {gap:.1%} apart (<= 5%)"


def bench_rows(device: torch.device, quick: bool, checks: Checks) -> list[dict]:
    cases = [("dcgan", 32, 8)] if quick else [("dcgan64", 64, 128), ("dcgan64", 64, 1024), ("dcgan", 32, 128), ("dcgan", 32, 1024)]
    steps, warmup = (2, 1) if quick else (200, 10)
    rows = []
    for arch, size, batch in cases:
        for options in (ExecutionOptions(), ExecutionOptions(cuda_graphs=False)):
            result = bench(arch=arch, image_size=size, batch_size=batch, steps=steps, warmup_steps=warmup,
                           device=str(device), options=options, model=TINY_MODEL if quick else None)
            rows.append(dict(what="bench", arch=arch, image=f"{size}x{size}x3", batch=batch,
                             images_per_s=result.images_per_s, ms_per_step=result.ms_per_step,
                             peak_mib=result.peak_memory_mib, mode=result.mode))
            print(json.dumps(rows[-1]), flush=True)
            if device.type != "cuda":
                break  # no graph on the CPU: the second row would repeat the first
        target = TARGETS.get((arch, batch))
        fast = next(r for r in rows if r["arch"] == arch and r["batch"] == batch)
        if device.type != "cuda" or target is None:
            checks.report(f"speed {arch} {size}x{size}x3 batch {batch}", None, "targets are for one H100/H200")
            continue
        rate, peak = target
        ok = fast["images_per_s"] >= rate and (peak is None or fast["peak_mib"] < peak)
        checks.report(f"speed {arch} {size}x{size}x3 batch {batch}", ok,
                      f"{fast['images_per_s']:,.0f} images/s (>= {rate:,})"
                      + ("" if peak is None else f", peak {fast['peak_mib']:,.0f} MiB (< {peak:,})"))
    return rows


def train_row(device: torch.device, quick: bool, bench_rate: float, checks: Checks) -> dict:
    steps, log_every = (4, 2) if quick else (600, 200)
    with tempfile.TemporaryDirectory() as out, open(os.devnull, "w") as nowhere:
        # Rich progress bars (drawn to nowhere, as to a terminal), the EMA and periodic grids on,
        # as `gancli train` runs in a terminal.
        reporter = RichReporter(Console(file=nowhere, force_terminal=True))
        config = TrainConfig(arch="dcgan", data="synthetic", split="test" if quick else None,
                             batch_size=8 if quick else 128, steps=steps, device=str(device),
                             out=str(Path(out) / "run"), log_every=log_every, sample_every=log_every,
                             checkpoint_every=0, model=TINY_MODEL if quick else {})
        started = time.perf_counter()
        result = train(config, reporter=reporter)
        wall = time.perf_counter() - started
    rate = result.metrics["images_per_s"]  # the last logging interval: steady state
    share = rate / bench_rate
    row = dict(what="train", arch="dcgan", image="32x32x3", batch=config.batch_size, images_per_s=rate,
               ms_per_step=1000 * config.batch_size / rate, peak_mib=float("nan"),
               mode=f"{share:.0%} of bench (whole run {wall:.0f}s)")
    print(json.dumps(row), flush=True)
    checks.report("train against bench", share >= TRAIN_SHARE_OF_BENCH if device.type == "cuda" else None,
                  f"{share:.0%} of bench's rate (>= {TRAIN_SHARE_OF_BENCH:.0%})" if device.type == "cuda"
                  else f"{share:.0%}; the target is for CUDA")
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
    started = time.perf_counter()

    checks = Checks()
    # fp16 and compile on a CPU: fp16 autocasts there too; compiling takes minutes, so --quick skips it.
    for what, options in (("fp32", dict(exact_first=True)), ("bf16", dict(precision="bf16")),
                          ("wgan-gp", dict(loss="wgan-gp")), ("two D steps", dict(d_steps=2)),
                          ("fp16 grad scaler", dict(precision="fp16")), ("compile", dict(compile=True)),
                          ("conditional + augment", dict(conditional=True)),
                          ("augment, dcgan64, hinge", dict(arch="dcgan64", loss="hinge", augment=True, size=64)),
                          ("augment, sngan, wgan-gp", dict(arch="sngan", loss="wgan-gp", augment=True))):
        if what == "compile" and not cuda:
            checks.report(f"graph against eager, {what}", None, "compiling takes minutes on a CPU")
            continue
        checks.run(f"graph against eager, {what}", lambda options=options: graph_against_eager(device, quick, **options))
    checks.run("replays advance", lambda: replays_advance(device, quick))
    checks.run("NaN in a captured step", lambda: nan_rollback(device, quick))
    checks.run("exact resume", lambda: exact_resume(device, quick))
    checks.run("CPU checkpoint into graph mode", lambda: cpu_checkpoint_into_graphs(device, quick))
    checks.run("streamed data", lambda: streamed(device, quick))
    checks.run("second GPU", lambda: streamed(device, quick, index=1))
    checks.run("capture failure", lambda: capture_fallback(device, quick))
    checks.run("bench timing", lambda: bench_against_wall(device, quick))

    rows = bench_rows(device, quick, checks)
    seed_bench = next(r for r in rows if r["arch"] == "dcgan" and r["batch"] == (8 if quick else 128))
    rows.append(train_row(device, quick, seed_bench["images_per_s"], checks))

    print(f"\n{name}")
    print(f"{'what':6} {'arch':8} {'image':8} {'batch':>5} {'images/s':>10} {'ms/step':>8} {'peak MiB':>9}  mode")
    for r in rows:
        print(f"{r['what']:6} {r['arch']:8} {r['image']:8} {r['batch']:>5} {r['images_per_s']:>10,.0f} "
              f"{r['ms_per_step']:>8.2f} {r['peak_mib']:>9.0f}  {r['mode']}")
    print(json.dumps(dict(device=name, torch=torch.__version__, seconds=round(time.perf_counter() - started),
                          checks=checks.results, table=rows, failed=checks.failures)))
    print("checks: " + ("all ok" if not checks.failures else "FAILED: " + "; ".join(checks.failures)))
    return 1 if checks.failures else 0


if __name__ == "__main__":
    run_script(main)
