"""`gancli eval`: score a checkpoint's images against a dataset (FID, KID, precision/recall, and
the classifier measures on labelled data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from gancli.cli.options import BestOpt, CheckpointArg, DeviceOpt, JsonOpt, SeedOpt, existing_checkpoint
from gancli.errors import ConfigError, GancliError

LABELS = {"fid": "FID", "fid_inf": "FID-infinity", "kid": "KID", "kid_std": "KID std", "precision": "precision", "recall": "recall",
          "recognisable": "recognisable", "class_kl": "class KL", "conditional_accuracy": "conditional accuracy",
          "cas": "CAS", "cas_real": "CAS on real", "cas_ratio": "CAS ratio"}


def evaluate(
    checkpoint: CheckpointArg,
    data: Annotated[Optional[str], typer.Option("--data", metavar="NAME", help="Dataset of real images; default: the one the checkpoint trained on.")] = None,
    split: Annotated[Optional[str], typer.Option("--split", metavar="NAME", help="Dataset split; default: the dataset's own.")] = None,
    data_root: Annotated[Optional[Path], typer.Option("--data-root", metavar="DIR", help="Folder of the dataset's files.")] = None,
    num: Annotated[int, typer.Option("--num", min=2, metavar="N", help="Generated images.")] = 10000,
    num_real: Annotated[Optional[int], typer.Option("--num-real", min=2, metavar="N", help="Real images; default: the whole split.")] = None,
    metrics: Annotated[str, typer.Option("--metrics", metavar="NAMES", help="Comma-separated: fid, kid, pr (Inception features); classifier, cas (labelled data; cas for conditional checkpoints); auto: all that apply. Opt-in: fid_inf (FID extrapolated to infinite N), memorisation (nearest training images against held-out ones).")] = "auto",
    inception: Annotated[Optional[Path], typer.Option("--inception", metavar="FILE", help="FID network weights: pytorch-fid's .pth or a TorchScript file.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, metavar="N", help="Images per network call.")] = 64,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, metavar="N", help="Resamples of the generated images behind FID's standard deviation; 0: none.")] = 10,
    num_train: Annotated[int, typer.Option("--num-train", min=2, metavar="N", help="Training images memorisation compares with (a seeded random N).")] = 10000,
    pairs: Annotated[Optional[Path], typer.Option("--pairs", metavar="FILE", help="memorisation: write the generated images nearest to a training image, each above its neighbour, to this PNG.")] = None,
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
    if pairs is not None and "memorisation" not in asked:
        raise ConfigError("--pairs shows memorisation's closest pairs: add memorisation to --metrics")
    run = run_of(checkpoint) if "memorisation" in asked else None
    if run is not None and pairs is None:  # where `gancli report` shows them
        pairs = run.memorisation / f"{checkpoint.stem}.png"
    refuse_other_shapes(checkpoint, data, data_root)
    if asked == (AUTO,) and inception is None:
        fid_weights_or_say_how(FEATURE_METRICS)

    from rich.console import Console

    with StageBars(Console(stderr=as_json)) as bars:  # stdout: the JSON alone
        report = run_evaluation(checkpoint, data, split, num, asked, num_real, inception, device,
                                seed, batch_size, data_root, progress=bars, notify=bars.notify,
                                bootstrap=bootstrap, num_train=num_train, pairs=pairs)
    if run is not None:
        keep_memorisation(run, checkpoint, report)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"{report['checkpoint']} ({report['network']}) vs {report['dataset']}/{report['split']}: "
               f"{report['num_generated']} generated" + (f", {report['num_real']} real images" if "num_real" in report else "")
               + (" (real features from the cache)" if report.get("real_features_cached") else ""))
    for key, label in LABELS.items():
        if key == "fid" and key in report:
            typer.echo(f"{label:>20}  {fid_text(report)}")
        elif key in report:
            typer.echo(f"{label:>20}  {report[key]:.6g}")
        if key == "recognisable" and "classes_covered" in report:
            typer.echo(f"{'classes covered':>20}  {report['classes_covered']:.0f} of {report['classes']:.0f}")
    if "memorisation_share" in report:
        typer.echo(memorisation_text(report))
    if "classifier_accuracy" in report:
        typer.echo(f"(the classifier is {report['classifier_accuracy']:.2%} accurate on "
                   f"{report['classifier_heldout']:,} held-out real images it never trained on)")
    from gancli.metrics.protocol import Protocol

    typer.echo(Protocol.from_dict(report["protocol"]).line())


def fid_text(report: dict) -> str:
    """FID with its spread and its scale: '38.9 ± 0.41  (real vs real at 2,000: 6.52)'."""
    text = f"{report['fid']:.6g}"
    if "fid_std" in report:
        text += f" ± {report['fid_std']:.2g} (bootstrap sd)"
    if "fid_floor" in report:
        text += f"  (real vs real at {report['fid_floor_n']:,}: {report['fid_floor']:.3g})"
    return text


def memorisation_text(report: dict) -> str:
    """Memorisation in two lines: the share and z, flagged or not; where the pairs went."""
    verdict = "FLAGGED: samples sit nearer the training images than new real images do" if report["memorised"] \
        else "not flagged"
    lines = [f"{'memorisation':>20}  {report['memorisation_share']:.1%} of samples nearer to a training image than "
             f"the held-out reals' closest 5%; z {report['memorisation_z']:.2f}: {verdict} "
             f"({report['memorisation_train']:,} training images)"]
    if "memorisation_pairs" in report:
        lines.append(f"{'':>20}  the closest pairs: {report['memorisation_pairs']}")
    return "\n".join(lines)


def run_of(checkpoint: Path):
    """The run folder `checkpoint` belongs to (RUN/checkpoints/NAME), or None."""
    from gancli.training.run.folder import RunFolder

    folder = RunFolder(checkpoint.resolve().parent.parent)
    return folder if checkpoint.resolve().parent.name == "checkpoints" and folder.holds_run() else None


def keep_memorisation(run, checkpoint: Path, report: dict) -> None:
    """Memorisation's scores and protocol beside its pairs in the run folder, for `gancli report`."""
    from gancli.core.files import write_file

    kept = {key: report[key] for key in report if key.startswith("memorisation") or key == "memorised"}
    text = json.dumps({"checkpoint": checkpoint.name, **kept, "protocol": report["protocol"]}, indent=2)
    write_file(run.memorisation / f"{checkpoint.stem}.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))


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
