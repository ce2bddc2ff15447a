"""The report's figures, drawn by matplotlib as inline SVG (no file, no network)."""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib

matplotlib.use("svg")  # no display, no GUI toolkit: figures go straight to SVG text
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from gancli.report.scores import Evaluation, score_keys, score_of  # noqa: E402

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
        title = f"{score.label} ({'lower' if score.lower_is_better else 'higher'} is better)"
        axes.set_title(title)
        axes.grid(alpha=0.3)
        figures[title] = svg(figure)
    return figures
