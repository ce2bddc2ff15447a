"""Rebuilding a trained generator from a checkpoint file alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gancli.architectures import ArchConfig, Architecture, architectures
from gancli.checkpoint import CheckpointInfo, load_into, load_tensors, read_info
from gancli.errors import CheckpointError, ConfigError, RegistryError


@dataclass
class LoadedGenerator:
    generator: nn.Module
    info: CheckpointInfo
    architecture: Architecture
    config: ArchConfig

    def sample_latent(self, n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
        return self.architecture.sample_latent(n, self.config, generator=generator, device=device)


def architecture_for(info: CheckpointInfo, path: Path) -> Architecture:
    """The installed architecture that made a checkpoint, or an error saying what to install."""
    try:
        return architectures.get(info.arch)
    except RegistryError as err:
        if info.arch in architectures.names():
            raise  # installed but broken: the registry's message names the package
        raise CheckpointError(
            f"{path} was made by architecture '{info.arch}' from package {info.arch_package} "
            f"{info.arch_version}, which is not installed: pip install {info.arch_package}"
        ) from None


def load_generator(path: Path, device: torch.device | str = "cpu", network: str = "generator") -> LoadedGenerator:
    """The generator stored in `path` (under prefix `network`), rebuilt and in eval mode."""
    path = Path(path)
    info = read_info(path)
    architecture = architecture_for(info, path)
    try:
        config = architecture.make_config(info.hparams)
        generator, _ = architecture.build(info.image_shape, config)
    except (ConfigError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot rebuild '{info.arch}' from its metadata: {err}") from None
    load_into(generator, load_tensors(path, network), network, path)
    return LoadedGenerator(generator.to(device).eval(), info, architecture, config)
