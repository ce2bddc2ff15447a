"""Building a run from its config: the folder and its lock, the model, the data, the step, the
loggers and the scorer; a resumed run restored from its newest checkpoint.

`set_up_run` builds everything a run is and `Trainer` only runs it, so building a run and running
it never share a function. Mistakes in what the config asks surface here, before any step.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from gancli.checkpoints.format import CheckpointInfo
from gancli.checkpoints.generator import architecture_for
from gancli.config import TrainConfig
from gancli.core.device import resolve_device
from gancli.core.shapes import ImageShape
from gancli.datasets import Images, datasets
from gancli.datasets.loading import load_images, parse_data, resolve_split, unlabelled_hint
from gancli.errors import ConfigError
from gancli.loggers import Loggers
from gancli.training.reporting import Reporter
from gancli.training.run.folder import RunFolder, default_run_dir
from gancli.training.run.lock import RunLock
from gancli.training.run.parts import Run, RunData, sample_grid
from gancli.training.run.resume import ResumePoint, check_compatible, find_resume_point, run_architecture, run_dataset
from gancli.training.step.assembly import arch_config_for, assemble_step, check_shape, resolve_model
from gancli.training.step.batches import make_batches
from gancli.training.step.distributed import World
from gancli.training.step.execution import kernels_of

if TYPE_CHECKING:
    from gancli.training.run.best import RunScorer


#: Per device type, the batch (per device) below which a step leaves the device mostly idle: a
#: DCGAN step on a data-centre GPU is bound by its kernels' latency, not arithmetic, well below 128
#: images; the seed's own 64 is let be. A CPU is not: there a step of 128 costs about 6.4 of 16.
SMALL_BATCH = {"cuda": 64}
LARGE_BATCH_RECIPE = "examples/mnist-large-batch.yaml"


def small_batch_notice(config: TrainConfig, world: World) -> str | None:
    """One line when `config`'s batch is small for `world`'s device, naming the large-batch recipe."""
    per_device = config.batch_size // world.size
    smallest = SMALL_BATCH.get(world.device.type)
    if smallest is None or per_device >= smallest:
        return None
    where = f"{per_device} per GPU" if world.size > 1 else f"{per_device}"
    return (f"batch {where} is small for {world.device.type} (a step this size is bound by latency, not "
            f"arithmetic); {LARGE_BATCH_RECIPE} trains at 128 with --echo 3 to the batch-16 recipe's "
            f"quality in the same epochs and 0.37x the steps")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def set_up_run(config: TrainConfig, reporter: Reporter | None = None, overwrite: bool = False,
               resume: ResumePoint | Path | None = None, feature_extractor=None, world: World | None = None) -> Run:
    """The run `config` asks for, or the one in the folder `resume` names, ready to train.
    Under torchrun every rank builds the same run; rank 0 alone reports and writes."""
    world = world or World(device=resolve_device(config.device))
    reporter = (reporter or Reporter()) if world.is_main else Reporter()
    if resume is None:
        out = Path(world.share_text(config.out or str(default_run_dir(config.arch, config.data))))
    else:  # the folder alone: what it holds is read once it is locked
        out = Path(resume.run_dir if isinstance(resume, ResumePoint) else resume)
    config = dataclasses.replace(config, out=str(out))
    run = Run(config, world, reporter, RunFolder(out), RunLock(out))
    if resume is None:
        world.on_main(run.folder.refuse_foreign)  # before the lock file is put there
    world.on_main(run.lock.acquire)  # one writer per run folder, before anything is read from it
    try:
        # What is resumed is what the folder holds now that no one else can write it.
        _build(run, find_resume_point(out) if resume is not None else None, overwrite, feature_extractor)
    except BaseException:
        run.close()
        raise
    return run


def _build(run: Run, resume: ResumePoint | None, overwrite: bool, feature_extractor) -> None:
    config, world, notify = run.config, run.world, run.reporter.notify
    seed_everything(config.seed)
    # A resumed run's architecture is the one its checkpoint names, package included.
    arch = config.arch if resume is None else run_architecture(config.arch, resume.info)
    if resume is not None and arch == f"{resume.info.arch_package}:{resume.info.arch}":
        architecture_for(resume.info, resume.checkpoint)  # not installed: says which package and version
    model = resolve_model(config, arch)
    # Before any data is read: a resume that changes what defines the run stops here.
    changes = [] if resume is None else check_compatible(
        resume, config, model.hparams(),
        model.architecture.config_dict(arch_config_for(model.architecture, resume.config)))
    run.loggers = Loggers(config.loggers, notify)  # an unknown logger stops the run before it starts
    if config.image_size is not None:
        check_shape(model, ImageShape(config.channels or 3, config.image_size, config.image_size))
    # A resumed run's dataset too: its own entry, whatever else registers the name since.
    data = config.data if resume is None else run_dataset(config.data, resume.info)
    images = world.main_first(lambda: load_images(  # rank 0 first: one download
        data, config.split, config.data_root, config.download, config.image_size, config.channels, notify))
    name, _ = parse_data(data, config.data_root)
    # A registry entry's package is recorded; a folder or a pack file is found by its path.
    package = datasets.find(name).package if name == data and name != "folder" else ""
    run.data = RunData(images.shape, images.pixels.shape[0], _classes_of(config, images), data, package)
    labels = images.labels if run.data.classes else None
    run.step = assemble_step(
        config, model, images.shape,
        lambda execution: make_batches(images.pixels, labels, config, world, execution.channels_last, notify),
        world, len(run.data.classes), notify)
    notice = small_batch_notice(config, world)
    if notice:
        notify(notice)
    run.kernels = kernels_of(world.device)
    run.grid = sample_grid(model, run.data.classes, config.seed)
    if resume is None:
        run.run_id = uuid.uuid4().hex
        world.on_main(lambda: RunFolder.create(run.folder.root, run.config_yaml(), overwrite=overwrite, notify=notify))
        world.on_main(run.open_loggers)
    else:
        # A run from before run IDs gets one now; what it wrote earlier is never pruned.
        run.run_id = resume.info.run_id or uuid.uuid4().hex
        _resume(run, resume, changes)  # opens the loggers
    if config.eval_every and world.is_main:
        run.scorer = _scorer(run, images, feature_extractor)


def _classes_of(config: TrainConfig, images: Images) -> tuple[str, ...]:
    """The classes a conditional run learns (the dataset's); none for an unconditional run."""
    if not config.conditional:
        return ()
    folder = parse_data(config.data, None)[0] == "folder"
    if images.labels is None or not images.classes:
        hint = unlabelled_hint(config.data, config.data_root)  # names the images that took the labels away
        raise ConfigError(f"conditional: dataset {config.data} has no class labels{hint}")
    if len(images.classes) < 2:  # one class is nothing to condition on: train it unconditionally
        hint = " (a folder's classes are its subfolders)" if folder else ""
        raise ConfigError(f"conditional: dataset {config.data} has one class ({images.classes[0]}), and a "
                          f"conditional GAN needs two or more{hint}; train without --conditional")
    return images.classes


def _resume(run: Run, point: ResumePoint, changes: list[str]) -> None:
    config, notify, training = run.config, run.reporter.notify, run.step.training
    if point.state.dataset_images != run.data.count:
        raise ConfigError(f"cannot resume {point.run_dir}: dataset {config.data} had "
                          f"{point.state.dataset_images} images, now {run.data.count}")
    run.restore(point)
    # A learning rate given anew wins; otherwise the saved one (perhaps lowered by rollbacks) stays.
    asked, saved = run.step.model.arch_config, arch_config_for(run.step.model.architecture, point.config)
    for optimizer, asked_lr, saved_lr in ((training.opt_g, asked.lr_g, saved.lr_g),
                                          (training.opt_d, asked.lr_d, saved.lr_d)):
        if asked_lr != saved_lr:
            for group in optimizer.param_groups:
                group["lr"] = asked_lr
    # Before the folder changes: a logger that cannot start (RUN/tensorboard blocked) leaves it as it was.
    run.world.on_main(run.open_loggers)
    run.world.on_main(lambda: RunFolder.reopen(point.run_dir, run.config_yaml(), run.progress.step))
    for reason in point.skipped:
        notify(f"Skipped a newer checkpoint: {reason}")
    notify(f"Resuming {point.run_dir} at step {run.progress.step} from {point.checkpoint}")
    if point.checkpoint.is_symlink():
        notify(f"{point.checkpoint} is a link to {point.checkpoint.readlink()}: read through it; "
               f"the next checkpoint replaces the link, and what it points to stays as it is")
    for change in changes:
        notify(f"Changed on resume: {change}")
    _notify_numerics(run, point.info)


def _notify_numerics(run: Run, trained: CheckpointInfo) -> None:
    """Say in one line when the resumed steps will not compute what the run's earlier ones
    did: `precision: auto` resolving otherwise on this machine, or other kernels."""
    precision, kernels = run.step.training.execution.precision, run.kernels
    if trained.precision and trained.precision != precision and run.config.precision == "auto":
        run.reporter.notify(
            f"precision auto trained this run in {trained.precision} ({trained.kernels or 'another machine'}) "
            f"and means {precision} here ({kernels}): it continues in {precision}, not bit for bit as "
            f"before; --precision {trained.precision} keeps {trained.precision}")
    elif trained.kernels and trained.kernels != kernels and trained.precision == precision:
        run.reporter.notify(f"this run trained on {trained.kernels} and continues on {kernels}: the same "
                            f"steps, rounded differently, so not bit for bit as on its own machine")


def _scorer(run: Run, images: Images, feature_extractor) -> RunScorer:
    from gancli.metrics.features import inception_extractor  # the FID network loads only when asked for
    from gancli.training.run.best import RunScorer, best_to_beat

    config = run.config
    def fid_extractor():
        return feature_extractor or inception_extractor(Path(config.inception) if config.inception else None,
                                                        run.device)
    extractor = fid_extractor if "fid" in config.eval_metrics else None
    if "classifier" in config.eval_metrics and images.labels is None:
        raise ConfigError(f"eval_metrics: the classifier measures need class labels, and dataset "
                          f"{config.data} has none")
    name, _ = parse_data(run.data.name, config.data_root)
    split = resolve_split(datasets.get(name), name, config.split)
    scorer = RunScorer(images, config.data, split, config.eval_num, bool(run.data.classes), extractor,
                       "classifier" in config.eval_metrics, notify=run.reporter.notify,
                       generator="EMA" if run.step.ema is not None else "raw", device=run.device)
    scorer.best_fid = best_to_beat(run.folder.best_checkpoint, run.folder.metrics_path, scorer.protocol,
                                   run.reporter.notify)
    return scorer
