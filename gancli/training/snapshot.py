"""Taking a `Trainer`'s full state for a checkpoint, and putting it back on resume or rollback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gancli.checkpoints.format import load_into, read_tensors
from gancli.checkpoints.state import TrainingState, optimizer_state, restore_optimizer, restore_rng, rng_state
from gancli.errors import CheckpointError

if TYPE_CHECKING:
    from gancli.training.trainer import Trainer


def capture_state(trainer: "Trainer", checkpoint_id: str) -> TrainingState:
    state = TrainingState(checkpoint_id, trainer.step, trainer.config.to_dict(), trainer.dataset_images)
    optimizer_state("opt_g", trainer.opt_g, state)
    optimizer_state("opt_d", trainer.opt_d, state)
    rng_state(state, trainer.latent_rng, trainer.batches.rng)
    state.values["data"] = {"epoch": trainer.batches.epoch, "position": trainer.batches.position}
    state.tensors["data.order"] = trainer.batches.order
    state.values["rollbacks"] = trainer.rollbacks
    scaler = getattr(trainer.step_fn, "scaler", None)
    if scaler is not None:
        state.values["grad_scaler"] = scaler.state_dict()  # plain floats and ints
    return state


def restore_state(trainer: "Trainer", checkpoint: Path, state: TrainingState) -> None:
    """Load the weights in `checkpoint` and everything in `state` into `trainer`."""
    tensors = read_tensors(checkpoint, trainer.device)
    for network, module in (("generator", trainer.generator), ("discriminator", trainer.discriminator)):
        load_into(module, _under(tensors, network), network, checkpoint)
    if trainer.ema is not None:
        averaged = _under(tensors, "generator_ema")
        # A run that had no EMA starts averaging from the generator it resumes with.
        load_into(trainer.ema.module, averaged or trainer.generator.state_dict(), "generator_ema", checkpoint)
    try:
        restore_optimizer("opt_g", trainer.opt_g, state)
        restore_optimizer("opt_d", trainer.opt_d, state)
        if not restore_rng(state, trainer.latent_rng, trainer.batches.rng):
            trainer.latent_rng.manual_seed(trainer.config.seed + 1 + state.step)
            trainer.batches.rng.manual_seed(trainer.config.seed + state.step)
            trainer.reporter.notify(f"{checkpoint} was trained on a {state.values['device_type']} device; "
                                     f"its random streams start afresh here, so this resume is not exact")
        data = state.values["data"]
        trainer.batches.restore(state.tensors["data.order"], int(data["epoch"]), int(data["position"]))
        trainer.rollbacks = int(state.values.get("rollbacks", 0))
        scaler = getattr(trainer.step_fn, "scaler", None)
        if scaler is not None and state.values.get("grad_scaler"):
            scaler.load_state_dict(state.values["grad_scaler"])
    except CheckpointError:
        raise
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"training state for {checkpoint} is damaged ({type(err).__name__}: {err})") from None
    trainer.step = state.step


def _under(tensors: dict, prefix: str) -> dict:
    start = prefix + "."
    return {name[len(start):]: value for name, value in tensors.items() if name.startswith(start)}
