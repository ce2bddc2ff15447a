"""The report's figures, drawn by matplotlib as inline SVG (no file, no network): one run's, and
several runs' overlaid, one colour per run."""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib

matplotlib.use("svg")  # no display, no GUI toolkit: figures go straight to SVG text
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from gancli.report.scores import Evaluation, Score, score_keys, score_of  # noqa: E402

SERIES = {  # figure title -> (metric key, label) pairs drawn together
    "Losses": [("loss_d", "discriminator"), ("loss_g", "generator")],
    "D(x) and D(G(z))": [("d_real", "D(x), real"), ("d_fake", "D(G(z)), generated")],
    "Images per second": [("images_per_s", "images/s")],
}


def svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)  # creator and date: nothing to show
    return text[text.index("<svg"):]  # the element alone, to sit inline in the page


def line_plots(records: list[dict[str, Any]]) -> dict[str, str]:
    """Title -> SVG for each figure whose series the records hold."""
    figures = {}
    for title, series in SERIES.items():
        drawn = [(key, label) for key, label in series if any(key in r for r in records)]
        if not drawn:
            continue
        figure, axes = plt.subplots(figsize=(4.6, 2.4))
        for key, label in drawn:
            points = [(r["step"], r[key]) for r in records if key in r]
            axes.plot([s for s, _ in points], [v for _, v in points], label=label)
        axes.set_xlabel("step")
        axes.set_title(title)
        axes.grid(alpha=0.3)
        if len(drawn) > 1:
            axes.legend()
        figures[title] = svg(figure)
    return figures


def score_plots(found: list[Evaluation], best_step: int | None) -> dict[str, str]:
    """Title -> SVG, one per score the run's evaluations hold, over steps; FID marks the best
    checkpoint's step. None of them when the run never evaluated."""
    figures = {}
    for key in score_keys(found):
        score = score_of(key)
        points = [(evaluation.step, evaluation.scores[key]) for evaluation in found if key in evaluation.scores]
        figure, axes = plt.subplots(figsize=(4.6, 2.4))
        scale = 100 if score.percent else 1
        axes.plot([s for s, _ in points], [v * scale for _, v in points], marker="o", label=score.label)
        if key == "fid" and best_step is not None:
            best = [v for s, v in points if s == best_step]
            if best:
                axes.plot([best_step], best, marker="*", markersize=14, linestyle="none", label="best checkpoint")
                axes.legend()
        if score.percent:
            axes.set_ylim(0, 100)
            axes.set_ylabel("%")
        axes.set_xlabel("step")
        title = score_title(score)
        axes.set_title(title)
        axes.grid(alpha=0.3)
        figures[title] = svg(figure)
    return figures


def score_title(score: Score) -> str:
    return f"{score.label} ({'lower' if score.lower_is_better else 'higher'} is better)"


# -- several runs, overlaid ------------------------------------------------------------------------------------

LINE_STYLES = ("-", "--", ":")  # one per series of a figure (discriminator, generator); the colour is the run's
COMPARED = {"svg.fonttype": "none"}  # text as text: the legend's run names can be read and searched in the page


def run_colour(index: int) -> str:
    """The colour of the run at `index` in every figure of a comparison, as #rrggbb."""
    return to_hex(f"C{index % 10}")


def compared_line_plots(runs: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Title -> SVG for each figure of `line_plots` that any run's records hold: each run in its
    colour (`run_colour` of its place in `runs`), each series of the figure in its line style."""
    figures = {}
    with plt.rc_context(COMPARED):
        for title, series in SERIES.items():
            drawn = [(key, label) for key, label in series
                     if any(key in r for records in runs.values() for r in records)]
            if not drawn:
                continue
            figure, axes = plt.subplots(figsize=(4.6, 2.4))
            shown = []
            for index, (name, records) in enumerate(runs.items()):
                lines = [(style, [(r["step"], r[key]) for r in records if key in r])
                         for (key, _), style in zip(drawn, LINE_STYLES)]
                for style, points in lines:
                    axes.plot([s for s, _ in points], [v for _, v in points], color=run_colour(index), linestyle=style)
                if any(points for _, points in lines):
                    shown.append((name, index))
            label_axes(axes, title)
            series_key = [Line2D([], [], color="grey", linestyle=style, label=label)
                          for (_, label), style in zip(drawn, LINE_STYLES)] if len(drawn) > 1 else []
            run_legend(axes, shown, series_key)
            figures[title] = svg(figure)
    return figures


def compared_score_plots(runs: dict[str, list[Evaluation]]) -> dict[str, str]:
    """Title -> SVG, one per score any run's evaluations hold, each run's line in its colour."""
    figures = {}
    keys = score_keys([evaluation for found in runs.values() for evaluation in found])
    with plt.rc_context(COMPARED):
        for key in keys:
            score = score_of(key)
            scale = 100 if score.percent else 1
            figure, axes = plt.subplots(figsize=(4.6, 2.4))
            shown = []
            for index, (name, found) in enumerate(runs.items()):
                points = [(evaluation.step, evaluation.scores[key] * scale) for evaluation in found
                          if key in evaluation.scores]
                if points:
                    axes.plot([s for s, _ in points], [v for _, v in points], marker="o", color=run_colour(index))
                    shown.append((name, index))
            if score.percent:
                axes.set_ylim(0, 100)
                axes.set_ylabel("%")
            title = score_title(score)
            label_axes(axes, title)
            run_legend(axes, shown, [])
            figures[title] = svg(figure)
    return figures


def label_axes(axes, title: str) -> None:
    axes.set_xlabel("step")
    axes.set_title(title)
    axes.grid(alpha=0.3)


def run_legend(axes, shown: list[tuple[str, int]], series_key: list[Line2D]) -> None:
    """Each (run name, its place) drawn, in the run's colour, then what each line style means;
    beside the plot, so that no curve is hidden behind it."""
    handles = [Line2D([], [], color=run_colour(index), label=name) for name, index in shown]
    axes.legend(handles=handles + series_key, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small",
                frameon=False)
