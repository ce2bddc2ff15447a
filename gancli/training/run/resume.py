"""Resuming a run: which checkpoint to continue from, and what may change on the way.

The newest checkpoint whose weights and training state both read cleanly and come from the same
save is used: `last`, else the step-numbered ones from the newest down. What defines the run
(architecture and its shape hyperparameters, dataset, split, image shape, batch size, whether it
is conditional, the augmentation of what D sees, how often each batch is echoed) must not change;
anything else (steps, epochs, learning rates, logging) may, and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gancli.checkpoints.format import CheckpointInfo, StoredFile
from gancli.checkpoints.state import TrainingState, load_state
from gancli.config import TrainConfig, resolve_config
from gancli.core.registry import normalize_package
from gancli.errors import CheckpointError, ConfigError, GancliError
from gancli.training.run.folder import RunFolder

#: Config keys that define a run; a resume that changes one is refused.
#: `augment` too: the discriminator learned on what it saw, and config.yaml speaks for every step;
#: `echo` because the saved position in the data counts echoes.
FIXED_KEYS = ("arch", "data", "split", "image_size", "channels", "conditional", "batch_size", "augment", "echo")
#: Hyperparameters a resume may change: the optimiser's, not the networks' shapes.
MUTABLE_HPARAMS = ("lr_g", "lr_d")
#: What a key left unset means, as a resume that changes it says.
UNSET = {"steps": "by epochs", "lr": "the architecture's", "loss": "the architecture's",
         "d_steps": "the architecture's", "cuda_graphs": "on for CUDA", "inception": "found or downloaded"}


def shown(key: str, value: Any) -> str:
    """A config value in a "Changed on resume" line: what unset means rather than None."""
    return f"({UNSET.get(key, 'unset')})" if value is None else repr(value)


@dataclass
class ResumePoint:
    run_dir: Path
    checkpoint: Path
    info: CheckpointInfo
    state: TrainingState
    skipped: list[str]  # why newer checkpoints were passed over
    weights: dict[str, torch.Tensor]  # the checkpoint's tensors, from the very bytes whose ID was checked

    @property
    def config(self) -> dict[str, Any]:
        return self.state.config


def find_resume_point(run_dir: Path) -> ResumePoint:
    """The checkpoint to continue the run in `run_dir` from, or an error saying why there is none."""
    run = RunFolder(Path(run_dir))
    if not run.holds_run():
        raise GancliError(f"cannot resume {run.root}: it holds no gancli run (no config.yaml)")
    pairs = [(run.last_checkpoint, run.last_state)]
    pairs += [(run.checkpoint_path(s), run.state_path(s)) for s in reversed(run.numbered_steps())]
    skipped: list[str] = []
    for weights, state_path in pairs:
        if not weights.exists():
            continue
        try:
            # Each file is read once, and what is restored is what was checked here.
            stored, state = StoredFile.read(weights), load_state(state_path)
            info = stored.info
        except CheckpointError as err:
            skipped.append(str(err))
            continue
        if not info.checkpoint_id or info.checkpoint_id != state.checkpoint_id:
            skipped.append(f"{weights} and {state_path} are from different saves (a save was cut short)")
            continue
        return ResumePoint(run.root, weights, info, state, skipped, stored.tensors)
    reason = f": {skipped[0]}" if skipped else " (no checkpoint was written yet)"
    raise GancliError(f"cannot resume {run.root}: no usable checkpoint{reason}; "
                      f"pass --overwrite instead of --resume to start it again")


def can_resume(run_dir: Path) -> bool:
    run = RunFolder(Path(run_dir))
    return run.holds_run() and (run.last_checkpoint.exists() or bool(run.numbered_steps()))


def resume_dir(resume: str | None, out: Path | None) -> Path | None:
    """The run folder `--resume` names: a path, or `auto` for `--out` when it holds a run
    with a checkpoint."""
    if resume is None:
        return None
    if resume == "auto":
        if out is None:
            raise ConfigError("--resume auto needs --out: the run folder to continue when it holds a run")
        return Path(out) if can_resume(out) else None
    if out is not None and Path(out).resolve() != Path(resume).resolve():
        raise ConfigError(f"--resume {resume} continues the run in its own folder; drop --out {out}")
    return Path(resume)


def own_entry(name: str, made: str, package: str) -> str:
    """`name` qualified with `package` when it names the entry `made` of that package (bare, or
    as `package:made`), so another package's entry of the same name, installed since, changes
    nothing; any other name as it is."""
    given_package, _, short = name.rpartition(":")
    if package and short == made and (not given_package or normalize_package(given_package) == normalize_package(package)):
        return f"{package}:{made}"
    return name


def run_architecture(name: str, info: CheckpointInfo) -> str:
    """The name to find a resumed run's architecture by."""
    return own_entry(name, info.arch, info.arch_package)


