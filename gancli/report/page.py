"""`gancli report RUN`: the run's config, how it ended, how long it trained and on what, its
scores over training, its curves, its samples over training, real images beside generated ones,
and its checkpoints with their scores, in one HTML file with everything inline.

It reads the run folder only (a run still training, interrupted, diverged or trained under
torchrun alike) and writes nothing but the page; the real-versus-generated figure also reads the
training images and the last checkpoint, and is left out, with a line saying why, when it cannot.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any, Callable

import yaml

from gancli.checkpoints.format import CheckpointInfo, read_info
from gancli.core.files import write_file
from gancli.core.pixels import grid_image
from gancli.errors import CheckpointError, GancliError
from gancli.report.facts import duration_text, ending, hardware_text, last_info, training_seconds
from gancli.report.plots import line_plots, score_plots
from gancli.report.scores import Evaluation, described, evaluations, protocol_text, score_keys, score_of, shown
from gancli.training.run.folder import RunFolder
from gancli.training.run.parts import GRID_CLASSES

COMPARE = 64  # real and generated images in the comparison figure, each an 8 x 8 grid
STYLE = """
body { font-family: sans-serif; max-width: 62em; margin: 2em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }
.strip { display: flex; flex-wrap: wrap; gap: 0.6em; } .strip figure { margin: 0; text-align: center; }
.pair { display: flex; gap: 2em; } img { image-rendering: pixelated; } pre { background: #f6f6f6; padding: 0.8em; }
.plots { display: flex; flex-wrap: wrap; gap: 0 1em; } .plots figure { margin: 0.5em 0; }
.labelled { display: flex; gap: 0.3em; } .classes { display: flex; flex-direction: column; font-size: 0.7em; }
.classes span { flex: 1; display: flex; align-items: center; justify-content: flex-end; max-width: 7em;
  overflow: hidden; white-space: nowrap; } .note { color: #555; font-size: 0.9em; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
"""


def png_data(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def file_data(path: Path, kind: str) -> str:
    return f"data:{kind};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def read_records(run: RunFolder) -> list[dict[str, Any]]:
    records = []
    try:
        lines = run.metrics_path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return records
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            # Readings are numbers; anything else (a hand edit, another tool's line) is not drawn. A
            # record of scores may say how they were measured (`protocol`, a mapping).
            kept = {key: value for key, value in record.items() if is_number(value)}
            if isinstance(record.get("protocol"), dict):
                kept["protocol"] = record["protocol"]
            records.append(kept)
    return records


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def checkpoint_rows(run: RunFolder, found: list[Evaluation]) -> list[tuple[str, str, str]]:
    """(file, step, the scores measured at its step) for each checkpoint of the run."""
    at_step = {evaluation.step: evaluation for evaluation in found}
    rows = []
    for path in sorted(run.checkpoints.glob("*.safetensors")):
        try:
            info = read_info(path)
        except CheckpointError as err:
            rows.append((path.name, "unreadable", str(err)))
            continue
        evaluation = at_step.get(info.step)
        rows.append((path.name, f"{info.step:,}", described(evaluation) if evaluation else ""))
    return rows


def comparison(checkpoint: Path) -> tuple[str, str] | str:
    """(real grid, generated grid) as data URLs at one scale, or the reason there are none. A
    conditional generator makes each image for the class of the real image in its place."""
    from gancli.checkpoints.generator import load_generator
    from gancli.datasets.loading import load_images
    from gancli.sampling.generate import generate

    try:
        model = load_generator(checkpoint)
        config = model.info.config
        shape = model.info.image_shape
        real = load_images(config.get("data", model.info.dataset), config.get("split"), config.get("data_root"),
                           False, shape.height, shape.channels)
        labels = real.labels[:COMPARE] if model.classes and real.labels is not None else None
        fake = generate(model, min(COMPARE, len(real)), seed=0, labels=labels)
    except GancliError as err:
        return f"left out: {err}"
    return png_data(grid_image(real.pixels[:COMPARE], nrow=8)), png_data(grid_image(fake, nrow=8))


def table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """An HTML table of escaped text; the columns in `numeric` aligned right."""
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td class='number'>{html.escape(cell)}</td>" if i in numeric
                                    else f"<td>{html.escape(cell)}</td>" for i, cell in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def summary(run: RunFolder, records: list[dict[str, Any]], config: dict[str, Any], info: CheckpointInfo | None,
            found: list[Evaluation]) -> str:
    """How the run ended, how long it trained and on what, and its latest scores."""
    rows = [("How it ended", ending(run, records))]
    seconds = training_seconds(records, config)
    if seconds is not None:
        rows.append(("Training time", f"about {duration_text(seconds)}, its logged intervals added up "
                                      f"(setting up and any time between a stop and a resume are not in it)"))
    hardware = hardware_text(info)
    if hardware:
        rows.append(("Trained on", hardware))
    if found:
        rows.append(("Latest scores", f"{described(found[-1])} at step {found[-1].step:,}"))
    return "<table>" + "".join(f"<tr><th>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>"
                               for key, value in rows) + "</table>"


def evaluation_section(found: list[Evaluation], best_step: int | None) -> list[str]:
    """Every score over training, as plots and a table, with what each was measured under."""
    keys = score_keys(found)
    parts = ["<h2>Evaluation</h2>"]
    parts.append(plots(score_plots(found, best_step)))
    protocols = [protocol_text(evaluation.protocol) for evaluation in found]
    per_row = any(protocols) and len(set(protocols)) > 1  # one protocol throughout is said once, below
    header = ["step", *(score_of(key).label for key in keys)] + (["protocol"] if per_row else [])
    rows = [[f"{evaluation.step:,}", *(shown(key, evaluation.scores[key], evaluation.context)
                                       if key in evaluation.scores else "" for key in keys)]
            + ([protocol] if per_row else []) for evaluation, protocol in zip(found, protocols)]
    parts.append(table(header, rows, numeric=set(range(len(keys) + 1))))
    if any(protocols) and not per_row:
        parts.append(f"<p class='note'>Every score measured under one protocol: {html.escape(protocols[0])}</p>")
    context = found[-1].context
    if "classifier_accuracy" in context:
        heldout = f" {context['classifier_heldout']:,.0f}" if "classifier_heldout" in context else ""
        parts.append(f"<p class='note'>The classifier behind the classifier measures is "
                     f"{context['classifier_accuracy']:.1%} accurate on{heldout} held-out real images it never "
                     f"trained on.</p>")
    if best_step is not None:
        parts.append(f"<p class='note'>checkpoints/best.safetensors holds step {best_step:,}.</p>")
    return parts


def memorisation_section(run: RunFolder) -> list[str]:
    """What `gancli eval --metrics memorisation` found for checkpoints of this run: its scores and
    the generated images nearest to a training image, each above its nearest training image."""
    found = []
    for path in sorted(run.memorisation.glob("*.json")) if run.memorisation.is_dir() else []:
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            share, z, flagged = float(kept["memorisation_share"]), float(kept["memorisation_z"]), kept["memorised"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a hand edit or another tool's file: nothing to show
        verdict = "flagged: its samples sit nearer the training images than new real images do" if flagged \
            else "not flagged"
        text = (f"{path.stem}.safetensors: {share:.1%} of samples nearer to a training image than the held-out "
                f"real images' closest 5%; z {z:.2f}; {verdict}.")
        pairs = path.with_suffix(".png")
        image = (f"<figure><img src='{file_data(pairs, 'image/png')}' width='400' alt='closest pairs of "
                 f"{html.escape(path.stem)}'><figcaption>top: the generated images nearest to a training image; "
                 f"below each: that training image</figcaption></figure>") if pairs.is_file() else ""
        found.append(f"<p>{html.escape(text)}</p>{image}")
    return ["<h2>Memorisation</h2>", *found] if found else []


def plots(figures: dict[str, str]) -> str:
    return "<div class='plots'>" + "".join(f"<figure>{figure}</figure>" for figure in figures.values()) + "</div>"


def labelled_grid(path: Path, classes: tuple[str, ...]) -> str:
    """A progress grid; a conditional run's with its class names beside the rows, one class a row."""
    image = f"<img src='{file_data(path, 'image/png')}' width='200' alt='{html.escape(path.stem)}'>"
    if classes:
        names = "".join(f"<span title='{html.escape(name)}'>{html.escape(name)}</span>"
                        for name in classes[:GRID_CLASSES])
        image = f"<div class='labelled'><div class='classes'>{names}</div>{image}</div>"
    return f"<figure>{image}<figcaption>{html.escape(path.stem)}</figcaption></figure>"


def write_report(run_dir: Path, out: Path | None = None, notify: Callable[[str], None] | None = None) -> Path:
    """Write the report of the run in `run_dir` to `out` (default RUN/report.html) and return its path."""
    run = RunFolder(Path(run_dir))
    if not run.holds_run():
        raise GancliError(f"{run.root} holds no gancli run (no config.yaml) to report on")
    out = Path(out) if out else run.root / "report.html"
    config = yaml.safe_load(run.config_path.read_text(encoding="utf-8"))
    records = read_records(run)
    found = evaluations(records)
    info = last_info(run)
    best_step = None
    if run.best_checkpoint.exists():
        try:
            best_step = read_info(run.best_checkpoint).step
        except CheckpointError:
            pass
    parts = [f"<h1>gancli run {html.escape(run.root.name)}</h1>", summary(run, records, config, info, found)]
    if found:
        parts += evaluation_section(found, best_step)
    parts += ["<h2>Training curves</h2>", plots(line_plots(records))]
    grids = run.sample_grids()
    if grids:
        classes = info.classes if info is not None else ()
        rows = "One row per class, the same latents in every row. " if classes else ""
        parts.append(f"<h2>Samples over training</h2><p>{rows}The same latents at every grid.</p>"
                     "<div class='strip'>")
        parts += [labelled_grid(path, classes) for path in grids]
        parts.append("</div>")
    if run.last_checkpoint.exists():
        if notify:
            notify("drawing real and generated images for the report")
        pair = comparison(run.last_checkpoint)
        parts.append("<h2>Real and generated</h2>")
        if isinstance(pair, str):
            parts.append(f"<p>{html.escape(pair)}</p>")
        else:
            made = "generated by the last checkpoint" + (", each for the class of the real image in its place"
                                                         if info is not None and info.classes else "")
            parts.append("<div class='pair'>" + "".join(
                f"<figure><img src='{data}' width='300' alt='{label}'><figcaption>{label}</figcaption></figure>"
                for data, label in zip(pair, ("real training images", made))) + "</div>")
    parts += memorisation_section(run)
    rows = checkpoint_rows(run, found)
    parts.append("<h2>Checkpoints</h2>")
    parts.append(table(["file", "step", "scores at its step"], [list(row) for row in rows], numeric={1})
                 if rows else "<p>none yet</p>")
    parts += ["<h2>Config</h2>", f"<pre>{html.escape(yaml.safe_dump(config, sort_keys=False))}</pre>"]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>gancli run {html.escape(run.root.name)}"
            f"</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    return write_file(out, lambda tmp: tmp.write_text(page, encoding="utf-8"))
