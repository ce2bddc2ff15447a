"""What is registered, as plain rows for `gancli list` and `gancli datasets` (and for scripts, as JSON).

`entries` reads entry-point metadata only, so listing imports no plugin (and no torch);
`catalog` loads every entry (or those of one name) to describe it or say why it is broken.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gancli.core.registry import Registry
from gancli.errors import RegistryError

GROUPS = {"architectures": ("gancli.architectures", "architecture"), "datasets": ("gancli.datasets", "dataset"),
          "losses": ("gancli.losses", "loss"), "loggers": ("gancli.loggers", "logger")}


def entries() -> dict[str, list[dict[str, Any]]]:
    """Per kind, every registered entry with its package and version, the name that reaches it
    (`package:name` where the bare name is another's or ambiguous), and the entry its bare
    name reaches instead, if any."""
    listing = {}
    for kind, (group, singular) in GROUPS.items():
        registry = Registry(group, singular, object)
        rows = []
        for plugin in sorted(registry.plugins(), key=lambda p: (p.name, not p.builtin, p.package)):
            shadow = registry.shadowed_by(plugin)
            try:
                reached = registry.find(plugin.name) == plugin
            except RegistryError:
                reached = False
            rows.append({"name": plugin.name, "package": plugin.package, "version": plugin.version,
                         "use_as": plugin.name if reached else plugin.qualified_name,
                         "shadowed_by": shadow.qualified_name if shadow else None})
        listing[kind] = rows
    return listing


def _registries() -> dict[str, Registry]:
    from gancli.architectures import architectures
    from gancli.datasets import datasets
    from gancli.loggers import loggers
    from gancli.losses import losses

    return {"architectures": architectures, "datasets": datasets, "losses": losses, "loggers": loggers}


def _details(kind: str, obj: Any) -> dict[str, Any]:
    """What one kind of entry says about itself beyond its description."""
    if kind == "architectures":
        return {"default_loss": obj.default_loss, "d_steps": obj.d_steps, "image_sizes": list(obj.image_sizes),
                "conditional": bool(obj.conditional)}
    if kind == "datasets":
        return {"shape": list(obj.native_shape.as_tuple()), "splits": list(obj.splits)}
    return {}


def catalog(name: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every entry (or those called `name`, bare or `package:name`), loaded: its description and
    details, or `status: broken` and the error that stopped it."""
    package, _, short = (name or "").rpartition(":")
    listing = {}
    for kind, registry in _registries().items():
        rows = []
        for plugin, obj, error in registry.survey(short or None, package or None):
            rows.append({
                "name": plugin.name, "package": plugin.package, "version": plugin.version,
                "status": "ok" if error is None else "broken", "error": error,
                "description": getattr(obj, "description", "") if error is None else "",
                **(_details(kind, obj) if error is None else {}),
            })
        listing[kind] = rows
    return listing


def dataset_rows(root: Path | None = None) -> list[dict[str, Any]]:
    """Each dataset with its native shape, splits, and which splits' files are under `root`.

    `root` defaults to `$GANCLI_DATA` or the per-user cache. `present` is None for a dataset
    that is a folder of its own (`folder`), which no shared root can answer for.
    """
    from gancli.datasets import datasets
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
