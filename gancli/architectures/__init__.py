"""Architectures: the contract, and the registry that finds built-ins and plugins alike."""

from gancli.architectures.base import ArchConfig, Architecture, build_networks
from gancli.architectures.conditioning import (ClassBatchNorm2d, LabelledLatent, LabelledSequential, Projection,
                                               projection_logits)
from gancli.core.registry import Registry
from gancli.core.shapes import ImageShape

architectures: Registry[Architecture] = Registry("gancli.architectures", "architecture", Architecture)


def conditional_names() -> list[str]:
    """The names of the installed architectures that can be class-conditional."""
    names = set()
    for plugin in architectures.plugins():
        try:
            if architectures.load(plugin).conditional:
                names.add(plugin.name)
        except Exception:  # a broken plugin is reported where it is used, not here
            continue
    return sorted(names)


__all__ = ["ArchConfig", "Architecture", "ClassBatchNorm2d", "ImageShape", "LabelledLatent", "LabelledSequential",
           "Projection", "architectures", "build_networks", "conditional_names", "projection_logits"]
