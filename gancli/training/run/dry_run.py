"""A dry run: what `gancli train` would do, said and timed without writing anything.

    from gancli.config import TrainConfig
    from gancli.training.run.dry_run import dry_run
    plan = dry_run(TrainConfig(data="synthetic", steps=500, device="cpu"))
    print(plan.total_steps, plan.eta_seconds)

The model is resolved and the data read as the run reads them (nothing is downloaded), the step
assembled as the run assembles it, and a few steps timed on those batches. No folder is created
or locked and no file is written, so a dry run may look at a folder another run is writing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from gancli.config import TrainConfig
from gancli.core.device import resolve_device, use_device
from gancli.core.shapes import ImageShape
from gancli.datasets import datasets
from gancli.datasets.loading import default_data_root, load_images, parse_data, resolve_split
from gancli.errors import ConfigError, GancliError
from gancli.training.run.folder import RunFolder, default_run_dir
from gancli.training.run.resume import ResumePoint, check_compatible, run_architecture
from gancli.training.run.setup import small_batch_notice
from gancli.training.step.assembly import arch_config_for, assemble_step, check_shape, resolve_model
from gancli.training.step.batches import make_batches
from gancli.training.step.distributed import World
from gancli.training.step.execution import kernels_of

TIMED_STEPS = 5
WARMUP_STEPS = {"cuda": 10, "cpu": 2}  # CUDA: past the graph's capture (after 3 eager steps) and cuDNN's autotuning


@dataclass(frozen=True)
class Output:
    path: str   # inside the run folder
    what: str


@dataclass
class DryRun:
    """What a run would be: its config, data, steps, files and time."""

    config: TrainConfig               # resolved, `out` filled in
    out: Path
    first_step: int                   # where training starts: 0, or the step a resume continues from
    resume_checkpoint: Path | None
    changes: list[str]                # what a resume changes
    data: str                         # the dataset and split, e.g. "synthetic (train)"
    images: int | None                # training images; None when their files are not here yet
    shape: ImageShape
    classes: tuple[str, ...]          # a conditional run's
    steps_per_epoch: int | None
    total_steps: int | None
    execution: str                    # how the step runs, e.g. "eager, bf16, channels-last, fused adam"
    precision: str
    kernels: str
    seconds_per_step: float
    timed_steps: int
    outputs: list[Output] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def eta_seconds(self) -> float | None:
        """The steps still to train at the timed pace; evaluations, grids and checkpoints add to it."""
        if self.total_steps is None:
            return None
        return max(0, self.total_steps - self.first_step) * self.seconds_per_step

    def config_yaml(self) -> str:
        """The config as the run folder's config.yaml would hold it."""
        note = f"{self.precision} on {self.kernels}"
        return self.config.to_yaml({"precision": note} if self.config.precision == "auto" else None)


def due(every: int, first: int, total: int) -> int:
    """How many steps in (first, total] do a thing done every `every` steps and at the last."""
    if not every or total <= first:
        return 0
    return total // every - first // every + (total % every != 0)


def outputs_of(config: TrainConfig, first: int, total: int | None) -> list[Output]:
    """The files a run writes into its folder, and how often."""
    def every(steps: int) -> str:
        return f"every {steps:,} steps" + ("" if total is None else f" ({due(steps, first, total):,})")

    scores = list(config.eval_metrics) if config.eval_every else []
    metrics = f"losses {every(config.log_every)}"
    if scores:
        metrics += f"; {' and '.join(scores)} {every(config.eval_every)}"
    outputs = [Output("config.yaml", "the config above"), Output("metrics.jsonl", metrics)]
    if config.sample_every:
        outputs.append(Output("samples/step-*.png", f"a grid {every(config.sample_every)}, and timelapse.gif"))
    if config.checkpoint_every:
        kept = f", the newest {config.keep_last} kept" if config.keep_last else ""
        outputs.append(Output("checkpoints/step-*.safetensors", every(config.checkpoint_every) + kept))
    outputs += [Output("checkpoints/last.safetensors", "the newest checkpoint, also at the end"),
                Output("state/", "beside each checkpoint: what --resume needs")]
    if "fid" in scores:
        outputs.append(Output("checkpoints/best.safetensors", "the checkpoint of the lowest FID"))
    outputs += [Output(f"{name}/", f"the {name} logger's files") for name in config.loggers]
    outputs.append(Output("status.json", "how the run ended"))
    return outputs


