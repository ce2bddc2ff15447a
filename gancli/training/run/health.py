"""A run's health beyond NaN: a discriminator that has saturated, a generator that has collapsed.

`HealthWatch` is fed what the trainer reads anyway, each log interval's mean D(x) and D(G(z))
and each evaluation's scores, and answers what went wrong, if anything: one `Finding` when an
episode starts (not one per reading while it lasts) and one when it is over, so a run that
recovers and falls again is told again. It reads nothing from the device and writes nothing;
the trainer warns, stops or rolls back as `on_collapse` says.

Saturation: the discriminator tells real from fake almost perfectly, for longer than a passing
phase. It is judged only where `d_real` and `d_fake` are probabilities, under the sigmoid
cross-entropy loss (`bce`, and losses built on it): every reading over at least
SATURATION_STEPS steps and SATURATION_READINGS readings in a row has D(x) within
SATURATION_MARGIN of its target, 1 - smooth (label smoothing aims D there, not at 1), and
D(G(z)) within SATURATION_MARGIN of 0. Under `hinge` and `wgan-gp` the readings are D's raw
scores: a hinge discriminator past its margins (D(x) >= 1, D(G(z)) <= -1) simply stops learning
from those images, as hinge training is meant to, and a critic's scores have no fixed scale, so
neither reading says the discriminator has won; saturation is not judged there.

Collapse, at evaluations, is a fall from the run's best (earlier evaluations in metrics.jsonl
count, so a resumed or rolled-back run remembers them):
- classes covered (the classifier measure): CLASSES_LOST or more fewer than the best, or fewer
  than half the classes once the best covered at least half;
- `diversity` (generated images' mean pairwise distance over real images': about 1 when varied,
  towards 0 when collapsed): below DIVERSITY_FALL of the best, once the best reached
  DIVERSITY_LEARNED.
There is no absolute floor: a young generator covers few classes and varies little before it
has collapsed or learned anything, and a floor would flag every one of them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from gancli.losses import GANLoss
from gancli.losses.standard import NonSaturatingBCE

# Saturation. A D 99% sure of both halves leaves the generator almost nothing to learn from.
SATURATION_MARGIN = 0.01
# A discriminator that wins the first few dozen steps, before the generator has learned
# anything, is normal; one that keeps winning for this long is not.
SATURATION_STEPS = 200
# Never one reading alone, however many steps its interval spans (log_every may be large).
SATURATION_READINGS = 3

# Collapse. A class counts as covered when it has half its expected share of the samples, so one
# class coming and going is noise of the measure; two are not.
CLASSES_LOST = 2
# Half the diversity gone is collapse by any reading of the measure.
DIVERSITY_FALL = 0.5
# A young generator's samples vary far less than real images: only a fall from a best that shows
# it had learned to vary is judged.
DIVERSITY_LEARNED = 0.2

SATURATED, COLLAPSED, RECOVERED = "saturated", "collapsed", "recovered"
WATCHED_SCORES = ("classes_covered", "diversity")

# What to change when resuming, by what was found (the run's own flags and keys).
REMEDIES = {
    SATURATED: "a lower discriminator learning rate (--set model.lr_d=X), an R1 penalty (--r1 GAMMA) or "
               "fewer D updates (--d-steps N)",
    COLLAPSED: "a lower --lr",
}


@dataclass(frozen=True)
class SaturationBounds:
    """A reading is saturated when D(x) >= `real_at_least` and D(G(z)) <= `fake_at_most`."""

    real_at_least: float
    fake_at_most: float


def saturation_bounds(loss: GANLoss) -> SaturationBounds | None:
    """The bounds for `loss`'s readings, or None where they are not probabilities (not judged)."""
    if isinstance(loss, NonSaturatingBCE):
        return SaturationBounds(1.0 - loss.smooth - SATURATION_MARGIN, SATURATION_MARGIN)
    return None


@dataclass(frozen=True)
class Finding:
    """What the watch found at `step`: an episode of `saturated` or `collapsed` starting, or one
    of them `recovered` from."""

    kind: str
    step: int
    problem: str  # what went wrong, short: "the discriminator saturated"
    detail: str   # the readings that say so

    @property
    def trouble(self) -> bool:
        return self.kind != RECOVERED

    @property
    def message(self) -> str:
        return f"{self.problem} at step {self.step}: {self.detail}"

    @property
    def line(self) -> str:
        """The one line the progress display shows."""
        return f"Warning: {self.message}" if self.trouble else self.message

    @property
    def remedy(self) -> str:
        return REMEDIES.get(self.kind, "")

    def record(self, action: str = "") -> dict[str, str]:
        """The metrics.jsonl record; `action` says what the run did: warned, stopped, rolled back."""
        return {"health": self.kind, "message": self.message, **({"action": action} if action else {})}


