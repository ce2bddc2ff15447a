"""Training a GAN from a `TrainConfig`: data, networks, the loop, and what it writes.

    from gancli.config import TrainConfig
    from gancli.training import train
    result = train(TrainConfig(arch="dcgan", data="synthetic", steps=200, device="cpu"))

A run checkpoints every `checkpoint_every` steps, on SIGINT/SIGTERM and at the end; each
checkpoint has its training state beside it, so `train(config, resume=...)` continues exactly.
The trainer reports through the `Reporter` it is given, and says nothing without one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import random
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gancli import __version__
from gancli.architectures import ArchConfig, Architecture, ImageShape, architectures, build_networks, conditional_names
from gancli.checkpoints.format import CheckpointInfo, save_checkpoint
from gancli.config import TrainConfig
from gancli.core.device import resolve_device, use_device
from gancli.core.pixels import grid_pixels, save_grid
from gancli.datasets import datasets
from gancli.datasets.loading import load_images, parse_data, resolve_split
from gancli.errors import ConfigError, GancliError
from gancli.loggers import Loggers
from gancli.losses import make_loss
from gancli.sampling.generate import images_from_latents
from gancli.training.batches import make_batches
from gancli.training.build import Training, build_training
from gancli.training.distributed import ParameterDigests, World, join
from gancli.training.ema import GeneratorEMA
from gancli.training.execution import ExecutionOptions, kernels_of, resolve_execution
from gancli.training.guards import (
    EXIT_CODES,
    DivergenceGuard,
    StopSignals,
    TrainingInterrupted,
    diverged,
    divergence_message,
    ending_state,
    signal_check_due,
    stopped_twice,
)
from gancli.training.loop_step import LoopStep
from gancli.training.reporting import Reporter
from gancli.training.resume import ResumePoint, can_resume, check_compatible, find_resume_point, run_architecture
from gancli.training.run_folder import RunFolder, default_run_dir
from gancli.training.run_lock import RunLock
from gancli.training.snapshot import Progress, capture_state, restore_state
from gancli.training.step import STAT_NAMES
from gancli.training.timelapse import Timelapse

GRID_SIZE = 64  # images in each progress grid: an 8 x 8 tile
GRID_COLUMNS = 8
GRID_CLASSES = 16  # a conditional run's grid: one row per class, the first 16 classes at most


@dataclass
class RunResult:
    out: Path
    last_checkpoint: Path
    steps: int
    metrics: dict[str, Any]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def arch_config_for(architecture: Architecture, config: TrainConfig | dict[str, Any]) -> ArchConfig:
    """The hyperparameters a config asks of its architecture: `model:`, with `lr` for both rates."""
    values = config.to_dict() if isinstance(config, TrainConfig) else config
    arch_config = architecture.make_config(values.get("model"))
    if values.get("lr") is not None:
        arch_config = dataclasses.replace(arch_config, lr_g=values["lr"], lr_d=values["lr"])
    return arch_config


class Trainer:
    """Everything one run needs, built from its config; `run_loop()` trains it."""

    def __init__(self, config: TrainConfig, reporter: Reporter | None = None, overwrite: bool = False,
                 resume: ResumePoint | Path | None = None, feature_extractor=None, world: World | None = None):
        self.config = config
        # Under torchrun every rank builds the same Trainer; rank 0 alone reports and writes.
        self.world = world or World(device=resolve_device(config.device))
        self.reporter = (reporter or Reporter()) if self.world.is_main else Reporter()
        self.device = self.world.device
        if resume is None:
            out = Path(self.world.share_text(config.out or str(default_run_dir(config.arch, config.data))))
        else:  # the folder alone: what it holds is read once it is locked
            out = Path(resume.run_dir if isinstance(resume, ResumePoint) else resume)
        self.config = dataclasses.replace(config, out=str(out))
        self.lock = RunLock(out)
        self.loggers = Loggers()  # opened once the run folder is ready
        self.timelapse = Timelapse()
        if resume is None:
            self.world.on_main(RunFolder(out).refuse_foreign)  # before the lock file is put there
        self.world.on_main(self.lock.acquire)  # one writer per run folder, before anything is read from it
        try:
            # What is resumed is what the folder holds now that no one else can write it.
            self._set_up(find_resume_point(out) if resume is not None else None, overwrite, feature_extractor)
        except BaseException:
            self.close()
            raise

    def _set_up(self, resume: ResumePoint | None, overwrite: bool, feature_extractor) -> None:
        config = self.config
        seed_everything(config.seed)
        # A resumed run's architecture is the one its checkpoint names, package included.
        arch_name = config.arch if resume is None else run_architecture(config.arch, resume.info)
        self.arch_plugin = architectures.find(arch_name)
        self.architecture = architectures.load(self.arch_plugin)
        self.arch_config = arch_config_for(self.architecture, config)
        self.loss_name = config.loss or self.architecture.default_loss
        self.d_steps = config.d_steps or self.architecture.d_steps  # real batches per step, one per D update
        try:
            # The default loss is looked up in the architecture's own package first.
            self.loss = make_loss(self.loss_name, config.smooth,
                                  prefer_package=self.arch_plugin.package if config.loss is None else None)
        except ValueError as err:
            raise ConfigError(f"loss: {err}") from None
        # Before any data is read: a resume that changes what defines the run stops here.
        self.changes = [] if resume is None else check_compatible(
            resume, config, self.architecture.config_dict(self.arch_config),
            self.architecture.config_dict(arch_config_for(self.architecture, resume.config)))

        self.loggers = Loggers(config.loggers)  # an unknown logger stops the run before it starts
        if config.conditional and not self.architecture.conditional:
            raise ConfigError(f"conditional: arch {config.arch} is not class-conditional; "
                              f"conditional architectures: {', '.join(conditional_names()) or 'none'}")
        if config.image_size is not None:
            self._check_image_size(config.image_size, config.channels or 3)
        images = self.world.main_first(lambda: load_images(  # rank 0 first: one download
            config.data, config.split, config.data_root, config.download, config.image_size, config.channels,
            self.reporter.notify))
        self.shape = images.shape
        self.dataset_images = images.pixels.shape[0]
        self.classes = self._classes_of(images)
        self.training = self._build_training()
        self.kernels = kernels_of(self.device)  # recorded in every checkpoint
        try:
            self.batches = make_batches(images.pixels, config.batch_size, config.seed, self.device,
                                        config.data_budget_mb, config.data_workers, self.reporter.notify,
                                        self.world.rank, self.world.size,
                                        labels=images.labels if self.classes else None,
                                        channels_last=self.training.execution.channels_last)
        except ValueError as err:
            raise ConfigError(f"batch_size: {err}") from None
        self.ema = GeneratorEMA(self.training.generator, config.ema_decay, config.ema_start) \
            if config.ema_decay else None
        self.guard = DivergenceGuard(self.device)
        self.loop = LoopStep(self.training, self.batches, self.d_steps, self.ema, self.guard, self.reporter.notify)
        self.digests = ParameterDigests(self.world)

        self.steps_per_epoch = max(1, self.batches.steps_per_epoch // self.d_steps)
        self.total_steps = config.steps or config.epochs * self.steps_per_epoch
        # One fixed latent batch, drawn on the CPU so every device shows the same grid; a
        # conditional run's has one row per class, the same latents in every row.
        grid_rng = torch.Generator().manual_seed(config.seed)
        if self.classes:
            rows = min(len(self.classes), GRID_CLASSES)
            self.fixed_latent = self.sample_latent(GRID_COLUMNS, generator=grid_rng).repeat(rows, 1)
            self.fixed_labels = torch.arange(rows).repeat_interleave(GRID_COLUMNS)
        else:
            self.fixed_latent = self.sample_latent(GRID_SIZE, generator=grid_rng)
            self.fixed_labels = None

        self.step = 0
        self.rollbacks = 0
        self.run = RunFolder(Path(config.out))
        if resume is None:
            self.run_id = uuid.uuid4().hex
            self.world.on_main(lambda: RunFolder.create(self.run.root, self.config_yaml(), overwrite=overwrite,
                                                        notify=self.reporter.notify))
            self.world.on_main(self.open_loggers)
        else:
            # A run from before run IDs gets one now; what it wrote earlier is never pruned.
            self.run_id = resume.info.run_id or uuid.uuid4().hex
            self.resume_from(resume)  # opens the loggers
        self.scorer = self._run_scorer(images, feature_extractor) \
            if config.eval_every and self.world.is_main else None

    def _classes_of(self, images) -> tuple[str, ...]:
        """The classes a conditional run learns (the dataset's); none for an unconditional run."""
        if not self.config.conditional:
            return ()
        if images.labels is None or not images.classes:
            hint = " (a folder is labelled when its images sit in one subfolder per class)" \
                if parse_data(self.config.data, None)[0] == "folder" else ""
            raise ConfigError(f"conditional: dataset {self.config.data} has no class labels{hint}")
        if len(images.classes) < 2:  # one class is nothing to condition on: train it unconditionally
            hint = " (a folder's classes are its subfolders)" \
                if parse_data(self.config.data, None)[0] == "folder" else ""
            raise ConfigError(f"conditional: dataset {self.config.data} has one class ({images.classes[0]}), and a "
                              f"conditional GAN needs two or more{hint}; train without --conditional")
        return images.classes

    def _check_image_size(self, size: int, channels: int) -> None:
        """Refuse a size the architecture cannot make before any image is read or resized: the
        networks are built on the meta device, which allocates nothing."""
        shape = ImageShape(channels, size, size)
        try:
            with torch.device("meta"):
                build_networks(self.architecture, shape, self.arch_config)
        except ValueError as err:
            raise ConfigError(f"image_size: arch {self.config.arch} cannot make {shape} images: {err}") from None
        except Exception:
            pass  # an architecture that cannot build on meta is checked when it is built for real

    def open_loggers(self) -> None:
        """Start (or, after a rollback, restart) the loggers at the run's step; rank 0 only."""
        self.loggers.close()
        self.loggers.open(self.run.root, self.config.to_dict(), self.step)

    def close(self) -> None:
        """Flush the loggers and the timelapse and let the run folder go, for another process to write."""
        self.loggers.close()
        self.timelapse.close()
        self.lock.release()

    def drop_networks(self) -> None:
        """Let go of the networks and their step. `train` does, before it leaves the process
        group: data-parallel networks must go while the group exists, even when an exception's
        traceback still holds this trainer."""
        for name in ("loop", "training", "batches", "ema", "scorer"):
            self.__dict__.pop(name, None)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.architecture.sample_latent(n, self.arch_config, generator=generator)

    def resume_from(self, point: ResumePoint) -> None:
        if point.state.dataset_images != self.dataset_images:
            raise ConfigError(f"cannot resume {point.run_dir}: dataset {self.config.data} had "
                              f"{point.state.dataset_images} images, now {self.dataset_images}")
        self.restore(point)
        # A learning rate given anew wins; otherwise the saved one (perhaps lowered by rollbacks) stays.
        saved = arch_config_for(self.architecture, point.config)
        for optimizer, key in ((self.training.opt_g, "lr_g"), (self.training.opt_d, "lr_d")):
            if getattr(saved, key) != getattr(self.arch_config, key):
                for group in optimizer.param_groups:
                    group["lr"] = getattr(self.arch_config, key)
        # Before the folder changes: a logger that cannot start (RUN/tensorboard blocked) leaves it as it was.
        self.world.on_main(self.open_loggers)
        self.world.on_main(lambda: RunFolder.reopen(point.run_dir, self.config_yaml(), self.step))
        for reason in point.skipped:
            self.reporter.notify(f"Skipped a newer checkpoint: {reason}")
        self.reporter.notify(f"Resuming {point.run_dir} at step {self.step} from {point.checkpoint}")
        if point.checkpoint.is_symlink():
            self.reporter.notify(f"{point.checkpoint} is a link to {point.checkpoint.readlink()}: read through it; "
                                 f"the next checkpoint replaces the link, and what it points to stays as it is")
        for change in self.changes:
            self.reporter.notify(f"Changed on resume: {change}")
        self.notify_numerics(point.info)

    def config_yaml(self) -> str:
        """The run's config.yaml, saying what `precision: auto` means on this machine."""
        note = f"{self.training.execution.precision} on {self.kernels}"
        return self.config.to_yaml({"precision": note} if self.config.precision == "auto" else None)

    def notify_numerics(self, trained: CheckpointInfo) -> None:
        """Say in one line when the resumed steps will not compute what the run's earlier ones
        did: `precision: auto` resolving otherwise on this machine, or other kernels."""
        precision, kernels = self.training.execution.precision, self.kernels
        if trained.precision and trained.precision != precision and self.config.precision == "auto":
            self.reporter.notify(
                f"precision auto trained this run in {trained.precision} ({trained.kernels or 'another machine'}) "
                f"and means {precision} here ({kernels}): it continues in {precision}, not bit for bit as "
                f"before; --precision {trained.precision} keeps {trained.precision}")
        elif trained.kernels and trained.kernels != kernels and trained.precision == precision:
            self.reporter.notify(f"this run trained on {trained.kernels} and continues on {kernels}: the same "
                                 f"steps, rounded differently, so not bit for bit as on its own machine")

    def restore(self, point: ResumePoint) -> None:
        progress = restore_state(point.weights, point.checkpoint, point.state, self.training, self.batches,
                                 self.ema, self.config.seed, self.reporter.notify)
        self.step, self.rollbacks = progress.step, progress.rollbacks
        self.loop.set_step(self.step)

    def _build_training(self) -> Training:
        options = ExecutionOptions(self.config.precision, self.config.cuda_graphs, self.config.compile,
                                   self.config.tf32)
        execution = resolve_execution(options, self.device, data_parallel=self.world.distributed)
        for notice in execution.notices:
            self.reporter.notify(notice)
        try:
            return build_training(self.architecture, self.arch_config, self.shape, self.loss, execution,
                                  self.config.seed, notify=self.reporter.notify, world=self.world,
                                  sync_bn=self.config.sync_bn, classes=len(self.classes),
                                  augment=self.config.augment, r1=self.config.r1)
        except ValueError as err:
            raise ConfigError(f"arch {self.config.arch} cannot make {self.shape} images: {err}") from None

    def _run_scorer(self, images, feature_extractor):
        from gancli.metrics.features import inception_extractor  # the FID network loads only when asked for
        from gancli.training.best import RunScorer, recorded_best

        config = self.config
        extractor = None
        if "fid" in config.eval_metrics:
            def extractor():
                return feature_extractor or inception_extractor(
                    Path(config.inception) if config.inception else None, self.device)
        if "classifier" in config.eval_metrics and images.labels is None:
            raise ConfigError(f"eval_metrics: the classifier measures need class labels, and dataset "
                              f"{config.data} has none")
        best = recorded_best(self.run.metrics_path) if self.run.best_checkpoint.exists() else float("inf")
        name, _ = parse_data(config.data, config.data_root)
        split = resolve_split(datasets.get(name), name, config.split)
        return RunScorer(images, config.data, split, config.eval_num, bool(self.classes), extractor,
                         "classifier" in config.eval_metrics, best, notify=self.reporter.notify)

    @property
    def epoch(self) -> int:
        return self.step // self.steps_per_epoch

    @property
    def sampled_generator(self) -> torch.nn.Module:
        """The generator users sample: the moving average when the run keeps one."""
        return self.ema.module if self.ema is not None else self.training.generator

    def networks(self) -> dict[str, torch.nn.Module]:
        networks = {"generator": self.training.generator, "discriminator": self.training.discriminator}
        if self.ema is not None:
            networks["generator_ema"] = self.ema.module
        return networks

    # -- what the run writes -------------------------------------------------------------

    def checkpoint_info(self, checkpoint_id: str) -> CheckpointInfo:
        plugin = self.arch_plugin
        hparams = self.architecture.config_dict(self.arch_config)
        # The learning rates in effect, which a rollback may have lowered.
        hparams.update(lr_g=self.training.opt_g.param_groups[0]["lr"], lr_d=self.training.opt_d.param_groups[0]["lr"])
        return CheckpointInfo(
            arch=plugin.name, hparams=hparams, image_shape=self.shape,
            latent_dim=self.arch_config.latent_dim, dataset=self.config.data, step=self.step, epoch=self.epoch,
            seed=self.config.seed, loss=self.loss_name, arch_package=plugin.package,
            arch_version=plugin.version, gancli_version=__version__, config=self.config.to_dict(),
            ema_decay=self.ema.decay if self.ema else None, checkpoint_id=checkpoint_id, run_id=self.run_id,
            classes=self.classes, precision=self.training.execution.precision,
            kernels=self.kernels,
        )

    def save(self) -> bool:
        """Checkpoint the run (step-numbered and `last`), each with its training state.

        Returns False, writing nothing, when the weights are not finite and the run rolled back.
        """
        if not self.check_health(self.step):
            return False
        self.world.on_main(self.write_checkpoint)
        return True

    def write_checkpoint(self) -> None:
        checkpoint_id = uuid.uuid4().hex
        info = self.checkpoint_info(checkpoint_id)
        state = capture_state(checkpoint_id, Progress(self.step, self.rollbacks), self.config.to_dict(),
                              self.dataset_images, self.training, self.batches)
        self.run.write_checkpoint(self.step, self.networks(), info, state)
        self.run.prune(self.config.keep_last, self.run_id)

    def save_samples(self) -> None:
        if not self.world.is_main:
            return
        images = torch.cat(list(images_from_latents(self.training.generator, self.fixed_latent, self.device,
                                                    labels=self.fixed_labels)))
        save_grid(images, self.run.sample_path(self.step), nrow=GRID_COLUMNS)
        self.loggers.image(self.step, "samples", grid_pixels(images, nrow=GRID_COLUMNS))
        self.timelapse.submit(self.run.sample_grids(), self.run.timelapse)

    def evaluate(self) -> None:
        """Score the generator, log the scores, and keep the checkpoint when FID is the best so far."""
        from gancli.training.best import describe_scores

        evaluation = self.scorer.score(self.sampled_generator, self.sample_latent, self.device)
        if evaluation.improved:
            try:
                save_checkpoint(self.run.best_checkpoint, self.networks(), self.checkpoint_info(uuid.uuid4().hex))
            except OSError as err:
                raise GancliError(f"cannot write {self.run.best_checkpoint}: {err.strerror or err}") from None
        self.loggers.scalars(self.step, {"epoch": self.epoch, **evaluation.scores})
        self.reporter.notify(f"step {self.step}  {describe_scores(evaluation.scores)}"
                             + ("  (best so far)" if evaluation.improved else ""))

    # -- divergence ----------------------------------------------------------------------

    def parameters(self):
        return [*self.training.generator.parameters(), *self.training.discriminator.parameters()]

    def check_health(self, step: int, probe: list[float] | None = None) -> bool:
        """True when nothing went non-finite; otherwise stop, or roll back and return False."""
        bad_step, finite = probe if probe is not None else self.probe().tolist()
        if bad_step < 0 and finite:
            return True
        problem = divergence_message(int(bad_step), step)
        if self.config.on_nan == "rollback" and self.rollbacks < self.config.max_rollbacks \
                and can_resume(self.run.root):
            self.roll_back(problem)
            return False
        raise diverged(problem, self.run.root, self.run.last_checkpoint if can_resume(self.run.root) else None,
                       self.config.on_nan == "rollback")

    def roll_back(self, problem: str) -> None:
        optimizers = (self.training.opt_g, self.training.opt_d)
        lowered = [[group["lr"] * self.config.rollback_lr_factor for group in opt.param_groups] for opt in optimizers]
        rollbacks = self.rollbacks + 1  # the checkpoint's own count would undo this one
        self.restore(find_resume_point(self.run.root))
        self.rollbacks = rollbacks
        for optimizer, rates in zip(optimizers, lowered):
            for group, lr in zip(optimizer.param_groups, rates):
                group["lr"] = lr
        self.loop.state_replaced()
        self.guard.reset()
        self.start_interval()
        if self.world.is_main:
            self.run.truncate_metrics(self.step)
            self.open_loggers()  # what they logged past the step rolled back to is dropped
        self.reporter.notify(f"{problem}; rolled back to step {self.step} with learning rates "
                             f"lr_g {lowered[0][0]:.3g}, lr_d {lowered[1][0]:.3g} "
                             f"(rollback {self.rollbacks} of {self.config.max_rollbacks})")

    # -- the loop --------------------------------------------------------------------------

    def train_step(self) -> None:
        self.loop()  # the batches, both updates, the totals, the guard and the EMA: on the device
        self.step += 1
        self.interval_steps += 1
        self.reporter.advance(self.step, self.epoch)
        self.digests.record(self.step, self.parameters())

    def probe(self) -> torch.Tensor:
        """The divergence guard's probe, agreed by all ranks: the latest bad step any rank saw,
        and finite only where every rank's weights are."""
        probe = self.guard.probe(self.parameters())
        if self.world.distributed:
            flip = torch.tensor([1.0, -1.0], device=self.device)  # the max of -finite is -(its min)
            probe = self.world.all_reduce_(probe * flip, op=torch.distributed.ReduceOp.MAX) * flip
        return probe

    def agreed_signal(self, signals: StopSignals) -> signal.Signals | None:
        """The signal any rank received, so all stop after the same step."""
        received = signals.received.value if signals.received else 0
        if self.world.distributed:
            (received,) = self.world.agree_max([received])
        return signal.Signals(received) if received else None

    def log_interval(self) -> bool:
        """Log the interval's mean statistics; False when it diverged and the run rolled back."""
        probe = self.probe()
        totals = self.world.all_reduce_(self.loop.totals) / self.world.size
        *means, bad_step, finite = torch.cat([totals / self.interval_steps, probe]).tolist()  # one sync
        healthy = self.check_health(self.step, [bad_step, finite])
        if healthy:
            elapsed = time.perf_counter() - self.interval_start
            images = self.interval_steps * self.config.batch_size * self.d_steps
            self.metrics = {"step": self.step, "epoch": self.epoch, **dict(zip(STAT_NAMES, means)),
                            "images_per_s": images / elapsed}
            if self.world.is_main:
                self.loggers.scalars(self.step, {k: v for k, v in self.metrics.items() if k != "step"})
            self.reporter.metrics(self.metrics)
        self.start_interval()
        return healthy

    def show_first_reading(self) -> None:
        """Show the first step's losses at once rather than after `log_every` steps: one host
        read, for the person watching; nothing is logged."""
        means = (self.loop.totals / self.interval_steps).tolist()
        elapsed = time.perf_counter() - self.interval_start
        self.reporter.metrics({"step": self.step, "epoch": self.epoch, **dict(zip(STAT_NAMES, means)),
                               "images_per_s": self.interval_steps * self.config.batch_size * self.d_steps / elapsed})

    def start_interval(self) -> None:
        self.loop.reset_totals()
        self.interval_steps, self.interval_start = 0, time.perf_counter()

    def run_loop(self) -> RunResult:
        config = self.config
        self.metrics: dict[str, Any] = {}
        self.start_interval()
        self.reporter.start(self.total_steps, self.steps_per_epoch, self.step)
        self.reporter.notify(f"step: {self.loop.effective_execution.describe()}")
        signals = StopSignals()
        first_step = self.step + 1
        try:
            with signals:
                while self.step < self.total_steps:
                    self.train_step()
                    last = self.step == self.total_steps
                    if self.step == first_step and self.step % config.log_every and not last:
                        self.show_first_reading()
                    stop = self.agreed_signal(signals) if signal_check_due(
                        self.step, last, config.log_every, self.world.distributed) else None
                    if (self.step % config.log_every == 0 or last) and not self.log_interval():
                        continue
                    if config.sample_every and (self.step % config.sample_every == 0 or last):
                        self.save_samples()
                    if self.scorer and (self.step % config.eval_every == 0 or last):
                        self.evaluate()
                    checkpoint_due = config.checkpoint_every and self.step % config.checkpoint_every == 0
                    if (checkpoint_due or last or stop) and not self.save():
                        continue
                    if stop and not last:
                        raise TrainingInterrupted(
                            f"stopped by {stop.name} at step {self.step}; checkpoint: "
                            f"{self.run.last_checkpoint}; continue with: gancli train --resume {self.run.root}",
                            exit_code=EXIT_CODES.get(stop, 1))
        except KeyboardInterrupt:
            if signals.received is None:
                raise
            self.record_ending(self.interrupted_twice(signals.received))
        except GancliError as err:
            self.record_ending(err)
        finally:
            self.reporter.stop()
            self.timelapse.close()
        self.record_ending(None)
        return RunResult(self.run.root, self.run.last_checkpoint, self.step, self.metrics)

    def record_ending(self, err: GancliError | None) -> None:
        """Write how the run ended to status.json (rank 0), then raise `err` if there is one."""
        if self.world.is_main:
            with contextlib.suppress(GancliError):  # a full disk must not hide the error being reported
                self.run.write_status(ending_state(err), self.step, str(err) if err else "")
        if err is not None:
            raise err from None

    def interrupted_twice(self, first: signal.Signals) -> TrainingInterrupted:
        """What a second signal, which stops at once, leaves behind: the newest complete checkpoint."""
        try:
            point = find_resume_point(self.run.root)
            kept = f"the newest complete checkpoint is {point.checkpoint} (step {point.state.step}); " \
                   f"continue with: gancli train --resume {self.run.root}"
        except GancliError:
            kept = "no complete checkpoint was written"
        return stopped_twice(first, self.step, kept)

def train(config: TrainConfig, reporter: Reporter | None = None, overwrite: bool = False,
          resume: ResumePoint | Path | None = None, feature_extractor=None) -> RunResult:
    """Train as `config` says and return where the run went; `resume` continues a run folder
    (or a `ResumePoint` found in one) exactly where its newest checkpoint left it;
    `feature_extractor` replaces the FID network of `eval_every` (a small stand-in, or another)."""
    device = resolve_device(config.device)
    use_device(device)
    world = join(device, config.sync_bn)
    try:
        trainer = Trainer(config, reporter, overwrite=overwrite,
                          resume=resume, feature_extractor=feature_extractor, world=world)
        try:
            return trainer.run_loop()
        finally:
            trainer.close()
            trainer.drop_networks()
    finally:
        gc.collect()  # whatever the networks left in reference cycles, while the process group exists
        world.close()