def dry_run(config: TrainConfig, resume: ResumePoint | None = None, overwrite: bool = False,
            timed_steps: int = TIMED_STEPS, notify: Callable[[str], None] | None = None) -> DryRun:
    """What training `config` (continuing `resume`, when given) would do, with `timed_steps`
    steps of it timed; nothing is written. Raises what the run would raise before its first step."""
    notices: list[str] = []

    def note(text: str) -> None:
        notices.append(text)
        if notify is not None:
            notify(text)

    device = resolve_device(config.device)
    use_device(device)
    world = World(device=device)
    if resume is None:
        out = Path(config.out) if config.out else default_run_dir(config.arch, config.data)
        folder = RunFolder(out)
        folder.refuse_foreign()
        if folder.holds_run() and not overwrite:
            raise GancliError(f"{out} already holds a run; choose another --out, pass --resume {out} to continue "
                              f"it, or --overwrite to move it aside")
    else:
        out = resume.run_dir
    config = replace(config, out=str(out))
    arch = config.arch if resume is None else run_architecture(config.arch, resume.info)
    model = resolve_model(config, arch)
    saved = None if resume is None else model.architecture.config_dict(arch_config_for(model.architecture, resume.config))
    changes = [] if resume is None else check_compatible(resume, config, model.hparams(), saved)
    if config.image_size is not None:
        check_shape(model, ImageShape(config.channels or 3, config.image_size, config.image_size))

    name, root = parse_data(config.data, config.data_root)
    dataset = datasets.get(name)
    split = resolve_split(dataset, name, config.split)
    if dataset.files_present(root or default_data_root(), split):
        images = load_images(config.data, split, config.data_root, False, config.image_size, config.channels, note)
        pixels, labels, count = images.pixels, images.labels, images.pixels.shape[0]
        classes = tuple(images.classes or ()) if config.conditional else ()
        if config.conditional and (labels is None or len(classes) < 2):
            raise ConfigError(f"conditional: dataset {config.data} has no class labels to learn")
        if resume is not None and resume.state.dataset_images != count:
            raise ConfigError(f"cannot resume {resume.run_dir}: dataset {config.data} had "
                              f"{resume.state.dataset_images} images, now {count}")
    else:  # timed on random images of the shape it would have
        native = dataset.native_shape
        size = config.image_size or native.height
        shape = ImageShape(config.channels or native.channels, size, size)
        count = None
        classes = dataset.class_names if config.conditional else ()
        generator = torch.Generator().manual_seed(config.seed)
        pixels = torch.randint(0, 256, (config.batch_size * model.d_steps * 2, *shape.as_tuple()),
                               dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, len(classes), (pixels.shape[0],), generator=generator) if classes else None
        note(f"dataset {name}'s {split} files are not under {root or default_data_root()} yet: the run "
             + ("downloads them first" if config.download else "stops (--no-download)")
             + "; these steps are timed on random images of its shape")
    shape = ImageShape(*pixels.shape[1:])
    step = assemble_step(config, model, shape,
                         lambda execution: make_batches(pixels, labels if classes else None, config, world,
                                                        execution.channels_last, note),
                         world, len(classes), note)
    notice = small_batch_notice(config, world)
    if notice:
        note(notice)
    seconds = time_steps(step.device_step, device, timed_steps)

    steps_per_epoch = None if count is None else max(1, count // config.batch_size * config.echo // model.d_steps)
    total = config.steps or (config.epochs * steps_per_epoch if steps_per_epoch else None)
    first = resume.state.step if resume is not None else 0
    return DryRun(config=config, out=out, first_step=first, resume_checkpoint=resume.checkpoint if resume else None,
                  changes=changes, data=f"{name} ({split})", images=count, shape=shape, classes=tuple(classes),
                  steps_per_epoch=steps_per_epoch, total_steps=total,
                  execution=step.device_step.effective_execution.describe(),
                  precision=step.training.execution.precision, kernels=kernels_of(device),
                  seconds_per_step=seconds, timed_steps=timed_steps, outputs=outputs_of(config, first, total),
                  notices=notices)


def time_steps(device_step: Callable[[], None], device: torch.device, steps: int) -> float:
    """Seconds a step takes, over `steps` steps after a warm-up."""
    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(WARMUP_STEPS.get(device.type, 2)):
        device_step()
    synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        device_step()
    synchronize()
    return (time.perf_counter() - started) / steps
