"""GPU check, under five minutes on one H100/H200: every CUDA path gancli takes, then the speed table.

    python benchmarks/gpu_check.py            # on a CUDA machine
    python benchmarks/gpu_check.py --quick    # anywhere: tiny sizes, to check the script itself

One line per check, `ok`, `FAIL` or `skip` (with the reason), then the table, every check's
result again, and one JSON line:

1. The captured step (`DeviceStep` as one CUDA graph) against the same step run eagerly, from one
   seed with deterministic cuDNN: fp32 (the parameters equal after the first replay, then within
   2 lr a step: a near-zero gradient may flip sign and Adam moves its weight a whole step), bf16,
   `wgan-gp` and R1 (double backward inside the graph), two D steps, fp16 with its grad scaler,
   `--compile` with graphs, a conditional run with DiffAugment, the conditional generator with
   class batch norm (`model.g_label: norm`), bf16 and fp16 each with a conditional run,
   DiffAugment and `wgan-gp`, and DiffAugment with `dcgan64` (hinge) and `sngan` (wgan-gp).
2. A gradient penalty (R1, `wgan-gp`) with `--compile`: finite losses, and the networks still
   compiled at the end (a silent fallback to eager fails).
3. Each replay changes the generator's weights and advances the latent generator (an empty or
   stale graph fails).
4. A NaN injected into a captured step: the run rolls back, captures again and trains on.
5. Exact resume with graphs on, in the default precision and in fp16 (its grad scaler saved and
   restored); a checkpoint written on the CPU resumed into graph mode (it captures, it does not
   fall back).
6. Streamed data (`data_budget_mb: 0`) with graphs, with one and two D steps and with each batch
   echoed three times; `cuda:1` when there is a second GPU.
7. Data parallelism over NCCL on two GPUs, with and without `sync_bn` (the ranks' weights agree
   step by step; the conditional generator keeps its class batch norm); `sync_bn` with a
   gradient penalty is refused before anything is built.
8. `evaluate` scores a short run's checkpoint on the device (FID on Inception's features, or on a
   small stand-in network where the Inception weights are not on this machine).
9. The capture-failure fallback, forced by a discriminator that reads a value back to the host:
   one line naming that cause, then eager training on the default stream.
10. `bench`'s CUDA-event time against the wall clock over the same steps (within 5%).
11. The table: `bench` for dcgan64 (64x64x3) and dcgan (32x32x3) at batch 128 and 1024 against
    their targets, dcgan on MNIST's 28x28x1 at batch 16 and 128 (`examples/mnist.yaml` against
    `examples/mnist-large-batch.yaml`: what a step of 128 costs in steps of 16), and `train` in
    steady state against `bench` at the same settings.

Without CUDA (or with --quick) the same checks run at tiny sizes on the CPU, skipping those that
need a captured graph, fp16, or a second GPU, each with a line; the test suite runs it that way.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch
from rich.console import Console
from torch import nn

from gancli.architectures import Architecture, architectures
from gancli.architectures.dcgan import DCGAN
from gancli.cli.progress import RichReporter
from gancli.config import TrainConfig
from gancli.core.shapes import ImageShape
from gancli.errors import ConfigError, GancliError, run_script
from gancli.losses import NonSaturatingBCE
from gancli.training.step import assembly as assembly_module
from gancli.training.step.batches import DeviceBatches
from gancli.training.step.bench import bench
from gancli.training.step.assembly import assemble_step, resolve_model
from gancli.training.step.distributed import DIGESTS_ENV, World, join
from gancli.training.step.execution import Execution, ExecutionOptions, resolve_execution
from gancli.training.step.graph import WARMUP_STEPS, GraphedStep
from gancli.training.step.device_step import DeviceStep
from gancli.training.reporting import Reporter
from gancli.training.run.trainer import Trainer, train

STATS_RTOL = 1e-4
LR = 2e-4  # dcgan's default learning rate
FIRST_REPLAY = WARMUP_STEPS + 1  # the call that captures, and replays once
TINY_MODEL = {"g_channels": 16, "d_channels": 4, "latent_dim": 8}  # --quick: seconds on a CPU
# bench targets on one H100/H200: images/s, and the peak allocator memory where one is set.
TARGETS = {("dcgan64", "64x64x3", 128): (45_000, None), ("dcgan64", "64x64x3", 1024): (85_000, 1536),
           ("dcgan", "32x32x3", 128): (75_000, None), ("dcgan", "32x32x3", 1024): (170_000, None)}
TRAIN_SHARE_OF_BENCH = 0.90


class Checks:
    def __init__(self):
        self.failures: list[str] = []
        self.results: list[dict] = []

    def report(self, name: str, ok: bool | None, detail: str, seconds: float = 0.0) -> None:
        """`ok` None: skipped, with `detail` saying why."""
        word = "skip" if ok is None else "ok" if ok else "FAIL"
        print(f"{word:4}  {name}: {detail}", flush=True)
        self.results.append(dict(check=name, result=word, detail=detail, seconds=round(seconds, 1)))
        if ok is False:
            self.failures.append(name)

    def run(self, name: str, check: Callable[[], tuple[bool | None, str]]) -> None:
        started = time.perf_counter()
        try:
            ok, detail = check()
        except Exception as err:  # a check that crashes is a failure, and the others still run
            ok, detail = False, f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        self.report(name, ok, detail, time.perf_counter() - started)


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
              conditional: bool = False, arch: str | Architecture = "dcgan", model: dict | None = None,
              notify: Callable[[str], None] = print, augment: bool = False, r1: float = 0.0) -> DeviceStep:
    """What `train` steps through, assembled as it assembles it, on random resident images:
    `conditional` adds ten classes and every DiffAugment policy, `augment` the policies alone,
    `r1` a gradient penalty on the real images."""
    policies = ["color", "translation", "cutout"] if conditional or augment else []
    config = TrainConfig(arch=arch if isinstance(arch, str) else "dcgan", loss=loss, d_steps=d_steps,
                         model=model or {}, batch_size=batch, augment=policies, seed=0, r1=r1)
    built = resolve_model(config)
    if not isinstance(arch, str):
        built = replace(built, architecture=arch)
    pixels = torch.randint(0, 256, (batch * 4 * d_steps, *shape.as_tuple()), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0)).to(execution.device)
    labels = torch.arange(pixels.shape[0], device=execution.device) % 10 if conditional else None
    step = assemble_step(
        config, built, shape,
        lambda execution: DeviceBatches(pixels, batch, seed=0, labels=labels, channels_last=execution.channels_last),
        World(device=execution.device), classes=10 if conditional else 0, notify=notify, execution=execution)
    torch.backends.cudnn.benchmark = not torch.backends.cudnn.deterministic  # the assembly turned it on
    return step.device_step


def norm_types(network: nn.Module) -> list[str]:
    """The type names of `network`'s normalisation layers, in order."""
    return [type(module).__name__ for module in network.modules() if "Norm" in type(module).__name__]


