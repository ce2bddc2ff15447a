"""`gancli eval`: score a checkpoint's images against a dataset (FID, KID, precision/recall, and
the classifier measures on labelled data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from gancli.cli.options import BestOpt, CheckpointArg, DeviceOpt, JsonOpt, SeedOpt, existing_checkpoint
from gancli.errors import ConfigError, GancliError

LABELS = {"fid": "FID", "kid": "KID", "kid_std": "KID std", "precision": "precision", "recall": "recall",
          "recognisable": "recognisable", "class_kl": "class KL", "conditional_accuracy": "conditional accuracy",
          "cas": "CAS", "cas_real": "CAS on real", "cas_ratio": "CAS ratio"}


def evaluate(
    checkpoint: CheckpointArg,
    data: Annotated[Optional[str], typer.Option("--data", metavar="NAME", help="Dataset of real images; default: the one the checkpoint trained on.")] = None,
    split: Annotated[Optional[str], typer.Option("--split", metavar="NAME", help="Dataset split; default: the dataset's own.")] = None,
    data_root: Annotated[Optional[Path], typer.Option("--data-root", metavar="DIR", help="Folder of the dataset's files.")] = None,
    num: Annotated[int, typer.Option("--num", min=2, metavar="N", help="Generated images.")] = 10000,
    num_real: Annotated[Optional[int], typer.Option("--num-real", min=2, metavar="N", help="Real images; default: the whole split.")] = None,
    metrics: Annotated[str, typer.Option("--metrics", metavar="NAMES", help="Comma-separated: fid, kid, pr (Inception features); classifier, cas (labelled data; cas for conditional checkpoints); auto: all that apply.")] = "auto",
    inception: Annotated[Optional[Path], typer.Option("--inception", metavar="FILE", help="FID network weights: pytorch-fid's .pth or a TorchScript file.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, metavar="N", help="Images per network call.")] = 64,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
    best: BestOpt = False,
):
    """Generate images from CHECKPOINT and score them against real images."""
    checkpoint = existing_checkpoint(checkpoint, best)  # a missing file is one line before torch loads
    from gancli.cli.progress import StageBars
    from gancli.metrics.evaluation import AUTO, FEATURE_METRICS, parse_metrics
    from gancli.metrics.evaluation import evaluate as run_evaluation

    asked = parse_metrics(metrics)
    refuse_other_shapes(checkpoint, data, data_root)
    if asked == (AUTO,) and inception is None:
        fid_weights_or_say_how(FEATURE_METRICS)

    from rich.console import Console

    with StageBars(Console(stderr=as_json)) as bars:  # stdout: the JSON alone
        report = run_evaluation(checkpoint, data, split, num, asked, num_real, inception, device,
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


def refuse_other_shapes(checkpoint: Path, data: str | None, data_root: Path | None) -> None:
    """Scores against another dataset whose images have another shape compare the generator's
    images with converted ones it never learnt from: refused, naming both shapes."""
    from gancli.checkpoints.format import read_info
    from gancli.datasets import datasets
    from gancli.datasets.loading import parse_data

    if data is None:
        return
    info = read_info(checkpoint)
    name, _ = parse_data(data, str(data_root) if data_root else None)
    own, _ = parse_data(info.dataset, None)
    if name in ("folder", own):  # a folder's shape is the one it is read at; the run's own data is read as it trained
        return
    native = datasets.get(name).native_shape
    if native != info.image_shape:
        raise ConfigError(f"{checkpoint} makes {info.image_shape} images and {data}'s are {native}: its scores "
                          f"would compare the generator with images it never learnt from; evaluate it against "
                          f"the data it trained on (--data {info.dataset}) or data of its shape")


def fid_weights_or_say_how(metrics: tuple[str, ...]) -> None:
    """--metrics auto scores FID, KID and precision/recall on the FID network: without its weights,
    say so in one line, and how to score without them."""
    from gancli.metrics.weights import find_fid_weights

    try:
        find_fid_weights(None)
    except GancliError as err:
        raise GancliError(f"--metrics auto scores {', '.join(metrics)} with the FID network, and {err}; "
                          f"--metrics classifier scores labelled data without it") from None
