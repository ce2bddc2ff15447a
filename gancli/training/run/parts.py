"""What one run is made of, and what it writes: `Run`, built by `setup.set_up_run` and looped by `Trainer`.

A run is its config, the step it takes (`Step`: model, networks, optimisers, batches, EMA), its
`Progress` (the one count that changes as it trains), its folder and the loggers and timelapse
that write into it. Checkpoints, sample grids and the best checkpoint are written from here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gancli import __version__
from gancli.checkpoints.format import CheckpointInfo, save_checkpoint
from gancli.config import TrainConfig
from gancli.core.pixels import grid_pixels, save_grid
from gancli.core.shapes import ImageShape
from gancli.errors import GancliError
from gancli.loggers import Loggers
from gancli.sampling.generate import images_from_latents
from gancli.training.reporting import Reporter
from gancli.training.run.folder import RunFolder
from gancli.training.run.lock import RunLock
from gancli.training.run.resume import ResumePoint
from gancli.training.run.snapshot import Progress, capture_state, restore_state
from gancli.training.run.timelapse import Timelapse
from gancli.training.step.assembly import Model, Step
from gancli.training.step.distributed import World

if TYPE_CHECKING:  # the scorer's metrics load only for a run that evaluates
    from gancli.training.run.best import RunScorer

GRID_SIZE = 64  # images in each progress grid: an 8 x 8 tile
GRID_COLUMNS = 8
GRID_CLASSES = 16  # a conditional run's grid: one row per class, the first 16 classes at most


@dataclass(frozen=True)
class RunData:
    """What the run's images are: their shape, how many, and the classes a conditional run learns."""

    shape: ImageShape
    count: int
    classes: tuple[str, ...] = ()
    name: str = ""       # the dataset as the registry finds it (a resumed run's own entry, package included)
    package: str = ""    # the package of its entry; "" for a folder


@dataclass(frozen=True)
class SampleGrid:
    """The one fixed latent batch every progress grid shows (and, conditional, its classes)."""

    latents: torch.Tensor
    labels: torch.Tensor | None


