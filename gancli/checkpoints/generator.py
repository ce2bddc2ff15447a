"""Rebuilding a trained generator from a checkpoint file alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gancli.architectures import ArchConfig, Architecture, architectures, build_networks
from gancli.checkpoints.format import CheckpointInfo, StoredFile, load_into
from gancli.core.registry import DISABLE_ENV, normalize_package, package_disabled
from gancli.errors import CheckpointError, ConfigError, RegistryError

EMA_NETWORK = "generator_ema"


@dataclass
class LoadedGenerator:
    generator: nn.Module
    info: CheckpointInfo
    architecture: Architecture
    config: ArchConfig
    network: str = "generator"  # the prefix it was loaded from: `generator` or `generator_ema`

    def sample_latent(self, n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
        return self.architecture.sample_latent(n, self.config, generator=generator, device=device)

    @property
    def classes(self) -> tuple[str, ...]:
        """The classes a conditional generator makes, label 0 first; empty when unconditional."""
        return self.info.classes


def architecture_for(info: CheckpointInfo, path: Path) -> Architecture:
    """The installed architecture that made a checkpoint, or an error saying what to install.

    The architecture is looked up under the package that made it, so another package's
    architecture of the same name is never mistaken for it.
    """
    made_by = f"{path} was made by architecture '{info.arch}' from package {info.arch_package} {info.arch_version}"
    try:
        return architectures.get(f"{info.arch_package}:{info.arch}")
    except RegistryError:
        if any(p.name == info.arch and normalize_package(p.package) == normalize_package(info.arch_package)
               for p in architectures.plugins()):
            raise  # installed but broken: the registry's message names the package and the error
    if package_disabled(info.arch_package):
        raise CheckpointError(f"{made_by}, but plugins are disabled (--no-plugins or {DISABLE_ENV})")
    raise CheckpointError(f"{made_by}, which is not installed: pip install {info.arch_package}=={info.arch_version}")


def check_shapes(stored: StoredFile, generator: nn.Module, network: str) -> None:
    """Compare the stored shapes with the generator's, before any of its memory is allocated."""
    tensors = stored.under(network)
    for name, value in generator.state_dict().items():
        if name in tensors and tuple(tensors[name].shape) != tuple(value.shape):
            raise CheckpointError(f"{stored.path}: {network}.{name} has shape {tuple(tensors[name].shape)}, "
                                  f"the architecture expects {tuple(value.shape)}")


def build_generator(stored: StoredFile, architecture: Architecture, info: CheckpointInfo, config: ArchConfig,
                    network: str) -> nn.Module:
    """The generator alone, its shapes checked against the file first: built on the meta device
    (no memory), then given storage, so hyperparameters damaged to ask for a huge network are
    caught before anything is allocated, and the discriminator is never allocated at all."""
    try:
        with torch.device("meta"):
            generator, _ = build_networks(architecture, info.image_shape, config, len(info.classes))
    except Exception:
        generator = None  # an architecture that cannot build on meta is checked tensor by tensor later
    if generator is not None:
        check_shapes(stored, generator, network)
        persistent = set(generator.state_dict())
        if all(name in persistent for name, _ in generator.named_buffers()):
            return generator.to_empty(device="cpu")  # every value is then loaded from the file
    try:
        generator, _ = build_networks(architecture, info.image_shape, config, len(info.classes))
    except (ConfigError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{stored.path}: cannot rebuild '{info.arch}' from its metadata: {err}") from None
    return generator


def rebuild(path: Path, info: CheckpointInfo) -> tuple[Architecture, ArchConfig]:
    """The architecture and hyperparameters recorded in a checkpoint's metadata."""
    architecture = architecture_for(info, path)
    try:
        return architecture, architecture.make_config(info.hparams)
    except (ConfigError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot rebuild '{info.arch}' from its metadata: {err}") from None


def load_generator(path: Path, device: torch.device | str = "cpu", network: str | None = None,
                   ema: bool = True) -> LoadedGenerator:
    """The generator stored in `path`, rebuilt and in eval mode; the file is read once.

    By default the EMA generator when the checkpoint has one (`ema=False` for the raw one);
    `network` names a prefix explicitly.
    """
    stored = StoredFile.read(path)
    info = stored.info
    if network is None:
        network = EMA_NETWORK if ema and stored.has(EMA_NETWORK) else "generator"
    architecture, config = rebuild(stored.path, info)
    generator = build_generator(stored, architecture, info, config, network)
    load_into(generator, stored.under(network), network, stored.path)
    return LoadedGenerator(generator.to(device).eval(), info, architecture, config, network)
