"""`gancli report RUN`: the run's config, how it ended, its curves, its samples over training, real
images beside generated ones, and its checkpoints, in one HTML file with everything inline.

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

from gancli.checkpoints.format import read_info
from gancli.core.files import write_file
from gancli.core.pixels import grid_image
from gancli.errors import CheckpointError, GancliError
from gancli.report.plots import line_plots, score_plot
from gancli.training.run.folder import RunFolder

COMPARE = 64  # real and generated images in the comparison figure, each an 8 x 8 grid
STYLE = """
body { font-family: sans-serif; max-width: 62em; margin: 2em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }
.strip { display: flex; flex-wrap: wrap; gap: 0.6em; } .strip figure { margin: 0; text-align: center; }
.pair { display: flex; gap: 2em; } img { image-rendering: pixelated; } pre { background: #f6f6f6; padding: 0.8em; }
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
            # Readings are numbers; anything else (a hand edit, another tool's line) is not drawn.
            records.append({key: value for key, value in record.items() if is_number(value)})
    return records


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def ending(run: RunFolder, records: list[dict[str, Any]]) -> str:
    try:
        status = json.loads(run.status_path.read_text(encoding="utf-8"))
        text = f"{status['state']} at step {status['step']} ({status['ended']})"
        return text + (f": {status['message']}" if status.get("message") else "")
    except (OSError, ValueError, KeyError, TypeError):
        last = records[-1]["step"] if records else 0
        return f"no ending recorded: still training, or stopped by a kill; last logged step {last}"


def checkpoint_rows(run: RunFolder, records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    fid_at = {r["step"]: r["fid"] for r in records if "fid" in r}
    rows = []
    for path in sorted(run.checkpoints.glob("*.safetensors")):
        try:
            info = read_info(path)
        except CheckpointError as err:
            rows.append((path.name, "unreadable", str(err)))
            continue
        fid = fid_at.get(info.step)
        rows.append((path.name, str(info.step), f"FID {fid:.2f}" if fid is not None else ""))
    return rows


def comparison(run: RunFolder, checkpoint: Path) -> tuple[str, str] | str:
    """(real grid, generated grid) as data URLs at one scale, or the reason there are none."""
    from gancli.checkpoints.generator import load_generator
    from gancli.datasets.loading import load_images
    from gancli.sampling.generate import generate

    try:
        model = load_generator(checkpoint)
        config = model.info.config
        shape = model.info.image_shape
        real = load_images(config.get("data", model.info.dataset), config.get("split"), config.get("data_root"),
                           False, shape.height, shape.channels).pixels[:COMPARE]
        fake = generate(model, COMPARE, seed=0)
    except GancliError as err:
        return f"left out: {err}"
    return png_data(grid_image(real, nrow=8)), png_data(grid_image(fake, nrow=8))


def write_report(run_dir: Path, out: Path | None = None, notify: Callable[[str], None] | None = None) -> Path:
    """Write the report of the run in `run_dir` to `out` (default RUN/report.html) and return its path."""
    run = RunFolder(Path(run_dir))
    if not run.holds_run():
        raise GancliError(f"{run.root} holds no gancli run (no config.yaml) to report on")
    out = Path(out) if out else run.root / "report.html"
    config = yaml.safe_load(run.config_path.read_text(encoding="utf-8"))
    records = read_records(run)
    best_step = None
    if run.best_checkpoint.exists():
        try:
            best_step = read_info(run.best_checkpoint).step
        except CheckpointError:
            pass
    parts = [f"<h1>gancli run {html.escape(run.root.name)}</h1>",
             f"<p><b>How it ended:</b> {html.escape(ending(run, records))}</p>",
             "<h2>Training curves</h2>"]
    parts += [f"<figure>{figure}</figure>" for figure in line_plots(records).values()]
    scores = score_plot(records, best_step)
    if scores:
        parts += ["<h2>Quality over training</h2>", f"<figure>{scores}</figure>"]
    grids = run.sample_grids()
    if grids:
        parts.append("<h2>Samples over training</h2><p>The same latents at every grid.</p><div class='strip'>")
        parts += [f"<figure><img src='{file_data(path, 'image/png')}' width='200' alt='{path.stem}'>"
                  f"<figcaption>{html.escape(path.stem)}</figcaption></figure>" for path in grids]
        parts.append("</div>")
    if run.last_checkpoint.exists():
        if notify:
            notify("drawing real and generated images for the report")
        pair = comparison(run, run.last_checkpoint)
        parts.append("<h2>Real and generated</h2>")
        if isinstance(pair, str):
            parts.append(f"<p>{html.escape(pair)}</p>")
        else:
            parts.append("<div class='pair'>" + "".join(
                f"<figure><img src='{data}' width='300' alt='{label}'><figcaption>{label}</figcaption></figure>"
                for data, label in zip(pair, ("real training images", "generated, last checkpoint"))) + "</div>")
    rows = checkpoint_rows(run, records)
    parts.append("<h2>Checkpoints</h2>")
    parts.append("<table><tr><th>file</th><th>step</th><th>score</th></tr>" + "".join(
        f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>" for a, b, c in rows)
        + "</table>" if rows else "<p>none yet</p>")
    parts += ["<h2>Config</h2>", f"<pre>{html.escape(yaml.safe_dump(config, sort_keys=False))}</pre>"]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>gancli run {html.escape(run.root.name)}"
            f"</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    return write_file(out, lambda tmp: tmp.write_text(page, encoding="utf-8"))
