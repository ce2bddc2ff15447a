"""A run's full state for a checkpoint, taken from its collaborators and put back on resume or rollback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from gancli.checkpoints.format import load_into, under_prefix
from gancli.checkpoints.state import TrainingState, optimizer_state, restore_optimizer, restore_rng, rng_state
from gancli.errors import CheckpointError
from gancli.training.step.assembly import Step


@dataclass
class Progress:
    """How far a run has come: steps taken, and rollbacks made on the way. The run's one
    mutable count; everything else it is lives in its networks, optimisers and streams."""

    step: int = 0
    rollbacks: int = 0


def capture_state(checkpoint_id: str, progress: Progress, config: dict[str, Any], dataset_images: int,
                  step: Step) -> TrainingState:
    """Everything beyond the weights that step `progress.step + 1` depends on."""
    training, batches = step.training, step.batches
    state = TrainingState(checkpoint_id, progress.step, config, dataset_images)
    optimizer_state("opt_g", training.opt_g, state)
    optimizer_state("opt_d", training.opt_d, state)
    rng_state(state, training.latent_rng, batches.rng)
    state.values["data"] = {"epoch": batches.epoch, "position": batches.position}
    state.tensors["data.order"] = batches.order
    state.values["rollbacks"] = progress.rollbacks
    if training.scaler is not None:
        state.values["grad_scaler"] = training.scaler.state_dict()  # plain floats and ints
    return state


def restore_state(weights: dict[str, torch.Tensor], source: Path, state: TrainingState, step: Step, seed: int,
                  notify: Callable[[str], None]) -> Progress:
    """Load `weights` (a checkpoint's tensors, read from `source`) and everything in `state` into `step`."""
    training, batches, ema = step.training, step.batches, step.ema
    for network, module in (("generator", training.generator), ("discriminator", training.discriminator)):
        load_into(module, under_prefix(weights, network), network, source)
    if ema is not None:
        averaged = under_prefix(weights, "generator_ema")
        # A run that had no EMA starts averaging from the generator it resumes with.
        load_into(ema.module, averaged or training.generator.state_dict(), "generator_ema", source)
    try:
        restore_optimizer("opt_g", training.opt_g, state)
        restore_optimizer("opt_d", training.opt_d, state)
        if not restore_rng(state, training.latent_rng, batches.rng):
            training.latent_rng.manual_seed(seed + 1 + state.step)
            batches.rng.manual_seed(seed + state.step)
            notify(f"{source} was trained on a {state.values['device_type']} device; "
                   f"its random streams start afresh here, so this resume is not exact")
        data = state.values["data"]
        batches.restore(state.tensors["data.order"], int(data["epoch"]), int(data["position"]))
        if training.scaler is not None and state.values.get("grad_scaler"):
            training.scaler.load_state_dict(state.values["grad_scaler"])
        return Progress(state.step, int(state.values.get("rollbacks", 0)))
    except CheckpointError:
        raise
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"training state for {source} is damaged ({type(err).__name__}: {err})") from None