def flat_parameters(loop: DeviceStep) -> torch.Tensor:
    networks = (loop.training.generator, loop.training.discriminator, loop.ema.module)
    return torch.cat([t.detach().float().flatten() for n in networks for t in n.state_dict().values()])


def run_loop(loop: DeviceStep, steps: int):
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
    model = {**(TINY_MODEL if quick else {}), **loop_options.pop("model", {})}
    base = Execution(device, precision, channels_last=cuda, fused_adam=True, cuda_graphs=False, compile=compile,
                     tf32=False)
    with deterministic():
        eager_stats, eager_first, eager_params = run_loop(make_loop(base, shape, batch, model=model, **loop_options), steps)
        graphed_loop = make_loop(replace(base, cuda_graphs=cuda), shape, batch, model=model, **loop_options)
        graph_stats, graph_first, graph_params = run_loop(graphed_loop, steps)
    mode = graphed_loop.effective_execution.describe()
    captured = isinstance(graphed_loop.run, GraphedStep) and graphed_loop.run.captured
    # A generator asked for class batch norm that has none would pass as an ordinary one.
    class_norm = model.get("g_label") == "norm"
    class_norms = sum("ClassBatchNorm2d" in name for name in norm_types(graphed_loop.training.generator))
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
        and (captured or not cuda) and (class_norms > 0 or not class_norm)
    return ok, (f"{mode}{'' if cuda else ' (no CUDA: both eager)'}, {steps} steps: stats rel err {stats_error:.1e} "
                f"(<= {stats_rtol:g}), after the first replay {first_error:.1e} (<= {first_atol:g}), "
                f"after {steps} steps {param_error:.1e} (<= {param_atol:.1e})"
                + (f", {class_norms} class batch norms in G" if class_norm else ""))


