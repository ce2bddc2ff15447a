"""`gancli bench`: time the training step `train` runs, on random images resident on the device."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from gancli.cli.options import CompileOpt, CudaGraphsOpt, DeviceOpt, JsonOpt, PrecisionOpt, Tf32Opt, choice

BATCH_SIZE = 128  # without a config: a batch that keeps a GPU busy, so the figure is the step's own


def dataset_classes(config) -> int:
    """How many classes the config's dataset names, without reading its images: what a
    conditional step is timed with."""
    from gancli.datasets import datasets
    from gancli.datasets.loading import parse_data

    name, root = parse_data(config.data, config.data_root)
    if name == "pack":
        from gancli.datasets.pack import read_pack_info

        return len(read_pack_info(root)[0].classes or ())
    return len(datasets.get(name).class_names)


def native_shape(config):
    """The shape of the config's dataset as stored, without reading it."""
    from gancli.datasets import datasets
    from gancli.datasets.loading import parse_data

    name, root = parse_data(config.data, config.data_root)
    if name == "pack":  # a pack's shape is in its header
        from gancli.datasets.pack import read_pack_info

        return read_pack_info(root)[0].shape
    return datasets.get(name).native_shape


def bench(
    arch: Annotated[Optional[str], typer.Option("--arch", help="Architecture name (see `gancli list`).", show_default="dcgan")] = None,
    image_size: Annotated[Optional[int], typer.Option("--image-size", min=1, help="Images are N x N; default: the config's image_size, or its dataset's; else 64.")] = None,
    channels: Annotated[Optional[int], typer.Option("--channels", min=1, max=3, help="1 or 3; default: the config's channels, or its dataset's; else 3.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Images per batch.", show_default=str(BATCH_SIZE))] = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Timed steps, after the warm-up.")] = 200,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed steps first (capture and compilation happen here).")] = 10,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    cuda_graphs: CudaGraphsOpt = None,
    compile: CompileOpt = None,
    tf32: Tf32Opt = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Time the step of this training config (YAML): its model, loss, augmentation, penalties and precision.")] = None,
    set_values: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config key: key=value (repeatable; model.KEY for hyperparameters).")] = None,
    as_json: JsonOpt = False,
):
    """Time training steps as `train` runs them (the same config, the same step): images/s, ms/step, peak memory."""
    from gancli.config import resolve_config
    from gancli.training.step.bench import bench as run_bench

    flags = {"arch": arch, "batch_size": batch_size, "device": device, "precision": choice(precision),
             "cuda_graphs": cuda_graphs, "compile": compile, "tf32": tf32}
    train_config = resolve_config(config, set_values or [], flags, base={"batch_size": BATCH_SIZE})
    native = native_shape(train_config) if config is not None else None  # the images the recipe trains on
    notify = None if as_json else (lambda text: typer.echo(text, err=True))
    result = run_bench(train_config, image_size=image_size or train_config.image_size or (native.height if native else 64),
                       channels=channels or train_config.channels or (native.channels if native else 3),
                       steps=steps, warmup_steps=warmup, notify=notify,
                       classes=dataset_classes(train_config) if train_config.conditional else 0)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    table = Table(title=f"gancli bench: {result.arch}, {result.image_shape}, batch {result.batch_size}, {result.device}")
    for column in ("images/s", "ms/step", "peak memory", "mode"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    rate = result.images_per_s
    table.add_row(f"{rate:,.0f}" if rate >= 100 else f"{rate:.2f}", f"{result.ms_per_step:.2f}",
                  f"{result.peak_memory_mib:,.0f} MiB ({result.memory_measure})", result.mode)
    Console().print(table)
