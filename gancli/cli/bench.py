"""`gancli bench`: time the training step `train` runs, on random images resident on the device."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from gancli.cli.options import CompileOpt, CudaGraphsOpt, DeviceOpt, JsonOpt, Precision, PrecisionOpt, Tf32Opt, choice


def bench(
    arch: Annotated[str, typer.Option("--arch", help="Architecture name (see `gancli list`).")] = "dcgan",
    image_size: Annotated[int, typer.Option("--image-size", min=1, help="Images are N x N.")] = 64,
    channels: Annotated[int, typer.Option("--channels", min=1, max=3, help="1 or 3.")] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per batch.")] = 128,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Timed steps, after the warm-up.")] = 200,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed steps first (capture and compilation happen here).")] = 10,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = Precision.auto,
    cuda_graphs: CudaGraphsOpt = None,
    compile: CompileOpt = False,
    tf32: Tf32Opt = True,
    set_values: Annotated[Optional[list[str]], typer.Option("--set", help="Override a hyperparameter: model.KEY=VALUE (repeatable).")] = None,
    as_json: JsonOpt = False,
):
    """Time training steps of ARCH as `train` runs them: images/s, ms/step, peak memory."""
    from gancli.config import apply_overrides
    from gancli.training.bench import bench as run_bench
    from gancli.training.execution import ExecutionOptions

    try:
        options = ExecutionOptions(choice(precision), cuda_graphs, compile, tf32)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--precision") from None
    overrides = apply_overrides({}, set_values or [])
    unknown = sorted(set(overrides) - {"model"})
    if unknown:
        raise typer.BadParameter(f"bench takes model.KEY=VALUE only, got {unknown[0]}", param_hint="--set")
    notify = None if as_json else (lambda text: typer.echo(text, err=True))
    result = run_bench(arch=arch, image_size=image_size, channels=channels, batch_size=batch_size, steps=steps,
                       device=device, options=options, warmup_steps=warmup, model=overrides.get("model"),
                       notify=notify)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    table = Table(title=f"gancli bench: {arch}, {result.image_shape}, batch {batch_size}, {result.device}")
    for column in ("images/s", "ms/step", "peak memory", "mode"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    rate = result.images_per_s
    table.add_row(f"{rate:,.0f}" if rate >= 100 else f"{rate:.2f}", f"{result.ms_per_step:.2f}",
                  f"{result.peak_memory_mib:,.0f} MiB ({result.memory_measure})", result.mode)
    Console().print(table)
