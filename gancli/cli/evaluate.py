"""`gancli eval`: score a checkpoint's images against a dataset (FID, KID, precision/recall, and
the classifier measures on labelled data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from gancli.cli.options import BestOpt, CheckpointArg, DeviceOpt, JsonOpt, SeedOpt

LABELS = {"fid": "FID", "kid": "KID", "kid_std": "KID std", "precision": "precision", "recall": "recall",
          "recognisable": "recognisable", "class_kl": "class KL", "conditional_accuracy": "conditional accuracy",
          "cas": "CAS", "cas_real": "CAS on real", "cas_ratio": "CAS ratio"}


def evaluate(
    checkpoint: CheckpointArg,
    data: Annotated[Optional[str], typer.Option("--data", help="Dataset of real images; default: the one the checkpoint trained on.")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Dataset split; default: the dataset's own.")] = None,
    data_root: Annotated[Optional[Path], typer.Option("--data-root", help="Folder of the dataset's files.")] = None,
    num: Annotated[int, typer.Option("--num", min=2, help="Generated images.")] = 10000,
    num_real: Annotated[Optional[int], typer.Option("--num-real", min=2, help="Real images; default: the whole split.")] = None,
    metrics: Annotated[str, typer.Option("--metrics", help="Comma-separated: fid, kid, pr (Inception features); classifier, cas (labelled data; cas for conditional checkpoints); auto: all that apply.")] = "auto",
    inception: Annotated[Optional[Path], typer.Option("--inception", help="FID network weights: pytorch-fid's .pth or a TorchScript file.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per network call.")] = 64,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
    best: BestOpt = False,
):
    """Generate images from CHECKPOINT and score them against real images."""
    from gancli.checkpoints.locate import checkpoint_in
    from gancli.cli.progress import StageBars
    from gancli.metrics.evaluation import evaluate as run_evaluation
    from gancli.metrics.evaluation import parse_metrics

    checkpoint = checkpoint_in(checkpoint, best)

    with StageBars() as bars:
        report = run_evaluation(checkpoint, data, split, num, parse_metrics(metrics), num_real, inception, device,
                                seed, batch_size, data_root, progress=bars, notify=bars.notify)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"{report['checkpoint']} ({report['network']}) vs {report['dataset']}/{report['split']}: "
               f"{report['num_generated']} generated" + (f", {report['num_real']} real images" if "num_real" in report else "")
               + (" (real features from the cache)" if report.get("real_features_cached") else ""))
    for key, label in LABELS.items():
        if key in report:
            typer.echo(f"{label:>20}  {report[key]:.6g}")
        if key == "recognisable" and "classes_covered" in report:
            typer.echo(f"{'classes covered':>20}  {report['classes_covered']:.0f} of {report['classes']:.0f}")
    if "classifier_accuracy" in report:
        typer.echo(f"(the classifier is {report['classifier_accuracy']:.2%} accurate on "
                   f"{report['classifier_heldout']:,} held-out real images it never trained on)")
