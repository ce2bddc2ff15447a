"""`gancli report RUN1 RUN2 ...`: several runs side by side in one HTML file with everything inline.

Their curves and scores over training overlaid, one colour per run; one table of each run's last
scores, with the protocol they were measured under; the runs that differ only in their seed as
one group, each score its mean ± std over the seeds; the config keys that differ; and each run's
newest sample grid. It reads the run folders only, as the one-run page does.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gancli.core.files import write_file
from gancli.errors import GancliError
from gancli.report.differences import SeedGroup, differing_keys, mean_and_spread, seed_groups, values_at
from gancli.report.facts import ending
from gancli.report.page import STYLE, file_data, plots, read_records, table
from gancli.report.plots import compared_line_plots, compared_score_plots, run_colour
from gancli.report.scores import Evaluation, evaluations, protocol_text, score_keys, score_of, shown
from gancli.training.run.folder import RunFolder

DEFAULT_OUT = Path("compare.html")  # in the working directory: the page belongs to no one run
MADE_BY = "<meta name='generator' content='gancli report'>"  # how a page this writes is told from another file
NO_READINGS = "no readings yet"
COMPARE_STYLE = """
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.4em; border-radius: 2px; }
.warning { color: #a00; }
"""


@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison: its name on the page, its folder, its config and its readings."""

    name: str
    folder: RunFolder
    config: dict[str, Any]
    records: list[dict[str, Any]]
    found: list[Evaluation]

    @property
    def last(self) -> Evaluation | None:
        return self.found[-1] if self.found else None


def write_comparison(run_dirs: list[Path], out: Path | None = None) -> Path:
    """Write the page comparing the runs in `run_dirs` to `out` and return its path. Without
    `out` it is compare.html in the working directory, which it replaces only when a comparison
    wrote it."""
    runs = read_runs(run_dirs)
    if out is None:
        refuse_foreign(DEFAULT_OUT)
    page = comparison_page(runs)
    return write_file(Path(out or DEFAULT_OUT), lambda tmp: tmp.write_text(page, encoding="utf-8"))


def read_runs(run_dirs: list[Path]) -> list[ComparedRun]:
    """The runs, read; a folder that holds no run, or one named twice, is refused in one line."""
    folders = [RunFolder(Path(run_dir)) for run_dir in run_dirs]
    if len(folders) < 2:
        raise GancliError("a comparison needs two or more run folders")
    seen: dict[Path, Path] = {}
    for folder in folders:
        if not folder.holds_run():
            raise GancliError(f"{folder.root} holds no gancli run (no config.yaml) to report on")
        place = folder.root.resolve()
        if place in seen:
            same = "is named twice" if seen[place] == folder.root else f"and {seen[place]} are one folder"
            raise GancliError(f"{folder.root} {same}: compare different runs")
        seen[place] = folder.root
    runs = []
    for name, folder in zip(run_names(folders), folders):
        records = read_records(folder)
        config = yaml.safe_load(folder.config_path.read_text(encoding="utf-8"))
        runs.append(ComparedRun(name, folder, config, records, evaluations(records)))
    return runs


def run_names(folders: list[RunFolder]) -> list[str]:
    """Each run by its folder's name; by the path as given where two folders share a name."""
    names = [folder.root.name or str(folder.root) for folder in folders]
    return [name if names.count(name) == 1 else str(folder.root) for name, folder in zip(names, folders)]


def refuse_foreign(out: Path) -> None:
    try:
        with out.open(encoding="utf-8", errors="replace") as page:
            head = page.read(4096)
    except FileNotFoundError:
        return
    except OSError as err:
        raise GancliError(f"cannot write {out}: {err.strerror}") from None
    if MADE_BY not in head:
        raise GancliError(f"{out} exists and is no gancli comparison; name the page to write with --out FILE")


def comparison_page(runs: list[ComparedRun]) -> str:
    names = [run.name for run in runs]
    title = f"gancli: {len(runs)} runs compared"
    parts = [f"<h1>{html.escape(title)}</h1>", runs_table(runs),
             *differences_section(runs), *scores_section(runs), *curves_section(runs), *grids_section(runs)]
    return (f"<!doctype html><html><head><meta charset='utf-8'>{MADE_BY}<title>{html.escape(title)}: "
            f"{html.escape(', '.join(names))}</title><style>{STYLE}{COMPARE_STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>")


def swatch(index: int) -> str:
    return f"<span class='swatch' style='background: {run_colour(index)}'></span>"


def runs_table(runs: list[ComparedRun]) -> str:
    """Each run in its colour, where it is, and how it ended."""
    rows = "".join(f"<tr><td>{swatch(index)}{html.escape(run.name)}</td><td>{html.escape(str(run.folder.root))}</td>"
                   f"<td>{html.escape(ending(run.folder, run.records) if run.records else NO_READINGS)}</td></tr>"
                   for index, run in enumerate(runs))
    return f"<table><tr><th>run</th><th>folder</th><th>how it ended</th></tr>{rows}</table>"


def differences_section(runs: list[ComparedRun]) -> list[str]:
    """The config keys whose values differ, one row each, one column per run."""
    keys = differing_keys([run.config for run in runs])
    if not keys:
        return ["<h2>What differs</h2><p>Nothing: the runs' configs are the same but for where each was "
                "written (out).</p>"]
    rows = zip(*[values_at(run.config, keys) for run in runs])
    return ["<h2>What differs</h2>",
            f"<p>The runs' configs differ in {html.escape(', '.join(keys))}:</p>",
            table(["key", *(run.name for run in runs)], [[key, *values] for key, values in zip(keys, rows)])]


def scores_section(runs: list[ComparedRun]) -> list[str]:
    """Each run's last scores and what they were measured under, and the seed groups."""
    keys = score_keys([run.last for run in runs if run.last])
    differing = protocol_differences([run for run in runs if run.last])
    parts = ["<h2>Final scores</h2>", final_scores_table(runs, keys, differing)]
    if differing:
        parts.append(f"<p class='warning'>These runs' last scores were measured under different protocols "
                     f"(they differ in {html.escape(', '.join(differing))}): they are not comparable as they "
                     f"stand.</p>")
    else:
        shared = next((run.last.protocol for run in runs if run.last and run.last.protocol), None)
        if shared:
            parts.append(f"<p class='note'>All measured under one protocol: {html.escape(protocol_text(shared))}</p>")
    groups = seed_groups([run.config for run in runs])
    if any(len(group.members) > 1 for group in groups):
        parts += ["<h3>Over seeds</h3><p>Runs whose configs differ only in their seed, each score the mean "
                  "± the standard deviation over the seeds (sample std; one run has no ±).</p>",
                  seed_group_table(runs, groups, keys)]
    return parts


def protocol_differences(scored: list[ComparedRun]) -> list[str]:
    """The protocol keys whose values differ between the runs' last evaluations; none where
    every one was measured alike (or none says how)."""
    return differing_keys([run.last.protocol or {} for run in scored])


def final_scores_table(runs: list[ComparedRun], keys: list[str], differing: list[str]) -> str:
    """One row per run: its last evaluation's step and scores, and, where the runs' protocols
    differ, its values of the protocol keys that differ."""
    rows = []
    for run in runs:
        if run.last is None:
            row = [run.name, NO_READINGS if not run.records else "no scores yet", *("" for _ in keys)]
            rows.append(row + ([""] if differing else []))
            continue
        cells = [shown(key, run.last.scores[key], run.last.context) if key in run.last.scores else "" for key in keys]
        protocol = [protocol_values(run.last.protocol, differing)] if differing else []
        rows.append([run.name, f"{run.last.step:,}", *cells, *protocol])
    header = ["run", "step", *(score_of(key).label for key in keys)] + (["protocol"] if differing else [])
    return table(header, rows, numeric=set(range(1, len(keys) + 2)))


def protocol_values(protocol: dict[str, Any] | None, keys: list[str]) -> str:
    if not protocol:
        return "not stated"
    return ", ".join(f"{key}: {value}" for key, value in zip(keys, values_at(protocol, keys)))


def seed_group_table(runs: list[ComparedRun], groups: list[SeedGroup], keys: list[str]) -> str:
    """One row per group of runs that differ only in seed: its setting, its seeds and each score
    over them; scores measured under different protocols are not averaged."""
    rows = []
    for group in groups:
        members = [runs[index] for index in group.members]
        scored = [run for run in members if run.last]
        note = "" if len(scored) == len(members) else f"{len(scored)} of {len(members)} runs have scores"
        if protocol_differences(scored):
            cells, note = ["" for _ in keys], "measured under different protocols: not averaged"
        else:
            cells = [over_seeds(key, scored) for key in keys]
        steps = ", ".join(f"{step:,}" for step in sorted({run.last.step for run in scored}))
        rows.append([group.setting, ", ".join(group.seeds), ", ".join(run.name for run in members), steps,
                     *cells, note])
    header = ["config", "seeds", "runs", "step", *(score_of(key).label for key in keys), ""]
    return table(header, rows, numeric=set(range(4, len(keys) + 4)))


def over_seeds(key: str, scored: list[ComparedRun]) -> str:
    values = [run.last.scores[key] for run in scored if key in run.last.scores]
    return mean_and_spread(key, values) if values else ""


def curves_section(runs: list[ComparedRun]) -> list[str]:
    """Scores over training, then the training curves, every run in its colour in each figure."""
    parts = []
    if any(run.found for run in runs):
        parts += ["<h2>Scores over training</h2>", plots(compared_score_plots({run.name: run.found for run in runs}))]
    parts.append("<h2>Training curves</h2>")
    if not any(run.records for run in runs):
        return parts + [f"<p>{NO_READINGS}</p>"]
    return parts + [plots(compared_line_plots({run.name: run.records for run in runs}))]


def grids_section(runs: list[ComparedRun]) -> list[str]:
    """Each run's newest sample grid, side by side."""
    figures = []
    for run in runs:
        grids = run.folder.sample_grids()
        if not grids:
            figures.append(f"<figure><p>no grid yet</p><figcaption>{html.escape(run.name)}</figcaption></figure>")
            continue
        step = int(grids[-1].stem[len("step-"):])
        caption = html.escape(f"{run.name}, step {step:,}")
        figures.append(f"<figure><img src='{file_data(grids[-1], 'image/png')}' width='200' "
                       f"alt='{caption}'><figcaption>{caption}</figcaption></figure>")
    return ["<h2>Last samples</h2><p>Each run's newest grid.</p>", "<div class='strip'>", *figures, "</div>"]
