"""Architectures: the contract, and the registry that finds built-ins and plugins alike."""

from gancli.architectures.base import ArchConfig, Architecture, build_networks
from gancli.architectures.conditioning import LabelledLatent, Projection
from gancli.core.registry import Registry
from gancli.core.shapes import ImageShape

architectures: Registry[Architecture] = Registry("gancli.architectures", "architecture", Architecture)

__all__ = ["ArchConfig", "Architecture", "ImageShape", "LabelledLatent", "Projection", "architectures",
           "build_networks"]
