"""The report's figures, drawn by matplotlib as inline SVG (no file, no network)."""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib

matplotlib.use("svg")  # no display, no GUI toolkit: figures go straight to SVG text
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

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
        figure, axes = plt.subplots(figsize=(6, 2.6))
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


def score_plot(records: list[dict[str, Any]], best_step: int | None) -> str | None:
    """FID over steps, the best checkpoint's step marked; None when the run never evaluated."""
    points = [(r["step"], r["fid"]) for r in records if "fid" in r]
    if not points:
        return None
    figure, axes = plt.subplots(figsize=(6, 2.6))
    axes.plot([s for s, _ in points], [v for _, v in points], marker="o", label="FID")
    if best_step is not None:
        best = [v for s, v in points if s == best_step]
        if best:
            axes.plot([best_step], best, marker="*", markersize=14, linestyle="none", label="best checkpoint")
    axes.set_xlabel("step")
    axes.set_title("FID (lower is better)")
    axes.grid(alpha=0.3)
    axes.legend()
    return svg(figure)
