"""Timing the training step `train` would run, on device-resident random images.

    from gancli.config import TrainConfig
    from gancli.training.step.bench import bench
    print(bench(TrainConfig(arch="dcgan", batch_size=128, device="cpu"), image_size=64).images_per_s)

The step is assembled from the config by `assembly.assemble_step`, as `train` assembles it: the
same model, loss and label smoothing, penalties, augmentation, D updates per step, EMA and
precision. Each timed step is the trainer's `DeviceStep`: the real batches gathered on the
device, both updates, the statistics added up, the divergence guard and the generator's EMA; on
CUDA all of it one graph replay. Warm-up steps run first (CUDA graph capture and `torch.compile`
happen there), then `steps` steps are timed: with CUDA events on CUDA, with the wall clock
around a synchronised loop elsewhere. On CUDA the peak memory counts from the end of the first
warm-up step, so cuDNN's autotuning workspaces, freed once it has chosen, are not in it.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

from gancli.config import TrainConfig
from gancli.core.device import resolve_device, use_device
from gancli.core.shapes import ImageShape
from gancli.errors import ConfigError
from gancli.training.step.assembly import Step, assemble_step, resolve_model
from gancli.training.step.batches import DeviceBatches
from gancli.training.step.distributed import World
from gancli.training.step.execution import Execution
from gancli.training.step.gan_step import STAT_NAMES

WARMUP_STEPS = 10     # past the CUDA graph's capture (after 3 eager steps) and cuDNN's autotuning
DATA_BATCHES = 4      # random images resident on the device, in batches


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


def bench_step(config: TrainConfig, shape: ImageShape, notify: Callable[[str], None] = print,
               execution: Execution | None = None, classes: int = 0) -> Step:
    """The step `train` would assemble from `config`, fed random `shape` images resident on the
    device; a conditional config's with random labels of `classes` classes."""
    device = execution.device if execution is not None else resolve_device(config.device)
    model = resolve_model(config)
    classes = classes if config.conditional else 0
    if config.conditional and classes < 2:
        raise ConfigError("conditional: bench needs the number of classes to time a conditional step")
    data_rng = torch.Generator(device=device).manual_seed(config.seed)
    count = config.batch_size * DATA_BATCHES * model.d_steps
    pixels = torch.randint(0, 256, (count, *shape.as_tuple()), dtype=torch.uint8, device=device, generator=data_rng)
    labels = torch.randint(0, classes, (count,), device=device, generator=data_rng) if classes else None
    return assemble_step(
        config, model, shape,
        lambda execution: DeviceBatches(pixels, config.batch_size, config.seed, labels=labels,
                                        channels_last=execution.channels_last),
        World(device=device), classes=classes, notify=notify, execution=execution)


def bench(config: TrainConfig, image_size: int = 64, channels: int = 3, steps: int = 200,
          warmup_steps: int = WARMUP_STEPS, notify: Callable[[str], None] | None = None,
          execution: Execution | None = None, classes: int = 0) -> BenchResult:
    """Assemble `config`'s step for `channels` x `image_size`^2 images as `train` would and time
    `steps` steps. `execution`, when given, replaces what the config's options resolve to on its
    device, so that settings `train` does not choose by default can be measured too."""
    for name, value in (("image_size", image_size), ("steps", steps)):
        if value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels}")
    notices: list[str] = []

    def record(text: str) -> None:
        notices.append(text)
        if notify is not None:
            notify(text)

    device = execution.device if execution is not None else resolve_device(config.device)
    use_device(device)  # the timing events are recorded on the current device
    shape = ImageShape(channels, image_size, image_size)
    step = bench_step(config, shape, record, execution, classes)
    loop = step.device_step

    def run(n: int) -> None:
        for _ in range(n):
            loop()

    if warmup_steps:
        run(1)
    _synchronize(device)
    if device.type == "cuda":  # after the first step: cuDNN's autotuning workspaces are gone by then
        torch.cuda.reset_peak_memory_stats(device)
    run(max(0, warmup_steps - 1))
    _synchronize(device)
    loop.reset_totals()
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        started = time.perf_counter()
        start.record()
        run(steps)
        end.record()
        end.synchronize()
        wall_s = time.perf_counter() - started
        elapsed_s = start.elapsed_time(end) / 1000
        peak_mib, measure = torch.cuda.max_memory_allocated(device) / 2**20, "CUDA allocator peak"
    else:
        started = time.perf_counter()
        run(steps)
        _synchronize(device)
        elapsed_s = wall_s = time.perf_counter() - started
        peak_mib, measure = _peak_rss_mib(), "process peak RSS"
    final_stats = dict(zip(STAT_NAMES, (loop.totals / steps).tolist()))

    images = steps * config.batch_size * step.model.d_steps
    return BenchResult(
        arch=config.arch, image_shape=str(shape), batch_size=config.batch_size, steps=steps, device=str(device),
        mode=loop.effective_execution.describe(), images_per_s=images / elapsed_s,
        ms_per_step=1000 * elapsed_s / steps, peak_memory_mib=peak_mib, memory_measure=measure,
        final_stats=final_stats, wall_ms_per_step=1000 * wall_s / steps, notices=notices,
    )
