"""Everything registered, as plain rows for `gancli list` (and for scripts, as JSON)."""

from __future__ import annotations

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


def catalog() -> dict[str, list[dict[str, Any]]]:
    entries = {}
    for kind, registry in (("architectures", architectures), ("datasets", datasets), ("losses", losses)):
        rows = []
        for plugin, obj, error in registry.survey():
            rows.append({
                "name": plugin.name, "package": plugin.package, "version": plugin.version,
                "status": "ok" if error is None else "broken",
                "details": _details(obj) if error is None else "", "error": error,
            })
        entries[kind] = rows
    return entries
