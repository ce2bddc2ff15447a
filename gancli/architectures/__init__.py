"""Architectures: the contract, and the registry that finds built-ins and plugins alike."""

from gancli.architectures.base import ArchConfig, Architecture
from gancli.registry import Registry

architectures: Registry[Architecture] = Registry("gancli.architectures", "architecture", Architecture)

__all__ = ["ArchConfig", "Architecture", "architectures"]
