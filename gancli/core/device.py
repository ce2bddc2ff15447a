"""Choosing the torch device from `--device auto|cpu|cuda|cuda:N|mps`, and making it current."""

from __future__ import annotations

import torch

from gancli.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name}: CUDA is not available on this machine (try --device cpu)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device mps: Apple's MPS backend is not available on this machine (try --device cpu)")
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"device {name!r}: {err}") from None


def use_device(device: torch.device) -> None:
    """Make `device` the current CUDA device, so streams, events and graphs that PyTorch creates
    on "the current device" are made where the run's tensors live (cuda:1, say)."""
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
