"""`gancli train`: parse the flags, resolve the config, train, say where the run went."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gancli.cli.options import (CompileOpt, ConfigFlag, ConfigFlags, CudaGraphsOpt, DeviceOpt, OnCollapseOpt, OnNanOpt,
                                PrecisionOpt, SeedOpt, Tf32Opt)
from gancli.config import TrainConfig, resolve_config

RUN = "Run folder and outputs"
EXECUTION = "Execution"
FAST = "CUDA and compilation"

# The TrainConfig fields that are flags, by --help panel: a flag is --field-name, of the field's
# type, showing the field's default, unless its row says otherwise. The other fields, tuning that
# rarely changes from run to run, are set with --config or --set.
FLAGS = ConfigFlags(TrainConfig, {
    "Model and loss": {
        "arch": ConfigFlag("Architecture (see `gancli list`)."),
        "conditional": ConfigFlag("Learn the dataset's classes, to sample any by name (`gancli sample --class`).",
                                  names=("--conditional/--unconditional",)),
        "loss": ConfigFlag("Loss; default: the architecture's."),
        "lr": ConfigFlag("Learning rate of both networks; default: the architecture's.", metavar="LR"),
        "d_steps": ConfigFlag("Discriminator updates per generator update; default: the architecture's."),
        "r1": ConfigFlag("Weight of a gradient penalty on real images (R1); 0: none.", metavar="GAMMA"),
        "augment": ConfigFlag("DiffAugment all the discriminator sees: some of color,translation,cutout.",
                              commas=True),
        "ema_decay": ConfigFlag("Decay of the generator's moving average; 0: none.", metavar="D"),
    },
    "Data": {
        "data": ConfigFlag("Dataset (see `gancli datasets`), or folder:PATH."),
        "split": ConfigFlag("Split; default: the dataset's own."),
        "data_root": ConfigFlag("Folder of the dataset's files; default: $GANCLI_DATA or the user cache.",
                                metavar="DIR"),
        "download": ConfigFlag("Fetch missing dataset files from their official host."),
        "image_size": ConfigFlag("Resize images to N x N."),
        "channels": ConfigFlag("Convert images to 1 or 3 channels.", metavar="1|3"),
    },
    "Schedule": {
        "epochs": ConfigFlag("Passes over the dataset."),
        "steps": ConfigFlag("Steps (generator updates); wins over --epochs."),
        "batch_size": ConfigFlag("Images per batch; under torchrun, of all processes together."),
        "echo": ConfigFlag("Steps each batch trains in a row, with fresh latents (data echoing)."),
        "on_nan": OnNanOpt,
        "on_collapse": OnCollapseOpt,
    },
    RUN: {
        "out": ConfigFlag("Run folder; default: runs/ARCH-DATA-TIME.", names=("--out", "-o", "--output"),
                          path=True, metavar="DIR"),
        "log_every": ConfigFlag("Steps between readings of the losses (one host sync each)."),
        "sample_every": ConfigFlag("Steps between sample grids; 0: none."),
        "checkpoint_every": ConfigFlag("Steps between checkpoints; a crash loses at most this many."),
        "keep_last": ConfigFlag("Step-numbered checkpoints to keep; 0: all."),
        "loggers": ConfigFlag("Also log to tensorboard, or a plugin's logger (repeatable).", names=("--logger",)),
    },
    "Evaluation": {
        "eval_every": ConfigFlag("Score the generator every N steps and at the end; 0: never."),
        "eval_num": ConfigFlag("Images per evaluation."),
        "eval_metrics": ConfigFlag("fid (keeps checkpoints/best.safetensors) and/or classifier (labelled data; "
                                   "seconds).", commas=True),
        "inception": ConfigFlag("FID network weights (.pth or TorchScript); default: found or downloaded.",
                                path=True, metavar="FILE"),
    },
    EXECUTION: {
        "seed": SeedOpt,
        "device": DeviceOpt,
        "precision": PrecisionOpt,
    },
    FAST: {
        "cuda_graphs": CudaGraphsOpt,
        "compile": CompileOpt,
        "tf32": Tf32Opt,
        "sync_bn": ConfigFlag("Under torchrun: batch norm over the global batch (CUDA only)."),
    },
})


@FLAGS.command
def train(
    config: Annotated[Optional[Path], typer.Option("--config", metavar="FILE", help="YAML config file.")] = None,
    set_values: Annotated[Optional[list[str]], typer.Option(
        "--set", metavar="KEY=VALUE", help="Override a config key (repeatable; model.KEY for hyperparameters).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the resolved config, what the run would write where and an ETA from a few "
                          "timed steps; write nothing.")] = False,
    resume: Annotated[Optional[str], typer.Option(
        "--resume", help="Continue the run in RUN_DIR exactly; auto: the run in --out if there is one.",
        metavar="RUN_DIR|auto", rich_help_panel=RUN)] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Start anew in an --out that holds a run, moving it into --out/replaced-TIME/.",
        rich_help_panel=RUN)] = False,
    nproc: Annotated[Optional[int], typer.Option(
        "--nproc", metavar="N", help="Train data-parallel in N processes here (launches torchrun).",
        rich_help_panel=EXECUTION)] = None,
    **given,
):
    """Train a GAN and write a run folder: config, metrics, sample grids and checkpoints.

    The config: defaults < --config < --set < flags. Each flag is a config key; set the rest with --config or --set.
    """
    if nproc is not None and not dry_run:
        import sys

        from gancli.cli.launch import launch_local
        raise typer.Exit(launch_local(nproc, sys.argv[1:]))
    flags = FLAGS.values(given)
    if resume is None:  # a mistake in the flags or the config file is one line before torch loads
        resolve_config(config, set_values or [], flags)
    from gancli.cli.progress import terminal_reporter
    from gancli.training.step.distributed import env_rank
    from gancli.training.run.resume import plan_run

    plan = plan_run(resume, config, set_values or [], flags, overwrite)
    if dry_run:
        show_dry_run(plan)
        return
    from gancli.training.run.trainer import train as run_training

    result = run_training(plan.config, terminal_reporter(), overwrite=plan.overwrite, resume=plan.resume)
    if env_rank() != 0:
        return
    trained = f"Trained {result.trained:,} step{'' if result.trained == 1 else 's'}"
    if result.trained != result.steps:  # a resume: say where the run now stands
        trained += f", to step {result.steps:,}"
    typer.echo(f"{trained}; run folder: {result.out}")
    typer.echo(f"Checkpoint: {result.last_checkpoint}")
    for line in next_steps(result.out, plan.config.conditional):
        typer.echo(line)


def next_steps(run: Path, conditional: bool) -> list[str]:
    """What to do with a finished run: the files it wrote to look at, and the commands that use it."""
    lines = []
    samples = run / "samples"
    grids = sorted(samples.glob("step-*.png"))
    if grids:
        animation = " and timelapse.gif" if (samples / "timelapse.gif").exists() else ""
        lines.append(f"Grids over training: {samples}/ ({len(grids)} PNG{'s' if len(grids) != 1 else ''}{animation})")
    every_class = " --class all -n 8" if conditional else ""
    lines += ["Next: sample it, see its report (scores, curves, grids), train on:",
              f"  gancli sample {run}{every_class} -o samples.png",
              f"  gancli report {run}",
              f"  gancli train --resume {run} --epochs N"]
    return lines


def show_dry_run(plan) -> None:
    """`train --dry-run`: the config as the run would write it, its files, and the time it would take."""
    from gancli.training.run.dry_run import dry_run

    preview = dry_run(plan.config, plan.resume, plan.overwrite)
    typer.echo(preview.config_yaml(), nl=False)
    typer.echo("")
    shape = f"{preview.shape.channels}x{preview.shape.height}x{preview.shape.width}"
    count = f"{preview.images:,} images of {shape}" if preview.images is not None \
        else f"images of {shape}, not here yet"
    classes = f", {len(preview.classes)} classes (conditional)" if preview.classes else ""
    typer.echo(f"Data: {preview.data}, {count}{classes}")
    if preview.total_steps is None:
        typer.echo(f"Steps: {preview.config.epochs} epochs, of a length known once the data is here")
    else:
        epochs = f", {preview.total_steps / preview.steps_per_epoch:.3g} epochs of {preview.steps_per_epoch:,}" \
            if preview.steps_per_epoch else ""
        typer.echo(f"Steps: {preview.total_steps:,} of batch {preview.config.batch_size}{epochs}")
    if preview.resume_checkpoint is not None:
        typer.echo(f"Resumes: at step {preview.first_step:,} from {preview.resume_checkpoint}")
        for change in preview.changes:
            typer.echo(f"  {change}")
    typer.echo(f"Writes into {preview.out}/:")
    width = max(len(output.path) for output in preview.outputs)
    for output in preview.outputs:
        typer.echo(f"  {output.path:<{width}}  {output.what}")
    for notice in preview.notices:
        typer.echo(f"Note: {notice}")
    typer.echo(f"Step: {preview.execution}; {preview.kernels}")
    timing = f"Timed {preview.timed_steps} steps: {format_duration(preview.seconds_per_step, fine=True)} a step"
    if preview.eta_seconds is not None:
        left = preview.total_steps - preview.first_step
        timing += (f"; {left:,} step{'' if left == 1 else 's'} take about {format_duration(preview.eta_seconds)}, "
                   f"evaluations, grids and checkpoints besides")
    typer.echo(timing)
    typer.echo("Nothing was written; drop --dry-run to train.")


def format_duration(seconds: float, fine: bool = False) -> str:
    """As the report says a duration (5 min 45 s); with `fine`, under a minute to three figures (0.213 s, 48.2 ms)."""
    from gancli.report.facts import duration_text

    if fine and seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    if fine and seconds < 60:
        return f"{seconds:.3g} s"
    return duration_text(seconds)
