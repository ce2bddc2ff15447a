"""Training state for exact resume: optimisers, counters, every random stream and the data order.

Stored beside each checkpoint as a `.safetensors` file: tensors (optimiser moments, RNG states,
the epoch's permutation) as tensors, everything else as JSON under the metadata key
`gancli.state`. Nothing is pickled, so reading a state file can never run code. The weights
checkpoint stays usable alone; its metadata and the state's share a `checkpoint_id`, so a pair
torn apart by a crash between the two writes is recognised and not resumed from.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gancli.checkpoints.format import StoredFile, write_safetensors
from gancli.errors import CheckpointError

STATE_KEY = "gancli.state"
STATE_FORMAT = 1
RUN_FLAGS = ("capturable", "fused", "foreach", "differentiable")  # how an optimiser runs, not what it learned


@dataclass
class TrainingState:
    """Everything beyond the weights that makes step N+1 after a resume the step N+1 of the run."""

    checkpoint_id: str
    step: int
    config: dict[str, Any]                 # the resolved TrainConfig, as plain data
    dataset_images: int                    # size of the training set, to notice a changed dataset
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # JSON-able: counters, RNG words, groups


# -- capture and restore of the pieces ------------------------------------------------------

def optimizer_state(name: str, optimizer: torch.optim.Optimizer, state: TrainingState) -> None:
    saved = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, slots in saved["state"].items():
        for slot, value in slots.items():
            if isinstance(value, torch.Tensor):
                state.tensors[f"{name}.{index}.{slot}"] = value
            else:
                scalars.setdefault(str(index), {})[slot] = value
    state.values[name] = {"param_groups": saved["param_groups"], "scalars": scalars}


def restore_optimizer(name: str, optimizer: torch.optim.Optimizer, state: TrainingState) -> None:
    described = state.values[name]
    slots: dict[int, dict[str, Any]] = {}
    for key, value in state.tensors.items():
        owner, index, slot = key.split(".", 2) if key.count(".") >= 2 else (key, "", "")
        if owner == name:
            slots.setdefault(int(index), {})[slot] = value
    for index, values in described["scalars"].items():
        slots.setdefault(int(index), {}).update(values)
    # JSON turns tuples (Adam's betas) into lists; the optimiser expects what it saved.
    groups = [{k: (tuple(v) if isinstance(v, list) and k != "params" else v) for k, v in group.items()}
              for group in described["param_groups"]]
    # How the optimiser runs (capturable for a CUDA graph, fused, foreach) is this run's choice,
    # not the saving run's: a CPU or eager checkpoint must not stop a capture here. Set before
    # loading, so that PyTorch places each step counter where these flags want it.
    for saved, live in zip(groups, optimizer.param_groups):
        saved.update({flag: live[flag] for flag in RUN_FLAGS if flag in live})
    try:
        optimizer.load_state_dict({"state": slots, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"optimiser state {name} does not fit the networks: {err}") from None
    _match_layouts(optimizer)


def _match_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-parameter slot its parameter's memory layout (channels-last weights). Saved
    slots come back contiguous, and a fused kernel then runs differently than before the save."""
    for parameter, slots in optimizer.state.items():
        for slot, value in slots.items():
            if isinstance(value, torch.Tensor) and value.shape == parameter.shape and value.stride() != parameter.stride():
                slots[slot] = torch.empty_like(parameter, dtype=value.dtype).copy_(value)


def rng_state(state: TrainingState, latent: torch.Generator, data: torch.Generator) -> None:
    version, words, gauss = random.getstate()
    state.values["python_random"] = [version, list(words), gauss]
    state.tensors["rng.torch_cpu"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            state.tensors[f"rng.cuda.{index}"] = cuda_state
    state.values["device_type"] = latent.device.type
    state.tensors["rng.latent"] = latent.get_state()
    state.tensors["rng.data"] = data.get_state()


def restore_rng(state: TrainingState, latent: torch.Generator, data: torch.Generator) -> bool:
    """Put every random stream back; False when the run moved to another kind of device, whose
    generators cannot take the saved states (the caller reseeds them: not an exact resume)."""
    version, words, gauss = state.values["python_random"]
    random.setstate((version, tuple(words), gauss))
    torch.set_rng_state(state.tensors["rng.torch_cpu"])
    cuda_states = [state.tensors[k] for k in sorted(state.tensors) if k.startswith("rng.cuda.")]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    if state.values.get("device_type", latent.device.type) != latent.device.type:
        return False
    latent.set_state(state.tensors["rng.latent"])
    data.set_state(state.tensors["rng.data"])
    return True


# -- the file ------------------------------------------------------------------------------

def save_state(path: Path, state: TrainingState) -> None:
    """Write `state` to `path`, atomically."""
    described = {"format": STATE_FORMAT, "checkpoint_id": state.checkpoint_id, "step": state.step,
                 "config": state.config, "dataset_images": state.dataset_images, "values": state.values}
    write_safetensors(path, state.tensors, {STATE_KEY: json.dumps(described)})


def load_state(path: Path) -> TrainingState:
    """The training state in `path`, read once; any damage is a `CheckpointError` naming the file."""
    stored = StoredFile.read(path)
    if STATE_KEY not in stored.metadata:
        raise CheckpointError(f"{path}: not a gancli training state (metadata key {STATE_KEY} is missing)")
    try:
        described = json.loads(stored.metadata[STATE_KEY])
        if described["format"] > STATE_FORMAT:
            raise CheckpointError(f"{path}: training state format {described['format']} is newer than "
                                  f"this gancli reads ({STATE_FORMAT}); upgrade gancli")
        return TrainingState(
            checkpoint_id=str(described["checkpoint_id"]), step=int(described["step"]),
            config=dict(described["config"]), dataset_images=int(described["dataset_images"]),
            tensors=stored.tensors, values=dict(described["values"]),
        )
    except CheckpointError:
        raise
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: metadata {STATE_KEY} is damaged ({type(err).__name__}: {err})") from None
