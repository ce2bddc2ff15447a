"""Everything registered, as plain rows for `gancli list` (and for scripts, as JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gancli.architectures import Architecture, architectures
from gancli.datasets import DatasetSource, datasets
from gancli.losses import losses


def _details(obj: Any) -> str:
    if isinstance(obj, Architecture):
        return f"loss {obj.default_loss}; {obj.description}".rstrip("; ")
    if isinstance(obj, DatasetSource):
        return f"{obj.native_shape}; splits {', '.join(obj.splits)}; {obj.description}".rstrip("; ")
    return getattr(obj, "description", "")


def _facts(obj: Any) -> dict[str, Any]:
    """What one kind of entry says about itself beyond its description."""
    if isinstance(obj, Architecture):
        return {"default_loss": obj.default_loss, "d_steps": obj.d_steps, "image_sizes": list(obj.image_sizes)}
    if isinstance(obj, DatasetSource):
        return {"shape": list(obj.native_shape.as_tuple()), "splits": list(obj.splits)}
    return {}


def catalog() -> dict[str, list[dict[str, Any]]]:
    entries = {}
    for kind, registry in (("architectures", architectures), ("datasets", datasets), ("losses", losses)):
        rows = []
        for plugin, obj, error in registry.survey():
            rows.append({
                "name": plugin.name, "package": plugin.package, "version": plugin.version,
                "status": "ok" if error is None else "broken",
                "description": getattr(obj, "description", "") if error is None else "",
                "details": _details(obj) if error is None else "", "error": error,
                **(_facts(obj) if error is None else {}),
            })
        entries[kind] = rows
    return entries


def dataset_rows(root: Path | None = None) -> list[dict[str, Any]]:
    """Each dataset with its native shape, splits, and which splits' files are under `root`.

    `root` defaults to `$GANCLI_DATA` or the per-user cache. `present` is None for a dataset
    that is a folder of its own (`folder`), which no shared root can answer for.
    """
    from gancli.datasets.loading import default_data_root

    root = root or default_data_root()
    rows = []
    for plugin, dataset, error in datasets.survey():
        row: dict[str, Any] = {"name": plugin.name, "package": plugin.package, "root": str(root),
                               "status": "ok" if error is None else "broken", "error": error}
        if dataset is not None:
            row.update(shape=str(dataset.native_shape), splits=list(dataset.splits),
                       present=None if dataset.root_is_dataset else
                       [s for s in dataset.splits if dataset.files_present(root, s)],
                       description=dataset.description)
        rows.append(row)
    return rows
