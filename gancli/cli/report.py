"""`gancli report`: a run folder as one self-contained HTML page, several side by side, or a run's
timelapse GIF rebuilt."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

RunArg = Annotated[Path, typer.Argument(help="A run folder.", metavar="RUN", show_default=False)]
MoreRunsArg = Annotated[Optional[list[Path]], typer.Argument(
    help="More run folders: one page compares them all.", metavar="RUN", show_default=False)]


def report(
    run_dir: RunArg,
    more_runs: MoreRunsArg = None,
    output: Annotated[Optional[Path], typer.Option(
        "-o", "--output", "--out", metavar="FILE", help="The HTML file to write.",
        show_default="RUN/report.html; compare.html for several runs")] = None,
    timelapse: Annotated[bool, typer.Option("--timelapse", help="Rebuild RUN/samples/timelapse.gif from the grids instead.")] = False,
):
    """Write RUN's report: one HTML page, every figure inline.

    How the run ended, how long it trained and on what, its scores over training, its curves, its
    samples over training, real beside generated images, its checkpoints and its config.

    Given several runs, one page compares them: curves and scores overlaid, their last scores
    (mean ± std over seeds where runs differ only in seed), what differs and their last grids.
    """
    from gancli.errors import GancliError

    run_dirs = [run_dir, *(more_runs or [])]
    for folder in run_dirs:  # said before torch loads, as write_report would say it
        if not (folder / "config.yaml").is_file():
            raise GancliError(f"{folder} holds no gancli run (no config.yaml) to report on")
    if len(run_dirs) > 1:
        if timelapse:
            raise typer.BadParameter("rebuilds one run's timelapse; name one RUN", param_hint="--timelapse")
        from gancli.report import write_comparison

        typer.echo(f"Wrote {write_comparison(run_dirs, output)}")
        return
    from gancli.report import write_report
    from gancli.sampling.timelapse import write_timelapse
    from gancli.training.run.folder import RunFolder

    if timelapse:
        run = RunFolder(run_dir)
        written = write_timelapse(run.sample_grids(), output or run.timelapse)
        if written is None:
            raise GancliError(f"{run.samples} holds no sample grids to make a timelapse of")
        typer.echo(f"Wrote {written} ({len(run.sample_grids())} frames)")
        return
    typer.echo(f"Wrote {write_report(run_dir, output)}")
