"""The classes a conditional generator is asked for: `--class 7`, `--class cat,dog`, `--class all`."""

from __future__ import annotations

import re

import torch

from gancli.config.typed import shorten
from gancli.errors import ConfigError

ALL = "all"


def parse_classes(text: str, classes: tuple[str, ...], checkpoint: object = "the checkpoint") -> list[int]:
    """The labels `text` names, in its order: class names (exact, then ignoring case), label
    numbers, or `all`; comma-separated. `classes` are the checkpoint's, label 0 first."""
    if not classes:
        raise ConfigError(f"--class: {checkpoint} is unconditional (trained without --conditional); "
                          f"it makes images of no particular class")
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if parts == [ALL]:
        return list(range(len(classes)))
    if not parts:
        raise ConfigError(f"--class: {shorten(text)} names no class; {known_classes(classes)}")
    folded = {}
    for label, name in enumerate(classes):
        folded.setdefault(name.casefold(), label)
    labels = []
    for part in parts:
        if part in classes:
            labels.append(classes.index(part))
        elif part.casefold() in folded:
            labels.append(folded[part.casefold()])
        elif part.isdigit() and int(part) < len(classes):
            labels.append(int(part))
        else:
            raise ConfigError(f"--class: {shorten(part)} is not one of {known_classes(classes)}")
    return labels


def known_classes(classes: tuple[str, ...]) -> str:
    names = ", ".join(classes)
    names = names if len(names) <= 80 else names[:77] + "..."
    return f"the checkpoint's {len(classes)} classes: {names} (or a number 0-{len(classes) - 1}, or all)"


def labels_per_row(labels: list[int], per_class: int) -> torch.Tensor:
    """`per_class` of each label in turn: one row per class in a grid of `per_class` columns."""
    return torch.tensor(labels, dtype=torch.int64).repeat_interleave(per_class)


def file_safe(name: str) -> str:
    """A class name usable in a file name: anything but letters, digits, '.', '-' and '_' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "class"


def class_file_names(classes: tuple[str, ...], longest: int = 100) -> list[str]:
    """One file-name prefix per class, label 0 first: its name made file-safe and cut to `longest`
    characters. Classes whose names would become the same prefix (`a/b` and `a_b`, `.` and `..`)
    each get `~LABEL` added, so no image overwrites another's file; `~` is never in a plain prefix."""
    stems = [file_safe(name)[:longest] for name in classes]
    shared = {stem for stem in stems if stems.count(stem) > 1}
    return [f"{stem}~{label}" if stem in shared else stem for label, stem in enumerate(stems)]
