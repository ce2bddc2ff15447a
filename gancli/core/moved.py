"""Modules that moved, still importable by their old names for one minor version, with a warning.

The rule for gancli's public surface (docs/plugins.md): a name that moves or goes keeps working,
with a DeprecationWarning saying where it went, through the next minor release, and is removed
in the one after. `gancli.plugin` is the surface a plugin should import from; these aliases
keep older plugins and scripts running meanwhile.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

REMOVED_IN = "0.3"

#: old module -> where it lives now
MOVED = {
    "gancli.shapes": "gancli.core.shapes",
    "gancli.train": "gancli.training.run.trainer",
    "gancli.checkpoint": "gancli.checkpoints.format",
    "gancli.models": "gancli.checkpoints.generator",
    "gancli.training_state": "gancli.checkpoints.state",
    "gancli.data": "gancli.datasets.loading",
    "gancli.images": "gancli.core.pixels",
    "gancli.fileio": "gancli.core.files",
    "gancli.device": "gancli.core.device",
    "gancli.registry": "gancli.core.registry",
    "gancli.latents": "gancli.sampling.latents",
    "gancli.export": "gancli.sampling.export",
    "gancli.evaluation": "gancli.metrics.evaluation",
    "gancli.training.trainer": "gancli.training.run.trainer",
    "gancli.training.resume": "gancli.training.run.resume",
    "gancli.training.run_folder": "gancli.training.run.folder",
    "gancli.training.snapshot": "gancli.training.run.snapshot",
    "gancli.training.best": "gancli.training.run.best",
    "gancli.training.guards": "gancli.training.run.stopping",
    "gancli.training.build": "gancli.training.step.assembly",
    "gancli.training.batches": "gancli.training.step.batches",
    "gancli.training.augment": "gancli.training.step.augment",
    "gancli.training.ema": "gancli.training.step.ema",
    "gancli.training.execution": "gancli.training.step.execution",
    "gancli.training.bench": "gancli.training.step.bench",
    "gancli.training.loop_step": "gancli.training.step.device_step",
    "gancli.training.distributed": "gancli.training.step.distributed",
    "gancli.training.graph": "gancli.training.step.graph",
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module name and hands over the module where it lives now."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; the old name goes in gancli {REMOVED_IN} "
                      f"(gancli.plugin has what a plugin needs)", DeprecationWarning, stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module) -> None:
        """The module is already the one it moved to."""


def install() -> None:
    """Put the finder after the regular ones, so it only answers for names that no longer exist."""
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
