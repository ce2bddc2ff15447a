"""Timing the training step `train` would run, on device-resident random images.

    from gancli.training.bench import bench
    print(bench(arch="dcgan", image_size=64, batch_size=128, device="cpu").images_per_s)

The networks, optimisers and step come from `build_training`, as in `train`, and each step is
the trainer's `LoopStep`: the real batches gathered on the device, both updates, the statistics
added up, the divergence guard and the generator's EMA (at `train`'s default decay); on CUDA all
of it one graph replay.
Warm-up steps run first (CUDA graph capture and `torch.compile` happen there), then `steps`
steps are timed: with CUDA events on CUDA, with the wall clock around a synchronised loop
elsewhere.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

from gancli.architectures import architectures
from gancli.config import TrainConfig
from gancli.core.device import resolve_device, use_device
from gancli.core.shapes import ImageShape
from gancli.errors import ConfigError
from gancli.losses import make_loss
from gancli.training.batches import DeviceBatches
from gancli.training.build import build_training
from gancli.training.ema import GeneratorEMA
from gancli.training.execution import Execution, ExecutionOptions, resolve_execution
from gancli.training.guards import DivergenceGuard
from gancli.training.loop_step import LoopStep
from gancli.training.step import STAT_NAMES

WARMUP_STEPS = 10     # past the CUDA graph's capture (after 3 eager steps) and cuDNN's autotuning
DATA_BATCHES = 4      # random images resident on the device, in batches
EMA_DECAY = TrainConfig.ema_decay  # train's default: the EMA update is part of its step


@dataclass
class BenchResult:
    arch: str
    image_shape: str
    batch_size: int
    steps: int
    device: str
    mode: str
    images_per_s: float
    ms_per_step: float
    peak_memory_mib: float
    memory_measure: str   # what the peak is: CUDA allocator peak, or the process's peak RSS
    final_stats: dict[str, float]
    wall_ms_per_step: float  # the host's clock over the same steps (CUDA: start to the last step's end)
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(arch: str = "dcgan", image_size: int = 64, channels: int = 3, batch_size: int = 128, steps: int = 200,
          device: str = "auto", options: ExecutionOptions = ExecutionOptions(), model: dict[str, Any] | None = None,
          seed: int = 0, warmup_steps: int = WARMUP_STEPS, notify: Callable[[str], None] | None = None,
          execution: Execution | None = None) -> BenchResult:
    """Build `arch` for `channels` x `image_size`^2 images as `train` would and time `steps` steps.

    `execution`, when given, replaces what `options` would resolve to on `device`, so that
    settings `train` does not choose by default can be measured too.
    """
    for name, value in (("image_size", image_size), ("batch_size", batch_size), ("steps", steps)):
        if value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels}")
    notices: list[str] = []

    def record(text: str) -> None:
        notices.append(text)
        if notify is not None:
            notify(text)

    torch_device = resolve_device(device)
    use_device(torch_device)  # the timing events are recorded on the current device
    plugin = architectures.find(arch)
    architecture = architectures.load(plugin)
    try:
        arch_config = architecture.make_config(model)
    except ValueError as err:
        raise ConfigError(f"model: {err}") from None
    shape = ImageShape(channels, image_size, image_size)
    if execution is None:
        execution = resolve_execution(options, torch_device)
    for notice in execution.notices:
        record(notice)
    if torch_device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(torch_device)

    loss = make_loss(architecture.default_loss, smooth=0.1, prefer_package=plugin.package)
    try:
        training = build_training(architecture, arch_config, shape, loss, execution, seed, notify=record)
    except ValueError as err:
        raise ConfigError(f"arch {arch} cannot make {shape} images: {err}") from None
    data_rng = torch.Generator(device=torch_device).manual_seed(seed)
    pixels = torch.randint(0, 256, (batch_size * DATA_BATCHES * architecture.d_steps, *shape.as_tuple()),
                           dtype=torch.uint8, device=torch_device, generator=data_rng)
    batches = DeviceBatches(pixels, batch_size, seed, channels_last=execution.channels_last)
    loop = LoopStep(training, batches, architecture.d_steps, GeneratorEMA(training.generator, EMA_DECAY),
                    DivergenceGuard(torch_device), notify=record)

    def run(n: int) -> None:
        for _ in range(n):
            loop()

    run(warmup_steps)
    _synchronize(torch_device)
    loop.reset_totals()
    if torch_device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        started = time.perf_counter()
        start.record()
        run(steps)
        end.record()
        end.synchronize()
        wall_s = time.perf_counter() - started
        elapsed_s = start.elapsed_time(end) / 1000
        peak_mib, measure = torch.cuda.max_memory_allocated(torch_device) / 2**20, "CUDA allocator peak"
    else:
        started = time.perf_counter()
        run(steps)
        _synchronize(torch_device)
        elapsed_s = wall_s = time.perf_counter() - started
        peak_mib, measure = _peak_rss_mib(), "process peak RSS"
    final_stats = dict(zip(STAT_NAMES, (loop.totals / steps).tolist()))

    images = steps * batch_size * architecture.d_steps
    return BenchResult(
        arch=arch, image_shape=str(shape), batch_size=batch_size, steps=steps, device=str(torch_device),
        mode=loop.effective_execution.describe(), images_per_s=images / elapsed_s, ms_per_step=1000 * elapsed_s / steps,
        peak_memory_mib=peak_mib, memory_measure=measure, final_stats=final_stats,
        wall_ms_per_step=1000 * wall_s / steps, notices=notices,
    )
