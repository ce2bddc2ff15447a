"""`gancli train`: parse the flags, resolve the config, train, say where the run went."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gancli.cli.options import (CompileOpt, CudaGraphsOpt, DeviceOpt, OnNanOpt, PrecisionOpt, SeedOpt, Tf32Opt, choice,
                                name_list)
from gancli.config import resolve_config


def train(
    arch: Annotated[Optional[str], typer.Option("--arch", help="Architecture name (see `gancli list`).", show_default="dcgan")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="Dataset name (see `gancli datasets`), or folder:PATH.", show_default="synthetic")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Dataset split; default: the dataset's own.")] = None,
    data_root: Annotated[Optional[str], typer.Option("--data-root", help="Folder of the dataset's files; default: $GANCLI_DATA or the user cache.")] = None,
    download: Annotated[Optional[bool], typer.Option("--download/--no-download", help="Fetch missing dataset files from their official host.", show_default="download")] = None,
    image_size: Annotated[Optional[int], typer.Option("--image-size", help="Resize images to N x N.")] = None,
    channels: Annotated[Optional[int], typer.Option("--channels", help="Convert images to 1 or 3 channels.")] = None,
    conditional: Annotated[Optional[bool], typer.Option("--conditional/--unconditional", help="Learn the dataset's classes: sample any class by name (`gancli sample --class`).", show_default="unconditional")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Passes over the dataset.", show_default="5")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Generator updates; wins over --epochs.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Images per batch; under torchrun the global batch, split evenly over the processes.", show_default="64")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Learning rate of both networks; default: the architecture's.")] = None,
    loss: Annotated[Optional[str], typer.Option("--loss", help="Loss name; default: the architecture's.")] = None,
    augment: Annotated[Optional[str], typer.Option("--augment", help="DiffAugment every image the discriminator sees, real and fake: some of color,translation,cutout.")] = None,
    r1: Annotated[Optional[float], typer.Option("--r1", help="Weight (gamma) of a zero-centred gradient penalty on real images (R1); 0 turns it off.", show_default="0")] = None,
    d_steps: Annotated[Optional[int], typer.Option("--d-steps", help="Discriminator updates per generator update; default: the architecture's (see `gancli list`).")] = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", "--output", help="Run folder; default: runs/<arch>-<data>-<timestamp>.")] = None,
    precision: PrecisionOpt = None,
    cuda_graphs: CudaGraphsOpt = None,
    compile: CompileOpt = None,
    tf32: Tf32Opt = None,
    logger: Annotated[Optional[list[str]], typer.Option("--logger", help="Also log to this logger: tensorboard, or a plugin's (repeatable; metrics.jsonl is always written).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML config file.")] = None,
    set_values: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config key: key=value (repeatable; model.KEY for hyperparameters).")] = None,
    log_every: Annotated[Optional[int], typer.Option("--log-every", help="Steps between readings of the losses (one host sync each).", show_default="50")] = None,
    sample_every: Annotated[Optional[int], typer.Option("--sample-every", help="Steps between sample grids; 0: none.", show_default="500")] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option("--checkpoint-every", help="Steps between checkpoints; a crash loses at most this many.", show_default="1000")] = None,
    keep_last: Annotated[Optional[int], typer.Option("--keep-last", help="Step-numbered checkpoints to keep; 0 keeps all.", show_default="0")] = None,
    ema_decay: Annotated[Optional[float], typer.Option("--ema-decay", help="Decay of the generator's moving average; 0 turns it off.", show_default="0.999")] = None,
    on_nan: OnNanOpt = None,
    resume: Annotated[Optional[str], typer.Option("--resume", help="Continue the run in RUN_DIR exactly; 'auto': the run in --out if there is one.", metavar="RUN_DIR|auto")] = None,
    eval_every: Annotated[Optional[int], typer.Option("--eval-every", help="Score the generator (--eval-metrics) every N steps and at the end; with FID, keep checkpoints/best.safetensors; 0: never.", show_default="0")] = None,
    eval_num: Annotated[Optional[int], typer.Option("--eval-num", help="Images per evaluation.", show_default="5000")] = None,
    eval_metrics: Annotated[Optional[str], typer.Option("--eval-metrics", help="What --eval-every scores, comma-separated: fid (keeps best.safetensors), classifier (labelled data; no Inception network).", show_default="fid")] = None,
    inception: Annotated[Optional[Path], typer.Option("--inception", help="FID network weights (pytorch-fid .pth or TorchScript); default: found or downloaded.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start a new run in an --out folder that holds one; the old run moves into --out/replaced-TIME/.")] = False,
    sync_bn: Annotated[Optional[bool], typer.Option("--sync-bn/--no-sync-bn", help="Under torchrun: batch-norm statistics over the global batch (CUDA only).", show_default="no-sync-bn")] = None,
    nproc: Annotated[Optional[int], typer.Option("--nproc", help="Train data-parallel in N processes on this machine (launches torchrun).")] = None,
):
    """Train a GAN and write a run folder: config, metrics, sample grids and checkpoints."""
    if nproc is not None:
        import sys

        from gancli.cli.launch import launch_local
        raise typer.Exit(launch_local(nproc, sys.argv[1:]))
    flags = {"arch": arch, "data": data, "split": split, "data_root": data_root, "download": download, "image_size": image_size,
             "channels": channels, "conditional": conditional, "epochs": epochs, "steps": steps, "batch_size": batch_size, "lr": lr,
             "loss": loss, "augment": name_list("--augment", augment),
             "r1": r1, "d_steps": d_steps, "seed": seed, "device": device, "out": str(out) if out else None,
             "checkpoint_every": checkpoint_every, "keep_last": keep_last, "ema_decay": ema_decay, "on_nan": choice(on_nan),
             "eval_every": eval_every, "eval_num": eval_num,
             "eval_metrics": name_list("--eval-metrics", eval_metrics),
             "inception": str(inception) if inception else None,
             "precision": choice(precision), "cuda_graphs": cuda_graphs, "compile": compile, "sync_bn": sync_bn,
             "tf32": tf32, "log_every": log_every, "sample_every": sample_every, "loggers": logger}
    if resume is None:  # a mistake in the flags or the config file is one line before torch loads
        resolve_config(config, set_values or [], flags)
    from gancli.cli.progress import terminal_reporter
    from gancli.training.distributed import env_rank
    from gancli.training.resume import plan_run
    from gancli.training.trainer import train as run_training

    plan = plan_run(resume, config, set_values or [], flags, overwrite)
    result = run_training(plan.config, terminal_reporter(), overwrite=plan.overwrite, resume=plan.resume)
    if env_rank() != 0:
        return
    typer.echo(f"Trained {result.steps} step{'' if result.steps == 1 else 's'}; run folder: {result.out}")
    typer.echo(f"Checkpoint: {result.last_checkpoint}")
