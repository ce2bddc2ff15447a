"""Rebuilding a trained generator from a checkpoint file alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gancli.architectures import ArchConfig, Architecture, architectures
from gancli.checkpoints.format import CheckpointInfo, has_tensors, load_into, load_tensors, read_header, read_info
from gancli.core.registry import BUILTIN_PACKAGE, DISABLE_ENV, normalize_package, plugins_disabled
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
    if plugins_disabled() and normalize_package(info.arch_package) != BUILTIN_PACKAGE:
        raise CheckpointError(f"{made_by}, but plugins are disabled (--no-plugins or {DISABLE_ENV})")
    raise CheckpointError(f"{made_by}, which is not installed: pip install {info.arch_package}")


def check_shapes(path: Path, architecture: Architecture, info: CheckpointInfo, config: ArchConfig,
                 network: str) -> None:
    """Compare the stored shapes with the architecture's on the meta device: no memory is
    allocated, so damaged hyperparameters cannot ask for a huge network before being caught."""
    try:
        with torch.device("meta"):
            generator, _ = architecture.build(info.image_shape, config)
    except Exception:
        return  # an architecture that cannot build on meta is checked tensor by tensor later
    _, tensors = read_header(path)
    stored = {t.name[len(network) + 1:]: t.shape for t in tensors if t.name.startswith(network + ".")}
    for name, value in generator.state_dict().items():
        if name in stored and tuple(stored[name]) != tuple(value.shape):
            raise CheckpointError(f"{path}: {network}.{name} has shape {tuple(stored[name])}, "
                                  f"the architecture expects {tuple(value.shape)}")


def rebuild(path: Path, info: CheckpointInfo) -> tuple[Architecture, ArchConfig]:
    """The architecture and hyperparameters recorded in a checkpoint's metadata."""
    architecture = architecture_for(info, path)
    try:
        return architecture, architecture.make_config(info.hparams)
    except (ConfigError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot rebuild '{info.arch}' from its metadata: {err}") from None


def load_generator(path: Path, device: torch.device | str = "cpu", network: str | None = None,
                   ema: bool = True) -> LoadedGenerator:
    """The generator stored in `path`, rebuilt and in eval mode.

    By default the EMA generator when the checkpoint has one (`ema=False` for the raw one);
    `network` names a prefix explicitly.
    """
    path = Path(path)
    info = read_info(path)
    if network is None:
        network = EMA_NETWORK if ema and has_tensors(path, EMA_NETWORK) else "generator"
    architecture, config = rebuild(path, info)
    check_shapes(path, architecture, info, config, network)
    try:
        generator, _ = architecture.build(info.image_shape, config)
    except (ConfigError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: cannot rebuild '{info.arch}' from its metadata: {err}") from None
    load_into(generator, load_tensors(path, network), network, path)
    return LoadedGenerator(generator.to(device).eval(), info, architecture, config, network)