@dataclass
class Run:
    """Everything a run is made of. The parts after `timelapse` are filled in by `set_up_run`
    once the run folder is locked; `close` lets the folder go whatever was built."""

    config: TrainConfig
    world: World
    reporter: Reporter
    folder: RunFolder
    lock: RunLock
    loggers: Loggers = field(default_factory=Loggers)  # opened once the run folder is ready
    timelapse: Timelapse = field(default_factory=Timelapse)
    data: RunData | None = None
    step: Step | None = None
    progress: Progress = field(default_factory=Progress)
    grid: SampleGrid | None = None
    run_id: str = ""
    kernels: str = ""  # the machine's kernels, recorded in every checkpoint
    scorer: RunScorer | None = None

    @property
    def device(self) -> torch.device:
        return self.world.device

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.step.batches.steps_per_epoch // self.step.model.d_steps)

    @property
    def total_steps(self) -> int:
        return self.config.steps or self.config.epochs * self.steps_per_epoch

    @property
    def epoch(self) -> int:
        return self.progress.step // self.steps_per_epoch

    @property
    def sampled_generator(self) -> nn.Module:
        """The generator users sample: the moving average when the run keeps one."""
        return self.step.ema.module if self.step.ema is not None else self.step.training.generator

    def networks(self) -> dict[str, nn.Module]:
        training = self.step.training
        networks = {"generator": training.generator, "discriminator": training.discriminator}
        if self.step.ema is not None:
            networks["generator_ema"] = self.step.ema.module
        return networks

    def config_yaml(self) -> str:
        """The run's config.yaml, saying what `precision: auto` means on this machine."""
        note = f"{self.step.training.execution.precision} on {self.kernels}"
        return self.config.to_yaml({"precision": note} if self.config.precision == "auto" else None)

    def open_loggers(self) -> None:
        """Start (or, after a rollback, restart) the loggers at the run's step; rank 0 only."""
        self.loggers.close()
        self.loggers.open(self.folder.root, self.config.to_dict(), self.progress.step)

    def restore(self, point: ResumePoint) -> None:
        """Put the state of `point` back into the step and the progress."""
        self.progress = restore_state(point.weights, point.checkpoint, point.state, self.step, self.config.seed,
                                      self.reporter.notify)
        self.step.device_step.set_step(self.progress.step)

    def close(self) -> None:
        """Flush the loggers and the timelapse and let the run folder go, for another process to write."""
        self.loggers.close()
        self.timelapse.close()
        self.lock.release()

    def drop_networks(self) -> None:
        """Let go of the networks and their step: data-parallel networks must go while the
        process group exists, even when an exception's traceback still holds this run."""
        self.step = self.scorer = None

    # -- what the run writes -------------------------------------------------------------

    def checkpoint_info(self, checkpoint_id: str) -> CheckpointInfo:
        model, training, plugin = self.step.model, self.step.training, self.step.model.plugin
        hparams = model.hparams()
        # The learning rates in effect, which a rollback may have lowered.
        hparams.update(lr_g=training.opt_g.param_groups[0]["lr"], lr_d=training.opt_d.param_groups[0]["lr"])
        return CheckpointInfo(
            arch=plugin.name, hparams=hparams, image_shape=self.data.shape,
            latent_dim=model.arch_config.latent_dim, dataset=self.config.data, step=self.progress.step,
            epoch=self.epoch, seed=self.config.seed, loss=model.loss_name, arch_package=plugin.package,
            arch_version=plugin.version, gancli_version=__version__, config=self.config.to_dict(),
            ema_decay=self.step.ema.decay if self.step.ema else None, checkpoint_id=checkpoint_id,
            run_id=self.run_id, classes=self.data.classes, precision=training.execution.precision,
            kernels=self.kernels, dataset_package=self.data.package,
        )

    def write_checkpoint(self) -> None:
        """Checkpoint the run (step-numbered and `last`), each with its training state; rank 0 only."""
        checkpoint_id = uuid.uuid4().hex
        state = capture_state(checkpoint_id, self.progress, self.config.to_dict(), self.data.count, self.step)
        self.folder.write_checkpoint(self.progress.step, self.networks(), self.checkpoint_info(checkpoint_id), state)
        self.folder.prune(self.config.keep_last, self.run_id)

    def write_best(self, scores: dict[str, float], protocol: dict[str, Any]) -> None:
        """The best checkpoint, holding the scores that chose it and what they were measured under."""
        info = replace(self.checkpoint_info(uuid.uuid4().hex), scores=scores, score_protocol=protocol)
        try:
            save_checkpoint(self.folder.best_checkpoint, self.networks(), info)
        except OSError as err:
            raise GancliError(f"cannot write {self.folder.best_checkpoint}: {err.strerror or err}") from None

    def write_samples(self) -> None:
        """The grid of the fixed latents at this step, logged and added to the timelapse; rank 0 only."""
        images = torch.cat(list(images_from_latents(self.step.training.generator, self.grid.latents, self.device,
                                                    labels=self.grid.labels)))
        save_grid(images, self.folder.sample_path(self.progress.step), nrow=GRID_COLUMNS)
        self.loggers.image(self.progress.step, "samples", grid_pixels(images, nrow=GRID_COLUMNS))
        self.timelapse.submit(self.folder.sample_grids(), self.folder.timelapse)


def sample_grid(model: Model, classes: tuple[str, ...], seed: int) -> SampleGrid:
    """One fixed latent batch, drawn on the CPU so every device shows the same grid; a
    conditional run's has one row per class, the same latents in every row."""
    rng = torch.Generator().manual_seed(seed)
    if classes:
        rows = min(len(classes), GRID_CLASSES)
        latents = model.sample_latent(GRID_COLUMNS, generator=rng).repeat(rows, 1)
        return SampleGrid(latents, torch.arange(rows).repeat_interleave(GRID_COLUMNS))
    return SampleGrid(model.sample_latent(GRID_SIZE, generator=rng), None)

