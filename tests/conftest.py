"""Shared fixtures: a tiny CPU training run that several tests read, and a stand-in feature network."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch

try:  # for tests that read pyproject.toml
    import tomllib  # noqa: F401  (Python 3.11 and newer)
except ImportError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib  # noqa: F401

from gancli.checkpoints.format import read_tensors
from gancli.config import TrainConfig
from gancli.training.reporting import Reporter
from gancli.training.step.assembly import Training, build_training, resolve_model
from gancli.training.run.trainer import train

# Under pytest-xdist each worker gets its share of the cores, for itself and the gancli processes
# it starts: torch's threads beyond that only wait on each other's.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# Narrow networks and the small `test` split keep a run to about a second on two CPU cores.
TINY_MODEL = {"g_channels": 16, "d_channels": 4, "latent_dim": 8}


def tiny_config(out: Path, **overrides) -> TrainConfig:
    values = dict(arch="dcgan", data="synthetic", split="test", steps=4, batch_size=8, device="cpu",
                  out=str(out), log_every=2, sample_every=2, checkpoint_every=2, model=dict(TINY_MODEL))
    values.update(overrides)
    return TrainConfig(**values)


def tiny_training(execution, shape, loss="bce", classes: int = 0, **values) -> Training:
    """A tiny dcgan's networks, optimisers and GAN step, assembled as `train` assembles them
    from a config with `values`; `loss` is a loss's name or a `GANLoss` object."""
    config = TrainConfig(arch="dcgan", model=dict(TINY_MODEL), loss=loss if isinstance(loss, str) else None, **values)
    model = resolve_model(config)
    if not isinstance(loss, str):
        model = dataclasses.replace(model, loss=loss)
    return build_training(config, model, shape, execution, classes=classes)


def assert_same_tensors(a: Path, b: Path) -> None:
    """The two safetensors files hold the same tensors, bit for bit."""
    first, second = read_tensors(a), read_tensors(b)
    assert sorted(first) == sorted(second)
    for name in first:
        assert torch.equal(first[name], second[name]), name


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished 4-step run; tests must not modify it."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    return train(tiny_config(out), reporter=Reporter())


@pytest.fixture(scope="session")
def conditional_run(tmp_path_factory):
    """A finished 4-step class-conditional run on the labelled digits; tests must not modify it."""
    out = tmp_path_factory.mktemp("runs") / "conditional"
    return train(tiny_config(out, conditional=True), reporter=Reporter())


@pytest.fixture(autouse=True)
def _no_user_plugins(monkeypatch):
    monkeypatch.delenv("GANCLI_DEBUG", raising=False)


@pytest.fixture
def install_package(tmp_path):
    """Install a package by hand: a module and a `.dist-info` with entry points, on sys.path.

    `install_package("odd-gans", {"gancli.architectures": {"odd": "odd_gans:odd"}},
    modules={"odd_gans": "source"})` makes importlib.metadata see a distribution `odd-gans`
    exactly as pip would leave it; the registries are refreshed on the way in and out.
    """
    import importlib
    import sys

    from gancli.architectures import architectures
    from gancli.datasets import datasets
    from gancli.loggers import loggers
    from gancli.losses import losses

    site = tmp_path / "site-packages"
    site.mkdir()
    sys.path.insert(0, str(site))
    added_modules = []

    def refresh():
        importlib.invalidate_caches()
        for registry in (architectures, datasets, losses, loggers):
            registry.refresh()

    def install(package, entry_points, modules=None, version="1.0"):
        dist_info = site / f"{package.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        lines = []
        for group, names in entry_points.items():
            lines.append(f"[{group}]")
            lines.extend(f"{name} = {value}" for name, value in names.items())
        (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in (modules or {}).items():
            (site / f"{module}.py").write_text(source)
            added_modules.append(module)
        refresh()

    yield install
    sys.path.remove(str(site))
    for module in added_modules:
        sys.modules.pop(module, None)
    refresh()


class StandInFeatures(torch.nn.Module):
    """A small feature network standing in for Inception, which is far too slow for tests."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 12, kernel_size=4, stride=4)

    def forward(self, x):
        return torch.relu(self.conv(x)).mean(dim=(2, 3))  # (N, 12)


@pytest.fixture
def standin_extractor():
    from gancli.metrics.features import FeatureExtractor

    return FeatureExtractor(StandInFeatures(), key="standin-0", input_size=32)
