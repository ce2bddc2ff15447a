"""`gancli datasets`: each dataset's native shape, splits, and whether its files are here, and the
packs in the data root; `datasets check` (what a folder, dataset or pack holds and what training
would do with it), `datasets pack` (decode once into one file) and `datasets stats` (the
reference statistics evaluations use, computed ahead of training)."""

from __future__ import annotations

import json
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from gancli.cli.options import DeviceOpt, JsonOpt
from gancli.config import TrainConfig
from gancli.errors import ConfigError, GancliError

DataRootOpt = Annotated[Optional[Path], typer.Option("--data-root", help="Folder to look in; default: $GANCLI_DATA or the user cache.")]
SourceArg = Annotated[str, typer.Argument(metavar="PATH|NAME", show_default=False,
                                          help="A folder of images, a dataset's name or a pack (NAME.safetensors).")]
SplitOpt = Annotated[Optional[str], typer.Option("--split", help="A dataset's split; default: the dataset's own.")]
ImageSizeOpt = Annotated[Optional[int], typer.Option("--image-size", min=1, help="The side training makes each image, as train's --image-size.", show_default="64 for a folder, else the images' own")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", min=1, help="Processes reading a folder's files.", show_default="one per core")]
Fit = Enum("Fit", {name: name for name in ("crop", "pad")}, type=str)
SHOWN = 20  # paths listed per finding on a terminal; --json lists them all


def show_datasets(data_root: Optional[Path], as_json: bool) -> None:
    from gancli.cli.catalog import dataset_rows

    rows = dataset_rows(data_root) + pack_rows(data_root)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    root = rows[0]["root"] if rows else str(data_root)
    table = Table(title=f"datasets (files looked for in {root})")
    for column in ("name", "shape", "splits", "present", "details"):
        table.add_column(column)
    for row in rows:
        if row["status"] != "ok":
            table.add_row(row["name"], "", "", "", f"[red]broken: {row['error']}[/red]")
            continue
        present = ("given as --data " + ("NAME.safetensors" if row["name"] == "pack" else "folder:PATH")
                   if row["present"] is None else ", ".join(row["present"]) or "no")
        table.add_row(row["name"], row["shape"], ", ".join(row["splits"]), present, row["description"])
    Console().print(table)


def pack_rows(data_root: Optional[Path]) -> list[dict[str, Any]]:
    """A row for each pack file in the data root, read from its header: `--data NAME.safetensors`."""
    from gancli.datasets.loading import default_data_root
    from gancli.datasets.pack import packs_in, read_pack_info

    root = data_root or default_data_root()
    rows = []
    for path in packs_in(root):
        row: dict[str, Any] = {"name": path.name, "dataset": "pack", "root": str(root)}
        try:
            info, _ = read_pack_info(path)
        except GancliError as err:
            rows.append({**row, "status": "broken", "error": str(err)})
            continue
        classes = f", {len(info.classes)} classes" if info.classes else ""
        rows.append({**row, "status": "ok", "error": None, "shape": str(info.shape), "splits": ["train"],
                     "present": ["train"], "description": f"pack of {info.count:,} images{classes}: {info.method}"})
    return rows


def datasets(ctx: typer.Context, data_root: DataRootOpt = None, as_json: JsonOpt = False):
    """List datasets: native shape, splits, which splits have their files locally, and the packs in the data root.

    `gancli datasets check|pack|stats --help` for the rest.
    """
    if ctx.invoked_subcommand is None:
        show_datasets(data_root, as_json)


def check(
    source: SourceArg,
    split: SplitOpt = None,
    data_root: DataRootOpt = None,
    image_size: ImageSizeOpt = None,
    workers: WorkersOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when training would skip any file.")] = False,
    as_json: JsonOpt = False,
):
    """Say what PATH|NAME holds and what training would do with each image.

    Classes, sizes and modes; the files training would skip and why; the images it would convert,
    crop or scale; exact and near duplicates.
    """
    from gancli.cli.progress import StageBars
    from gancli.datasets.check import check_dataset

    with StageBars() as bars:
        report = check_dataset(source, split, data_root, image_size, workers,
                               progress=lambda done, total: bars("reading files", done, total))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        print_check(report)
    if report.images == 0:
        raise GancliError(f"{report.source}: none of its {report.files:,} files is an image training could use")
    if strict and report.skipped:
        count = len(report.skipped)
        raise GancliError(f"--strict: training would skip {count} file{'s' if count != 1 else ''} of {report.source}")


def print_check(report) -> None:
    console = Console()
    what = "files" if report.kind == "folder" else "images"
    console.print(f"[bold]{report.source}[/bold] ({report.kind}): {report.files:,} {what}, "
                  f"{report.images:,} images training uses at {report.image_size}x{report.image_size}")
    if report.classes:
        console.print(f"{len(report.classes)} classes: " + ", ".join(f"{name} {count:,}" for name, count
                                                                      in report.classes.items()), highlight=False)
    elif report.unlabelled:
        console.print(f"unlabelled, because {report.unlabelled}", highlight=False)
    else:
        console.print("unlabelled (no class subfolders)" if report.kind == "folder" else "unlabelled")
    table = Table(title="what training would do")
    table.add_column("action")
    table.add_column("images", justify="right")
    table.add_column("detail")
    table.add_row("skip", f"{len(report.skipped):,}", "listed below" if report.skipped else "")
    for conversion, count in report.converted.items():
        table.add_row("convert", f"{count:,}", conversion)
    table.add_row("crop", f"{report.cropped:,}", "not square: the centre square is kept"
                  + (f"; {len(report.wide):,} wider than 2:1 lose over half" if report.wide else ""))
    table.add_row("scale up", f"{report.upscaled:,}", f"shorter side below {report.image_size}")
    table.add_row("scale down", f"{report.downscaled:,}", f"shorter side above {report.image_size}")
    console.print(table)
    sizes = list(report.sizes.items())
    console.print("sizes: " + ", ".join(f"{size} {count:,}" for size, count in sizes[:8])
                  + (f", {len(sizes) - 8} more" if len(sizes) > 8 else "") + "; modes: "
                  + ", ".join(f"{mode} {count:,}" for mode, count in report.modes.items())
                  + ("; formats: " + ", ".join(f"{name} {count:,}" for name, count in report.formats.items())
                     if report.formats else ""), highlight=False)
    listing("skipped", [f"{item['path']}: {item['why']}" for item in report.skipped], console)
    listing("wider than 2:1", report.wide, console)
    listing("exact duplicates", [", ".join(group) for group in report.duplicates], console)
    listing("near duplicates", [", ".join(group) for group in report.near_duplicates], console)
    for note in report.notes:
        console.print(note, highlight=False)


def listing(title: str, lines: list[str], console: Console) -> None:
    if not lines:
        return
    console.print(f"{title} ({len(lines):,}):", highlight=False)
    for line in lines[:SHOWN]:
        console.print(f"  {line}", markup=False, highlight=False)
    if len(lines) > SHOWN:
        console.print(f"  ... and {len(lines) - SHOWN:,} more (--json lists them all)", highlight=False)


def pack(
    source: SourceArg,
    output: Annotated[Path, typer.Option("-o", "--output", "--out", help="The pack's file: NAME.safetensors.", show_default=False)],
    size: Annotated[int, typer.Option("--size", help="The side of every packed image, in pixels.", show_default=False)],
    fit: Annotated[Fit, typer.Option("--fit", help="crop: shorter side to --size, centre square kept (as training a folder); pad: longer side to --size, centred on black.")] = Fit.crop,
    channels: Annotated[Optional[int], typer.Option("--channels", help="1 or 3.", show_default="1 when every image is grayscale, else 3")] = None,
    split: SplitOpt = None,
    data_root: DataRootOpt = None,
    workers: WorkersOpt = None,
):
    """Decode PATH|NAME once into one file that `--data NAME.safetensors` loads in a blink.

    The file holds uint8 images of one size, their labels where there are classes, and what made it.
    """
    from gancli.cli.progress import StageBars
    from gancli.datasets.packing import make_pack

    started = time.perf_counter()
    with StageBars() as bars:
        result = make_pack(source, output, size, fit.value, channels, split, data_root, workers,
                           progress=lambda done, total: bars("decoding", done, total), notify=bars.notify)
    info = result.info
    classes = f", {len(info.classes)} classes" if info.classes else ""
    skipped = len(result.skipped)
    typer.echo(f"Packed {info.count:,} images {info.shape}{classes} into {result.path} "
               f"({result.path.stat().st_size / 2**20:,.1f} MiB) in {time.perf_counter() - started:.1f} s; {info.method}")
    if skipped:
        typer.echo(f"Skipped {skipped} file{'s' if skipped != 1 else ''} training could not use "
                   f"(gancli datasets check {source} says why)")


def stats(
    source: Annotated[str, typer.Argument(metavar="NAME|PACK", show_default=False, help="A dataset's name, folder:PATH or a pack (NAME.safetensors).")],
    split: SplitOpt = None,
    data_root: DataRootOpt = None,
    image_size: Annotated[Optional[int], typer.Option("--image-size", min=1, help="As train's --image-size: the images' side when evaluated.")] = None,
    channels: Annotated[Optional[int], typer.Option("--channels", help="As train's --channels: 1 or 3.")] = None,
    num: Annotated[str, typer.Option("--num", help="Real images to compute features of: as train's --eval-num, or all (gancli eval's default).")] = str(TrainConfig().eval_num),
    metrics: Annotated[str, typer.Option("--metrics", help="fid, classifier (labelled data), or auto: both where they apply.")] = "auto",
    inception: Annotated[Optional[Path], typer.Option("--inception", help="FID network weights: pytorch-fid's .pth or a TorchScript file.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per network call.")] = 64,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
):
    """Compute and cache the statistics evaluations compare with, so they start at once.

    The real images' FID features and, where the data is labelled, its reference classifier.
    """
    from gancli.cli.progress import StageBars
    from gancli.core.device import resolve_device
    from gancli.metrics.features import inception_extractor
    from gancli.metrics.real_stats import reference_statistics

    wanted = {part.strip() for part in metrics.split(",") if part.strip()}
    if not wanted or not wanted <= {"auto", "fid", "classifier"} or ("auto" in wanted and len(wanted) > 1):
        raise ConfigError(f"--metrics: expected fid, classifier or auto, got {metrics!r}")
    if channels not in (None, 1, 3):
        raise ConfigError(f"--channels must be 1 or 3, got {channels}")
    count = None if num.strip().lower() == "all" else parse_count(num)
    fid = bool(wanted & {"auto", "fid"})
    classifier = True if "classifier" in wanted else (None if "auto" in wanted else False)
    extractor = (lambda: inception_extractor(inception, resolve_device(device), batch_size)) if fid else None
    with StageBars() as bars:
        result = reference_statistics(source, split, data_root, image_size, channels, count, extractor, classifier,
                                      notify=bars.notify, progress=bars)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    typer.echo(f"Reference statistics of {result.dataset} ({result.split}), images {result.shape}:")
    if result.features is not None:
        typer.echo(f"  FID features of {result.images:,} real images, "
                   f"{'found in the cache' if result.features_cached else 'computed now'}: {result.features}")
        typer.echo(f"    protocol: {result.feature_protocol}")
    if result.classifier is not None:
        typer.echo(f"  reference classifier, {'found in the cache' if result.classifier_cached else 'trained now'}, "
                   f"{result.classifier_accuracy:.2%} accurate on held-out real images: {result.classifier}")
        typer.echo(f"    protocol: {result.classifier_protocol}")
    if result.features is None and result.classifier is None:
        typer.echo("  nothing to compute: the data has no labels and --metrics asked for no FID features")
        return
    uses = (f"train --eval-every (at --eval-num {result.images})" if count is not None
            else "gancli eval (every real image)")
    typer.echo(f"{uses} on this data, at this shape, starts from them.")


def parse_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise ConfigError(f"--num: expected a number of images or all, got {text!r}") from None
    if count < 2:
        raise ConfigError(f"--num must be at least 2, got {count}")
    return count