def compiled_penalty(device: torch.device, quick: bool, compile_on_cpu: bool = False,
                     **loop_options) -> tuple[bool | None, str]:
    """A gradient penalty with --compile: D's second differentiation runs through the plain
    network, everything else through the compiled ones, which must still be compiled at the end."""
    cuda = device.type == "cuda"
    if not cuda and not compile_on_cpu:
        return None, ("inductor takes about a minute on a CPU: --compile-on-cpu runs it; "
                      "tests/test_step_combinations.py trains both penalties compiled (aot_eager) on the CPU")
    if not cuda and shutil.which(os.environ.get("CXX", "g++")) is None:
        return None, "torch.compile on the CPU needs a C++ compiler, and none is on PATH"
    shape, batch = (ImageShape(3, 16, 16), 8) if quick else (ImageShape(3, 32, 32), 128)
    steps = FIRST_REPLAY + 2  # warm-up, capture, replays
    notices: list[str] = []
    started = time.perf_counter()
    loop = make_loop(resolve_execution(ExecutionOptions(compile=True), device), shape, batch,
                     model=TINY_MODEL if quick else {}, notify=notices.append, **loop_options)
    stats = torch.stack([loop().clone() for _ in range(steps)])
    seconds = time.perf_counter() - started
    networks = loop.training.compiled
    standing = sum(not network.fell_back for network in networks)
    still_compiled = bool(networks) and not all(network.fell_back for network in networks) \
        and loop.effective_execution.compile
    captured = isinstance(loop.run, GraphedStep) and loop.run.captured
    finite = bool(torch.isfinite(stats).all())
    ok = finite and still_compiled and (captured or not cuda)
    return ok, (f"{loop.effective_execution.describe()}, {steps} steps in {seconds:.0f}s: losses finite: {finite}, "
                f"{standing} of {len(networks)} networks compiled" + (f"; {notices[0]}" if notices else ""))


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
    generator_norms: list[str]
    discriminator_norms: list[str]

    @property
    def finite(self) -> bool:
        return all(math.isfinite(self.metrics[name]) for name in ("loss_d", "loss_g"))


def run_trainer(config: TrainConfig, resume: Path | None = None,
                world: World | None = None) -> tuple[Finished, Notices]:
    notices = Notices()
    trainer = Trainer(config, notices, resume=resume, world=world)
    try:
        trainer.run_loop()
        device_step, training = trainer.run.step.device_step, trainer.run.step.training
        graphed = device_step.run if isinstance(device_step.run, GraphedStep) else None
        finished = Finished(trainer.run.progress.step, trainer.metrics, graphed.captures if graphed else 0,
                            bool(graphed and graphed.captured), device_step.effective_execution.describe(),
                            norm_types(training.generator), norm_types(training.discriminator))
    finally:
        trainer.close()
        trainer.run.drop_networks()  # data-parallel networks go while the process group exists
    return finished, notices


