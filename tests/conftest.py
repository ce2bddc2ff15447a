"""Shared fixtures: a tiny CPU training run that several tests read."""

from __future__ import annotations

from pathlib import Path

import pytest

from gancli.config import TrainConfig
from gancli.progress import Reporter
from gancli.train import train

# Narrow networks and the small `test` split keep a run to about a second on two CPU cores.
TINY_MODEL = {"g_channels": 64, "d_channels": 16, "latent_dim": 16}


def tiny_config(out: Path, **overrides) -> TrainConfig:
    values = dict(arch="dcgan", data="synthetic", split="test", steps=4, batch_size=8, device="cpu",
                  out=str(out), log_every=2, sample_every=2, checkpoint_every=2, model=dict(TINY_MODEL))
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished 4-step run; tests must not modify it."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    return train(tiny_config(out), reporter=Reporter())


@pytest.fixture(autouse=True)
def _no_user_plugins(monkeypatch):
    monkeypatch.delenv("GANCLI_DEBUG", raising=False)