def run_dataset(data: str, info: CheckpointInfo) -> str:
    """The name to find a resumed run's dataset by; a folder stays as it is."""
    if data.startswith("folder:") or not info.dataset_package:
        return data
    return own_entry(data, info.dataset.rpartition(":")[2], info.dataset_package)


def same_architecture(name: str, info: CheckpointInfo) -> bool:
    return run_architecture(name, info) == f"{info.arch_package}:{info.arch}"


def same_dataset(data: str, info: CheckpointInfo) -> bool:
    return bool(info.dataset_package) and run_dataset(data, info) == info.dataset_entry


def check_compatible(point: ResumePoint, config: TrainConfig, hparams: dict[str, Any],
                     saved_hparams: dict[str, Any]) -> list[str]:
    """Refuse what may not change; return a line per setting that did change. `hparams` are
    what `config` asks of the architecture, `saved_hparams` what the run's saved config asked
    (the checkpoint records the learning rates in effect, which rollbacks may have lowered)."""
    old = {**TrainConfig().to_dict(), **point.config}  # a key newer than the run: the run had its default
    new = config.to_dict()
    where = f"cannot resume {point.run_dir}"
    for key in FIXED_KEYS:
        if key == "arch" and same_architecture(new[key], point.info) or \
                key == "data" and same_dataset(new[key], point.info):
            continue  # `name` and `package:name` of the entry that made the run are one
        if old.get(key) != new[key]:
            raise ConfigError(f"{where}: {key} was {old.get(key)!r}, now {new[key]!r}; "
                              f"start a new run (another --out) to change it")
    recorded = {**saved_hparams, **point.info.hparams}  # a hyperparameter newer than the run: it had its default
    for key, value in hparams.items():
        if key not in MUTABLE_HPARAMS and recorded.get(key) != value:
            raise ConfigError(f"{where}: model.{key} was {recorded.get(key)!r}, now {value!r}; "
                              f"start a new run (another --out) to change it")
    changes = [f"{key} {shown(key, old.get(key))} -> {shown(key, new[key])}" for key in new  # newer keys stay quiet
               if key not in FIXED_KEYS + ("model", "out") and key in point.config and old.get(key) != new[key]]
    changes += [f"model.{key} {saved_hparams.get(key)!r} -> {hparams[key]!r}" for key in MUTABLE_HPARAMS
                if key in hparams and saved_hparams.get(key) != hparams[key]]
    return changes


@dataclass
class RunPlan:
    config: TrainConfig
    resume: ResumePoint | None
    overwrite: bool


def plan_run(resume: str | None, file: Path | None, overrides: list[str], flags: dict[str, Any],
             overwrite: bool = False) -> RunPlan:
    """What `gancli train` does: a resumed run starts from its own config, which `--config`,
    `--set` and flags then change as they would the defaults. `--resume auto` on a folder whose
    run was stopped before its first checkpoint starts that run again."""
    out = Path(flags["out"]) if flags.get("out") else None
    folder = resume_dir(resume, out)
    if folder is None:
        # A run stopped before its first checkpoint (or while --overwrite moved the old one aside)
        # starts again: what it had written moves aside.
        restart = resume == "auto" and out is not None and (RunFolder(out).holds_run() or RunFolder(out).replacing())
        return RunPlan(resolve_config(file, overrides, flags), None, overwrite or restart)
    point = find_resume_point(folder)
    base = dict(point.config, out=str(point.run_dir))
    return RunPlan(resolve_config(file, overrides, {**flags, "out": None}, base=base), point, overwrite)