class HealthWatch:
    """Fed the readings and scores in step order; answers with the `Finding`s they add up to."""

    def __init__(self, saturation: SaturationBounds | None, window_steps: int = SATURATION_STEPS,
                 window_readings: int = SATURATION_READINGS):
        self.saturation = saturation
        self.window_steps = window_steps
        self.window_readings = window_readings
        self.restart()

    def restart(self, earlier_scores: Iterable[Mapping[str, Any]] = ()) -> None:
        """Start watching afresh (a new, resumed or rolled-back run), the bests taken from
        `earlier_scores`, the evaluations the run kept."""
        self.saturated_steps = self.saturated_readings = 0
        self.ongoing: set[str] = set()
        self.best: dict[str, tuple[float, int]] = {}  # score -> (its best value, the step it was seen)
        for record in earlier_scores:
            if isinstance(record.get("step"), int):
                self._remember(record["step"], record)

    # -- saturation, every log interval ------------------------------------------------------

    def interval(self, step: int, steps: int, d_real: float, d_fake: float) -> list[Finding]:
        """An interval of `steps` steps ending at `step`, with D's mean outputs over it."""
        bounds = self.saturation
        if bounds is None:
            return []
        if d_real >= bounds.real_at_least and d_fake <= bounds.fake_at_most:
            self.saturated_steps += steps
            self.saturated_readings += 1
            if SATURATED in self.ongoing or self.saturated_steps < self.window_steps \
                    or self.saturated_readings < self.window_readings:
                return []
            self.ongoing.add(SATURATED)
            return [Finding(SATURATED, step, "the discriminator saturated",
                            f"D(x) {d_real:.4f}, D(G(z)) {d_fake:.4f}, and past {bounds.real_at_least:.3g} and "
                            f"{bounds.fake_at_most:.3g} in every reading for {self.saturated_steps} steps: it tells "
                            f"real from fake almost perfectly")]
        self.saturated_steps = self.saturated_readings = 0
        if SATURATED not in self.ongoing:
            return []
        self.ongoing.discard(SATURATED)
        return [Finding(RECOVERED, step, "the discriminator no longer saturates",
                        f"D(x) {d_real:.4f}, D(G(z)) {d_fake:.4f}")]

    # -- collapse, every evaluation ----------------------------------------------------------

    def evaluation(self, step: int, scores: Mapping[str, float]) -> list[Finding]:
        """An evaluation's scores at `step`; those it does not hold are not judged."""
        signs = self._collapse_signs(scores)
        self._remember(step, scores)
        if signs and COLLAPSED not in self.ongoing:
            self.ongoing.add(COLLAPSED)
            return [Finding(COLLAPSED, step, "the generator collapsed", "; ".join(signs))]
        if not signs and COLLAPSED in self.ongoing:
            self.ongoing.discard(COLLAPSED)
            return [Finding(RECOVERED, step, "the generator no longer shows collapse", describe(scores))]
        return []

    def _collapse_signs(self, scores: Mapping[str, float]) -> list[str]:
        signs = []
        covered, classes = number(scores.get("classes_covered")), number(scores.get("classes"))
        if covered is not None and classes is not None and "classes_covered" in self.best:
            best, at = self.best["classes_covered"]
            if best - covered >= CLASSES_LOST or (best * 2 >= classes and covered * 2 < classes):
                signs.append(f"its samples cover {covered:.0f} of {classes:.0f} classes, "
                             f"down from {best:.0f} at step {at}")
        diversity = number(scores.get("diversity"))
        if diversity is not None and "diversity" in self.best:
            best, at = self.best["diversity"]
            if best >= DIVERSITY_LEARNED and diversity < DIVERSITY_FALL * best:
                signs.append(f"their diversity is {diversity:.3g} of the real images', down from {best:.3g} "
                             f"at step {at}")
        return signs

    def _remember(self, step: int, scores: Mapping[str, Any]) -> None:
        for name in WATCHED_SCORES:
            value = number(scores.get(name))
            if value is not None and value > self.best.get(name, (-math.inf, 0))[0]:
                self.best[name] = (value, step)


def number(value: Any) -> float | None:
    """`value` as a finite float, or None for anything else (missing, text, NaN)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def describe(scores: Mapping[str, float]) -> str:
    parts = []
    if number(scores.get("classes_covered")) is not None and number(scores.get("classes")) is not None:
        parts.append(f"classes {scores['classes_covered']:.0f}/{scores['classes']:.0f}")
    if number(scores.get("diversity")) is not None:
        parts.append(f"diversity {scores['diversity']:.3g}")
    return ", ".join(parts)


def recorded_scores(metrics_path: Path) -> list[dict[str, Any]]:
    """The evaluation records of metrics.jsonl that hold a watched score, in the file's order;
    none when it cannot be read (a new run has none yet)."""
    records = []
    try:
        lines = metrics_path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return records
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        if isinstance(record, dict) and any(name in record for name in WATCHED_SCORES):
            records.append(record)
    return records


def unwatched(bounds: SaturationBounds | None, loss_name: str, evaluates: bool) -> str | None:
    """What `on_collapse` cannot see in this run, said when the user asked it to act; None when
    both are watched."""
    if bounds is not None and evaluates:
        return None
    parts = []
    if bounds is None:
        parts.append(f"saturation is not judged under loss {loss_name} (D's outputs are scores, not probabilities)")
    if not evaluates:
        parts.append("collapse is judged only at evaluations, and none run (eval_every 0)")
    return "; ".join(parts)
