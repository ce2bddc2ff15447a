"""A run's scores as `gancli report` shows them: which readings of metrics.jsonl are scores, how
each reads, and the protocol each was measured under when the record says.

An evaluation (`eval_every`) logs a record of scores at its step; a record may carry `protocol`,
a mapping that says how they were measured (images, network, reference data), shown beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TRAINING_KEYS = {"step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "images_per_s", "protocol"}
# Context for the scores, not scores: shown in words beside them.
CONTEXT_KEYS = {"best_fid", "classes", "classifier_accuracy", "classifier_heldout"}


@dataclass(frozen=True)
class Score:
    label: str
    percent: bool = False        # a share in [0, 1], shown as a percentage
    lower_is_better: bool = False
    digits: int = 3


SCORES = {
    "fid": Score("FID", lower_is_better=True, digits=2),
    "kid": Score("KID", lower_is_better=True, digits=4),
    "precision": Score("precision"),
    "recall": Score("recall"),
    "recognisable": Score("recognisable", percent=True),
    "conditional_accuracy": Score("conditional accuracy", percent=True),
    "classes_covered": Score("classes covered", digits=0),
    "class_kl": Score("class KL", lower_is_better=True),
    "cas": Score("CAS", percent=True),
    "diversity": Score("diversity", digits=2),   # the samples' spread over the real images': about 1, falling in a collapse
}


def score_of(key: str) -> Score:
    return SCORES.get(key, Score(key.replace("_", " ")))


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: its step, its scores by key, what it was measured under (or None)."""

    step: int
    scores: dict[str, float]
    context: dict[str, float]
    protocol: dict[str, Any] | None


def evaluations(records: list[dict[str, Any]]) -> list[Evaluation]:
    """The records that hold scores, in step order."""
    found = []
    for record in records:
        scores = {key: value for key, value in record.items()
                  if key not in TRAINING_KEYS | CONTEXT_KEYS and isinstance(value, (int, float))}
        if not scores:
            continue
        context = {key: record[key] for key in CONTEXT_KEYS if key in record}
        protocol = record.get("protocol") if isinstance(record.get("protocol"), dict) else None
        found.append(Evaluation(record["step"], scores, context, protocol))
    return sorted(found, key=lambda evaluation: evaluation.step)


def score_keys(found: list[Evaluation]) -> list[str]:
    """Every score any evaluation holds, the known ones in their usual order first."""
    keys = {key for evaluation in found for key in evaluation.scores}
    return [key for key in SCORES if key in keys] + sorted(keys - set(SCORES))


def shown(key: str, value: float, context: dict[str, float] | None = None) -> str:
    """A score as people read it: 85.0%, 23.45, 10 of 10."""
    score = score_of(key)
    if score.percent:
        return f"{value:.1%}"
    if key == "classes_covered" and context and "classes" in context:
        return f"{value:.0f} of {context['classes']:.0f}"
    return f"{value:.{score.digits}f}" if abs(value) < 1e6 else f"{value:.3g}"


def described(evaluation: Evaluation) -> str:
    """An evaluation in one line: 'FID 23.45, recognisable 85.0%'."""
    return ", ".join(f"{score_of(key).label} {shown(key, value, evaluation.context)}"
                     for key, value in sorted(evaluation.scores.items(), key=lambda item: _order(item[0])))


def protocol_text(protocol: dict[str, Any] | None) -> str:
    """A protocol in words: gancli's own as `gancli eval` prints it; any other mapping as
    'images: 5000, network: inception-v3', nested mappings in ( )."""
    if not protocol:
        return ""
    from gancli.metrics.protocol import Protocol

    if (known := Protocol.from_dict(protocol)) is not None:
        return known.line().removeprefix("protocol: ")

    def value_text(value: Any) -> str:
        if isinstance(value, dict):
            return "(" + protocol_text(value) + ")"
        if isinstance(value, (list, tuple)):
            return ", ".join(map(value_text, value))
        return str(value)

    return ", ".join(f"{key}: {value_text(value)}" for key, value in protocol.items())


def _order(key: str) -> int:
    keys = list(SCORES)
    return keys.index(key) if key in keys else len(keys)