def nan_rollback(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    original = assembly_module.make_loss
    # The 8th step is a replay; its NaN is seen at step 8's log, the run rolls back to step 4.
    assembly_module.make_loss = lambda *args, **kwargs: PoisonedBCE(at=8)
    try:
        with tempfile.TemporaryDirectory() as out:
            trainer, notices = run_trainer(train_config(Path(out) / "run", device, quick, steps=14, on_nan="rollback"))
    finally:
        assembly_module.make_loss = original
    rolled = [line for line in notices.lines if "rolled back to step 4" in line]
    captures, finite = trainer.captures, trainer.finite
    graphs = device.type == "cuda"
    ok = len(rolled) == 1 and trainer.step == 14 and finite and not notices.fallbacks() and (captures == 2 or not graphs)
    return ok, (f"rolled back {len(rolled)} time(s), reached step {trainer.step}, captured {captures} graph(s) "
                f"(2 expected: before and after the rollback{'' if graphs else '; none without CUDA'}), losses finite: {finite}")


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    from gancli.checkpoints.format import read_tensors
    return read_tensors(run / "checkpoints" / "last.safetensors")


def exact_resume(device: torch.device, quick: bool, steps: int = 12, resume_at: int = 6,
                 **overrides) -> tuple[bool | None, str]:
    if overrides.get("precision") == "fp16" and device.type != "cuda":
        return None, "fp16 needs CUDA (train runs fp32 on the CPU)"
    with tempfile.TemporaryDirectory() as out, deterministic():
        straight, _ = run_trainer(train_config(Path(out) / "straight", device, quick, steps=steps, **overrides))
        run_trainer(train_config(Path(out) / "resumed", device, quick, steps=resume_at, **overrides))
        resumed, notices = run_trainer(train_config(Path(out) / "resumed", device, quick, steps=steps, **overrides),
                                       resume=Path(out) / "resumed")
        a, b = final_weights(Path(out) / "straight"), final_weights(Path(out) / "resumed")
    error = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    atol = 2 * LR * (steps - resume_at)  # the steps after the resume, as graph against eager
    ok = a.keys() == b.keys() and error <= atol and resumed.step == steps and not notices.fallbacks()
    return ok, f"{resumed.mode}, {resume_at} steps + resume to {steps} against {steps} straight: max weight " \
               f"difference {error:.1e} ({'bit for bit' if error == 0 else f'<= {atol:.1e}'})"


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


def streamed(device: torch.device, quick: bool, index: int | None = None, d_steps: int = 1,
             echo: int = 1) -> tuple[bool | None, str]:
    if index is not None and (device.type != "cuda" or torch.cuda.device_count() <= index):
        return None, f"needs a CUDA device {index} (this machine has {torch.cuda.device_count()})"
    device = torch.device("cuda", index) if index is not None else device
    options = dict(data_budget_mb=0, data_workers=2) if index is None else {}
    with tempfile.TemporaryDirectory() as out:
        trainer, notices = run_trainer(train_config(Path(out) / "run", device, quick, steps=10, d_steps=d_steps,
                                                    echo=echo, **options))
    graphs = device.type == "cuda"
    captured = trainer.captured
    ok = trainer.finite and not notices.fallbacks() and (captured or not graphs)
    what = "streamed batches" if index is None else f"cuda:{index}"
    echoed = f", each batch {echo} times" if echo > 1 else ""
    return ok, f"{what}, {d_steps} D step{'s' if d_steps > 1 else ''}{echoed}, 10 steps: {trainer.mode}, " \
               f"{'captured' if captured else 'not captured'}, losses finite: {trainer.finite}" \
               + (f"; {notices.fallbacks()[0]}" if notices.fallbacks() else "")


def sync_bn_refuses_penalties(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    """Synchronised batch norm cannot run a penalty's second differentiation of D: `sync_bn` with
    one is a ConfigError naming `sync_bn`, raised before the run folder is written."""
    said = []
    for penalty, values in (("R1", dict(r1=1.0)), ("wgan-gp", dict(loss="wgan-gp"))):
        with tempfile.TemporaryDirectory() as out:
            run = Path(out) / "run"
            try:
                run_trainer(train_config(run, device, quick, steps=2, sync_bn=True, **values))
                return False, f"sync_bn with {penalty} trained instead of being refused"
            except ConfigError as err:
                written = (run / "config.yaml").exists()
                if "sync_bn" not in str(err) or written:
                    return False, f"sync_bn with {penalty}: {err} (run folder written: {written})"
                said.append(str(err))
    return True, f"refused with R1 and wgan-gp before anything was written: {said[0]}"


def data_parallel(device: torch.device, quick: bool, sync_bn: bool,
                  conditional: bool = False) -> tuple[bool | None, str]:
    """Two ranks under torchrun, each running this script's `--data-parallel-rank`: every step's
    weights agree across ranks, and the networks hold the norm layers asked for."""
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if count < 2:
        return None, f"needs 2 CUDA devices (this machine has {count})"
    with tempfile.TemporaryDirectory() as out:
        result, digests = Path(out) / "rank0.json", Path(out) / "digests"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                   __file__, "--data-parallel-rank", str(result), *(["--sync-bn"] if sync_bn else []),
                   *(["--conditional"] if conditional else [])]
        done = subprocess.run(command, capture_output=True, text=True, timeout=240,
                              env={**os.environ, DIGESTS_ENV: str(digests)})
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            return False, f"torchrun exited with {done.returncode}: {lines[-1] if lines else 'no output'}"
        rank0 = json.loads(result.read_text())
        steps = [(digests / f"rank-{rank}.txt").read_text().splitlines() for rank in (0, 1)]
    agree = len(steps[0]) == rank0["step"] and steps[0] == steps[1]
    norms = rank0["generator_norms"] + rank0["discriminator_norms"]
    synced = any("Sync" in name for name in norms)
    class_norms = sum("ClassBatchNorm2d" in name for name in rank0["generator_norms"])
    ok = rank0["finite"] and agree and synced == sync_bn and (class_norms > 0 or not conditional)
    return ok, (f"{rank0['mode']}, {rank0['step']} steps on 2 ranks: losses finite: {rank0['finite']}, weights "
                f"{'agree' if agree else 'differ'} across ranks, norms: {', '.join(sorted(set(norms)))}"
                + (f"; {class_norms} class batch norms in G" if conditional else ""))


def data_parallel_rank(result: Path, sync_bn: bool, conditional: bool) -> int:
    """One rank of `data_parallel`'s run: rank 0 writes what it finished with to `result`."""
    world = join(torch.device("cuda"), sync_bn)
    try:
        config = train_config(result.parent / "run", torch.device("cuda"), False, steps=8, sync_bn=sync_bn,
                              conditional=conditional, model={"g_label": "norm"} if conditional else {})
        finished, _ = run_trainer(config, world=world)
    finally:
        gc.collect()  # what the networks left in reference cycles, while the process group exists
        world.close()
    if world.is_main:
        result.write_text(json.dumps(dict(vars(finished), finite=finished.finite)))
    return 0


def stand_in_features() -> nn.Module:
    """A small network in Inception's place: 12 features an image, no weights to find."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 12, kernel_size=4, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def evaluation(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    """What `gancli eval` does to a short run's checkpoint, on the device: FID on Inception's
    features where its weights are on this machine (never downloaded here), else a stand-in's."""
    from gancli.metrics.evaluation import evaluate
    from gancli.metrics.features import FeatureExtractor, inception_extractor

    extractor, why = None, "--quick"
    if not quick:
        try:
            extractor = inception_extractor(None, device, download=False)
        except GancliError:
            why = "the Inception weights are not on this machine"
    extractor = extractor or FeatureExtractor(stand_in_features(), "standin-0", 32, device)
    num = 64 if quick else 1024
    with tempfile.TemporaryDirectory() as out:
        run_trainer(train_config(Path(out) / "run", device, quick, steps=4))
        report = evaluate(Path(out) / "run" / "checkpoints" / "last.safetensors", split="test", num=num,
                          num_real=num, metrics=("fid",), device=str(device), extractor=extractor,
                          cache_folder=Path(out) / "cache")
    on_device = next(extractor.network.parameters()).device.type == device.type
    fid = report["fid"]
    ok = math.isfinite(fid) and fid >= 0 and on_device
    network = report["feature_network"] + ("" if report["feature_network"].startswith("inception") else f" ({why})")
    return ok, f"FID {fid:.2f} of {num} generated against {num} real images on {device.type}, features from {network}"


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


def pinned_feed(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    if device.type != "cuda":
        return None, "pinned host memory needs CUDA"
    from gancli.training.step.batches import StreamedBatches

    pixels = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8)
    batches = StreamedBatches(pixels, 8, seed=0, device=device, workers=0, labels=torch.arange(64) % 10)
    one, two = batches.take(1), batches.take(2)  # one D step, and two: their batches joined on the host
    pinned = [t.is_pinned() for t in (*one, *two)]
    return all(pinned), f"feeds of one and of two batches pinned (pixels, labels): {pinned}"


def capturable_warnings(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    if device.type != "cuda":
        return None, "capturable Adam runs only where the step is captured (CUDA)"
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loop = make_loop(resolve_execution(ExecutionOptions(), device), ImageShape(3, 16, 16), 8, model=TINY_MODEL)
        for _ in range(WARMUP_STEPS + 3):
            loop()
        torch.cuda.synchronize(device)
    said = [str(w.message).splitlines()[0] for w in caught if "capturable" in str(w.message)]
    return not said, f"{len(said)} warning(s) about capturable=True over warm-up, capture and 2 replays" \
        + (f": {said[0]}" if said else "")


def ema_kernels(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    if device.type != "cuda":
        return None, "counts CUDA kernels"
    from torch.profiler import ProfilerActivity, profile

    loop = make_loop(resolve_execution(ExecutionOptions(cuda_graphs=False), device), ImageShape(3, 32, 32), 8)
    loop()
    ema, step = loop.ema, torch.tensor(5, device=device)
    parameters = len(list(ema.module.parameters()))
    torch.cuda.synchronize(device)
    with profile(activities=[ProfilerActivity.CUDA]) as profiler:
        ema.update(step)
        torch.cuda.synchronize(device)
    kernels = sum(1 for e in profiler.events() if e.device_type == torch.autograd.DeviceType.CUDA)
    return kernels <= 12, f"one EMA update: {kernels} CUDA kernels for {parameters} parameters (<= 12)"


def bench_against_wall(device: torch.device, quick: bool) -> tuple[bool | None, str]:
    if device.type != "cuda":
        return None, "CUDA events need CUDA"
    result = bench(TrainConfig(batch_size=128, device=str(device)), image_size=32, steps=200)
    gap = abs(result.ms_per_step - result.wall_ms_per_step) / result.wall_ms_per_step
    return gap <= 0.05, f"events {result.ms_per_step:.3f} ms/step, wall clock {result.wall_ms_per_step:.3f} ms/step: {gap:.1%} apart (<= 5%)"


def bench_rows(device: torch.device, quick: bool, checks: Checks) -> list[dict]:
    # (arch, size, channels, batch); the last two are examples/mnist.yaml's and mnist-large-batch.yaml's
    cases = [("dcgan", 32, 3, 8)] if quick else [
        ("dcgan64", 64, 3, 128), ("dcgan64", 64, 3, 1024), ("dcgan", 32, 3, 128), ("dcgan", 32, 3, 1024),
        ("dcgan", 28, 1, 16), ("dcgan", 28, 1, 128)]
    steps, warmup = (2, 1) if quick else (200, 10)
    rows = []
    for arch, size, channels, batch in cases:
        image, first = f"{size}x{size}x{channels}", len(rows)
        for options in ({}, {"cuda_graphs": False}):
            config = TrainConfig(arch=arch, batch_size=batch, device=str(device), model=TINY_MODEL if quick else {},
                                 **options)
            result = bench(config, image_size=size, channels=channels, steps=steps, warmup_steps=warmup)
            rows.append(dict(what="bench", arch=arch, image=image, batch=batch,
                             images_per_s=result.images_per_s, ms_per_step=result.ms_per_step,
                             peak_mib=result.peak_memory_mib, mode=result.mode))
            print(json.dumps(rows[-1]), flush=True)
            if device.type != "cuda":
                break  # no graph on the CPU: the second row would repeat the first
        target, fast = TARGETS.get((arch, image, batch)), rows[first]
        if device.type != "cuda" or target is None and quick:
            checks.report(f"speed {arch} {image} batch {batch}", None, "targets are for one H100/H200")
            continue
        if target is None:
            continue  # the MNIST pair is read against each other: no target of its own
        rate, peak = target
        ok = fast["images_per_s"] >= rate and (peak is None or fast["peak_mib"] < peak)
        checks.report(f"speed {arch} {image} batch {batch}", ok,
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


#: Graph against eager: each row's name and what it changes from an unconditional fp32 dcgan.
GRAPH_VARIANTS = (
    ("fp32", dict(exact_first=True)), ("bf16", dict(precision="bf16")), ("wgan-gp", dict(loss="wgan-gp")),
    ("R1", dict(r1=1.0)), ("two D steps", dict(d_steps=2)), ("fp16 grad scaler", dict(precision="fp16")),
    ("compile", dict(compile=True)), ("conditional + augment", dict(conditional=True)),
    ("conditional, class batch norm", dict(conditional=True, model={"g_label": "norm"})),
    *((f"{precision}, {what}", dict(precision=precision, **options)) for precision in ("bf16", "fp16")
      for what, options in (("conditional + augment", dict(conditional=True)), ("augment", dict(augment=True)),
                            ("wgan-gp", dict(loss="wgan-gp")))),
    ("augment, dcgan64, hinge", dict(arch="dcgan64", loss="hinge", augment=True, size=64)),
    ("augment, sngan, wgan-gp", dict(arch="sngan", loss="wgan-gp", augment=True)),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes; implied without CUDA")
    parser.add_argument("--compile-on-cpu", action="store_true",
                        help="without CUDA, run the compile rows with inductor too (about a minute)")
    # What `data_parallel` starts under torchrun, one process per GPU.
    parser.add_argument("--data-parallel-rank", type=Path, metavar="RESULT", help=argparse.SUPPRESS)
    parser.add_argument("--sync-bn", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--conditional", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.data_parallel_rank:
        return data_parallel_rank(args.data_parallel_rank, args.sync_bn, args.conditional)
    cuda = torch.cuda.is_available()
    quick = args.quick or not cuda
    device = torch.device("cuda" if cuda else "cpu")
    name = torch.cuda.get_device_name(device) if cuda else "CPU (no CUDA: tiny sizes, eager only)"
    print(f"device: {name}; torch {torch.__version__}", flush=True)
    started = time.perf_counter()

    checks = Checks()
    for what, options in GRAPH_VARIANTS:
        # The grad scaler's own row runs on a CPU too (fp16 autocasts there); the other fp16 rows
        # only where train runs fp16.
        if what == "compile" and not cuda:
            checks.report(f"graph against eager, {what}", None,
                          "compiling both sides takes minutes on a CPU; the compile rows below compile once")
            continue
        if what.startswith("fp16, ") and not cuda:
            checks.report(f"graph against eager, {what}", None, "fp16 needs CUDA (train runs fp32 on the CPU)")
            continue
        checks.run(f"graph against eager, {what}", lambda options=options: graph_against_eager(device, quick, **options))
    checks.run("compile, R1", lambda: compiled_penalty(device, quick, args.compile_on_cpu, r1=1.0))
    checks.run("compile, wgan-gp", lambda: compiled_penalty(device, quick, args.compile_on_cpu, loss="wgan-gp"))
    checks.run("replays advance", lambda: replays_advance(device, quick))
    checks.run("NaN in a captured step", lambda: nan_rollback(device, quick))
    checks.run("exact resume", lambda: exact_resume(device, quick))
    checks.run("exact resume, fp16", lambda: exact_resume(device, quick, steps=8, resume_at=4, precision="fp16"))
    checks.run("CPU checkpoint into graph mode", lambda: cpu_checkpoint_into_graphs(device, quick))
    checks.run("streamed data", lambda: streamed(device, quick))
    checks.run("streamed data, two D steps", lambda: streamed(device, quick, d_steps=2))
    checks.run("streamed data, echoed", lambda: streamed(device, quick, echo=3))
    checks.run("streamed feeds pinned", lambda: pinned_feed(device, quick))
    checks.run("second GPU", lambda: streamed(device, quick, index=1))
    checks.run("sync_bn with a penalty refused", lambda: sync_bn_refuses_penalties(device, quick))
    checks.run("DDP over NCCL", lambda: data_parallel(device, quick, sync_bn=False))
    checks.run("DDP over NCCL, sync_bn", lambda: data_parallel(device, quick, sync_bn=True))
    checks.run("DDP over NCCL, sync_bn, class batch norm",
               lambda: data_parallel(device, quick, sync_bn=True, conditional=True))
    checks.run("evaluation on the device", lambda: evaluation(device, quick))
    checks.run("capture failure", lambda: capture_fallback(device, quick))
    checks.run("no capturable warnings", lambda: capturable_warnings(device, quick))
    checks.run("EMA kernels", lambda: ema_kernels(device, quick))
    checks.run("bench timing", lambda: bench_against_wall(device, quick))

    rows = bench_rows(device, quick, checks)
    seed_bench = next(r for r in rows
                      if r["arch"] == "dcgan" and r["image"] == "32x32x3" and r["batch"] == (8 if quick else 128))
    rows.append(train_row(device, quick, seed_bench["images_per_s"], checks))

    print(f"\n{name}")
    print(f"{'what':6} {'arch':8} {'image':8} {'batch':>5} {'images/s':>10} {'ms/step':>8} {'peak MiB':>9}  mode")
    for r in rows:
        print(f"{r['what']:6} {r['arch']:8} {r['image']:8} {r['batch']:>5} {r['images_per_s']:>10,.0f} "
              f"{r['ms_per_step']:>8.2f} {r['peak_mib']:>9.0f}  {r['mode']}")
    print(f"\n{len(checks.results)} checks:")
    for result in checks.results:
        print(f"{result['seconds']:>6.1f}s  {result['result']:4}  {result['check']}")
    print(json.dumps(dict(device=name, torch=torch.__version__, seconds=round(time.perf_counter() - started),
                          checks=checks.results, table=rows, failed=checks.failures)))
    print("checks: " + ("all ok" if not checks.failures else "FAILED: " + "; ".join(checks.failures)))
    return 1 if checks.failures else 0


if __name__ == "__main__":
    run_script(main)
