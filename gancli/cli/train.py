"""`gancli train`: parse the flags, resolve the config, train, say where the run went."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gancli.cli.options import (CompileOpt, ConfigFlag, ConfigFlags, CudaGraphsOpt, DeviceOpt, OnNanOpt, PrecisionOpt,
                                SeedOpt, Tf32Opt)
from gancli.config import TrainConfig, resolve_config

RUN = "Run folder and outputs"
EXECUTION = "Execution"

# The TrainConfig fields that are flags, by --help panel: a flag is --field-name, of the field's
# type, showing the field's default, unless its row says otherwise. The other fields, tuning that
# rarely changes from run to run, are set with --config or --set.
FLAGS = ConfigFlags(TrainConfig, {
    "Model and loss": {
        "arch": ConfigFlag("Architecture name (see `gancli list`)."),
        "conditional": ConfigFlag("Learn the dataset's classes: sample any class by name (`gancli sample --class`).",
                                  names=("--conditional/--unconditional",)),
        "loss": ConfigFlag("Loss name; default: the architecture's."),
        "lr": ConfigFlag("Learning rate of both networks; default: the architecture's."),
        "d_steps": ConfigFlag("Discriminator updates per generator update; default: the architecture's "
                              "(see `gancli list`)."),
        "r1": ConfigFlag("Weight (gamma) of a zero-centred gradient penalty on real images (R1); 0 turns it off."),
        "augment": ConfigFlag("DiffAugment every image the discriminator sees, real and fake: some of "
                              "color,translation,cutout.", commas=True),
        "ema_decay": ConfigFlag("Decay of the generator's moving average; 0 turns it off."),
    },
    "Data": {
        "data": ConfigFlag("Dataset name (see `gancli datasets`), or folder:PATH."),
        "split": ConfigFlag("Dataset split; default: the dataset's own."),
        "data_root": ConfigFlag("Folder of the dataset's files; default: $GANCLI_DATA or the user cache."),
        "download": ConfigFlag("Fetch missing dataset files from their official host."),
        "image_size": ConfigFlag("Resize images to N x N."),
        "channels": ConfigFlag("Convert images to 1 or 3 channels."),
    },
    "Schedule": {
        "epochs": ConfigFlag("Passes over the dataset."),
        "steps": ConfigFlag("Generator updates; wins over --epochs."),
        "batch_size": ConfigFlag("Images per batch; under torchrun the global batch, split evenly over the processes."),
        "on_nan": OnNanOpt,
    },
    RUN: {
        "out": ConfigFlag("Run folder; default: runs/<arch>-<data>-<timestamp>.", names=("--out", "-o", "--output"),
                          path=True),
        "log_every": ConfigFlag("Steps between readings of the losses (one host sync each)."),
        "sample_every": ConfigFlag("Steps between sample grids; 0: none."),
        "checkpoint_every": ConfigFlag("Steps between checkpoints; a crash loses at most this many."),
        "keep_last": ConfigFlag("Step-numbered checkpoints to keep; 0 keeps all."),
        "loggers": ConfigFlag("Also log to this logger: tensorboard, or a plugin's (repeatable; metrics.jsonl is "
                              "always written).", names=("--logger",)),
    },
    "Evaluation": {
        "eval_every": ConfigFlag("Score the generator (--eval-metrics) every N steps and at the end; with FID, keep "
                                 "checkpoints/best.safetensors; 0: never."),
        "eval_num": ConfigFlag("Images per evaluation."),
        "eval_metrics": ConfigFlag("What --eval-every scores, comma-separated: fid (keeps best.safetensors), "
                                   "classifier (labelled data; no Inception network).", commas=True),
        "inception": ConfigFlag("FID network weights (pytorch-fid .pth or TorchScript); default: found or "
                                "downloaded.", path=True),
    },
    EXECUTION: {
        "seed": SeedOpt,
        "device": DeviceOpt,
        "precision": PrecisionOpt,
        "cuda_graphs": CudaGraphsOpt,
        "compile": CompileOpt,
        "tf32": Tf32Opt,
        "sync_bn": ConfigFlag("Under torchrun: batch-norm statistics over the global batch (CUDA only)."),
    },
})


@FLAGS.command
def train(
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML config file.")] = None,
    set_values: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Override a config key: key=value (repeatable; model.KEY for hyperparameters).")] = None,
    resume: Annotated[Optional[str], typer.Option(
        "--resume", help="Continue the run in RUN_DIR exactly; 'auto': the run in --out if there is one.",
        metavar="RUN_DIR|auto", rich_help_panel=RUN)] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Start a new run in an --out folder that holds one; the old run moves into "
                            "--out/replaced-TIME/.", rich_help_panel=RUN)] = False,
    nproc: Annotated[Optional[int], typer.Option(
        "--nproc", help="Train data-parallel in N processes on this machine (launches torchrun).",
        rich_help_panel=EXECUTION)] = None,
    **given,
):
    """Train a GAN and write a run folder: config, metrics, sample grids and checkpoints."""
    if nproc is not None:
        import sys

        from gancli.cli.launch import launch_local
        raise typer.Exit(launch_local(nproc, sys.argv[1:]))
    flags = FLAGS.values(given)
    if resume is None:  # a mistake in the flags or the config file is one line before torch loads
        resolve_config(config, set_values or [], flags)
    from gancli.cli.progress import terminal_reporter
    from gancli.training.step.distributed import env_rank
    from gancli.training.run.resume import plan_run
    from gancli.training.run.trainer import train as run_training

    plan = plan_run(resume, config, set_values or [], flags, overwrite)
    result = run_training(plan.config, terminal_reporter(), overwrite=plan.overwrite, resume=plan.resume)
    if env_rank() != 0:
        return
    typer.echo(f"Trained {result.steps} step{'' if result.steps == 1 else 's'}; run folder: {result.out}")
    typer.echo(f"Checkpoint: {result.last_checkpoint}")
