"""The one assembly of a training step from a `TrainConfig`: the model it asks for, the networks,
their optimisers and the step around them.

`train`, `gancli bench` and the benchmarks all build through `resolve_model` and
`assemble_step`, so what bench times is by construction what train runs: the same loss and label
smoothing, penalties, augmentation, D updates per step, EMA and precision.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import torch
from torch import nn

from gancli.architectures import ArchConfig, Architecture, architectures, build_networks, conditional_names
from gancli.config import TrainConfig
from gancli.core.registry import Plugin
from gancli.core.shapes import ImageShape
from gancli.errors import ConfigError, RegistryError
from gancli.losses import R1, GANLoss, make_loss
from gancli.training.step.augment import DiffAugment
from gancli.training.step.batches import Batches, RealBatch
from gancli.training.step.device_step import DeviceStep
from gancli.training.step.distributed import World
from gancli.training.step.divergence import DivergenceGuard
from gancli.training.step.ema import GeneratorEMA
from gancli.training.step.execution import Execution, ExecutionOptions, configure_backends, resolve_execution
from gancli.training.step.gan_step import GANStep
from gancli.training.step.networks import AutocastChannelsLast, CompiledNetwork, say_once


@dataclass(frozen=True)
class Model:
    """What a config asks to train: an architecture (its registry entry and hyperparameters) and a loss."""

    plugin: Plugin
    architecture: Architecture
    arch_config: ArchConfig
    loss_name: str
    loss: GANLoss
    d_steps: int  # D updates per step, each on its own real batch

    def sample_latent(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return self.architecture.sample_latent(n, self.arch_config, generator=generator, device=device)

    def hparams(self) -> dict[str, Any]:
        return self.architecture.config_dict(self.arch_config)

    def describe(self) -> str:
        """The architecture as a plugin's failure names it: entry, package and version."""
        return f"arch {self.plugin.qualified_name} {self.plugin.version}"


def arch_config_for(architecture: Architecture, config: TrainConfig | dict[str, Any]) -> ArchConfig:
    """The hyperparameters a config asks of its architecture: `model:`, with `lr` for both rates."""
    values = config.to_dict() if isinstance(config, TrainConfig) else config
    arch_config = architecture.make_config(values.get("model"))
    if values.get("lr") is not None:
        arch_config = dataclasses.replace(arch_config, lr_g=values["lr"], lr_d=values["lr"])
    return arch_config


def resolve_model(config: TrainConfig, arch: str | None = None) -> Model:
    """The model `config` asks for; `arch` names the architecture's entry instead of `config.arch`
    (a resumed run's, qualified with the package that made it). Mistakes are `ConfigError`s."""
    plugin = architectures.find(arch or config.arch)
    architecture = architectures.load(plugin)
    try:
        arch_config = arch_config_for(architecture, config)
    except ValueError as err:
        raise ConfigError(f"model: {err}") from None
    if config.conditional and not architecture.conditional:
        raise ConfigError(f"conditional: arch {config.arch} is not class-conditional; "
                          f"conditional architectures: {', '.join(conditional_names()) or 'none'}")
    loss_name = config.loss or architecture.default_loss
    try:
        # The default loss is looked up in the architecture's own package first.
        loss = make_loss(loss_name, config.smooth, prefer_package=plugin.package if config.loss is None else None)
    except ValueError as err:
        raise ConfigError(f"loss: {err}") from None
    if config.sync_bn and (config.r1 or loss.penalties() or architecture.penalties(arch_config)):
        # SyncBatchNorm's backward is not itself differentiable, and a gradient penalty needs D's
        # input gradients differentiated once more.
        penalty = "r1" if config.r1 else f"the penalty of loss {loss_name}" if loss.penalties() \
            else f"arch {config.arch}'s gradient penalty"
        raise ConfigError(f"sync_bn: synchronised batch norm cannot be differentiated twice, as {penalty} needs; "
                          f"train without --sync-bn (each process then normalises its own share) or without the penalty")
    return Model(plugin, architecture, arch_config, loss_name, loss, config.d_steps or architecture.d_steps)


def check_shape(model: Model, shape: ImageShape, classes: int = 0) -> None:
    """Refuse a shape the architecture cannot make before any image is read or resized: the
    networks are built on the meta device, which allocates nothing."""
    try:
        with torch.device("meta"):
            build_networks(model.architecture, shape, model.arch_config, classes)
    except ValueError as err:
        raise ConfigError(f"image_size: arch {model.plugin.name} cannot make {shape} images: {err}") from None
    except Exception:
        pass  # an architecture that cannot build on meta is checked when it is built for real


def check_networks(model: Model, generator: nn.Module, discriminator: nn.Module, shape: ImageShape,
                   classes: int = 0, count: int = 2) -> None:
    """Run both networks once on `count` latents and refuse, in one line naming the plugin, a
    generator that does not make `shape` images in [-1, 1] or a discriminator that does not
    give one logit per image. In eval mode and without gradients, so no statistic, weight or
    random stream the run depends on changes; both are left in train mode."""
    device = next(iter(generator.parameters()), torch.empty(0)).device
    latents = model.sample_latent(count, generator=torch.Generator().manual_seed(0)).to(device)
    labels = (torch.arange(count, device=device) % classes,) if classes else ()
    expected = (count, *shape.as_tuple())
    try:
        with torch.no_grad():
            generator.eval(), discriminator.eval()
            images = generator(latents, *labels)
            if not isinstance(images, torch.Tensor) or tuple(images.shape) != expected:
                made = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
                raise RegistryError(f"{model.describe()}: its generator made {made} from {count} latents, "
                                    f"not {count} images of {shape} {expected}")
            if not torch.isfinite(images).all() or images.abs().max() > 1 + 1e-3:
                raise RegistryError(f"{model.describe()}: its generator's images are not in [-1, 1] "
                                    f"(a generator ends in tanh; got {images.min():.3g} to {images.max():.3g})")
            logits = discriminator(images, *labels)
            if not isinstance(logits, torch.Tensor) or tuple(logits.shape) not in ((count,), (count, 1)):
                made = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                raise RegistryError(f"{model.describe()}: its discriminator gave {made} for {count} images, "
                                    f"not one logit per image ({count},)")
    except RegistryError:
        raise
    except Exception as err:  # a plugin's forward may fail in any way: name it, in one line
        raise RegistryError(f"{model.describe()}: its networks fail on {count} {shape} images: "
                            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err
    finally:
        generator.train(), discriminator.train()


@dataclass
class Training:
    """What a run trains: the plain networks (for samples and checkpoints), their optimisers, and
    `gan_step`, the GAN step as it executes (one call: D's updates, then G's), eager; a
    `DeviceStep` runs it, on CUDA inside one captured graph."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    gan_step: Callable[[Sequence[RealBatch]], torch.Tensor]
    execution: Execution
    latent_rng: torch.Generator  # the step's draws (latents, augmentations); saved and restored with the run
    scaler: torch.amp.GradScaler | None = None  # fp16 only; saved and restored with the run
    compiled: tuple[CompiledNetwork, ...] = ()  # with --compile: the networks compiled, each perhaps fallen back

    @property
    def effective_execution(self) -> Execution:
        """The execution as it stands now, as far as the networks go: a failed compilation of
        every compiled network shows as not compiled (`DeviceStep` adds a failed capture)."""
        execution = self.execution
        if self.compiled and all(network.fell_back for network in self.compiled):
            execution = replace(execution, compile=False)
        return execution


def build_training(config: TrainConfig, model: Model, shape: ImageShape, execution: Execution,
                   world: World | None = None, classes: int = 0,
                   notify: Callable[[str], None] = print) -> Training:
    """Fresh networks for `shape` initialised from `config.seed`, their optimisers and the GAN
    step; under data parallelism (`world`) the step trains DistributedDataParallel replicas on
    this rank's share. With `classes` > 0 the networks are class-conditional.

    Raises ValueError when the architecture cannot make `shape`.
    """
    device = execution.device
    configure_backends(execution)
    torch.manual_seed(config.seed)
    try:
        generator, discriminator = build_networks(model.architecture, shape, model.arch_config, classes)
    except ValueError:
        raise
    except Exception as err:  # a plugin's build may fail in any way: name it, in one line
        raise RegistryError(f"{model.describe()} failed to build its networks for {shape} images: "
                            f"{type(err).__name__}: {err}") from err
    generator.to(device)
    discriminator.to(device)
    check_networks(model, generator, discriminator, shape, classes)
    if execution.channels_last:
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)

    arch_config = model.arch_config
    adam = dict(betas=(arch_config.beta1, arch_config.beta2), fused=execution.fused_adam or None,
                capturable=execution.cuda_graphs)
    opt_g = torch.optim.Adam(generator.parameters(), lr=arch_config.lr_g, **adam)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=arch_config.lr_d, **adam)

    latent_rng = torch.Generator(device=device).manual_seed(config.seed + 1)
    world = world or World(device=device)

    def sample_latent(n: int) -> torch.Tensor:
        # Every rank draws the whole batch's latents from the same stream and keeps its own
        # slice: the noise differs per rank, and the stream is the same on any number of ranks.
        latents = model.sample_latent(n * world.size, generator=latent_rng, device=device)
        return latents[world.rank * n:(world.rank + 1) * n]

    step_g: nn.Module = generator
    step_d: nn.Module = discriminator
    if execution.channels_last or execution.autocast_dtype is not None:
        step_g = AutocastChannelsLast(generator, execution, float_output=False)
        step_d = AutocastChannelsLast(discriminator, execution)
    penalties = [*model.loss.penalties(), *model.architecture.penalties(arch_config),
                 *([R1(config.r1)] if config.r1 else [])]
    eager_d = step_d  # a gradient penalty differentiates D twice, which a compiled graph cannot
    compiled: tuple[CompiledNetwork, ...] = ()
    if execution.compile:
        notify_once = say_once(notify)  # both networks usually fail alike: say it once
        step_g, step_d = compiled = (CompiledNetwork(step_g, notify_once), CompiledNetwork(step_d, notify_once))
    scaler = torch.amp.GradScaler(device.type) if execution.precision == "fp16" else None
    own_d = step_d
    step_g, step_d = world.replicate(step_g, config.sync_bn), world.replicate(step_d, config.sync_bn)
    # Augmentations draw from the latents' generator: on the device, captured with the graph,
    # saved with the run; each rank augments its own images with its own draws.
    augmentation = DiffAugment(config.augment, latent_rng) if config.augment else None
    gan_step = GANStep(step_g, step_d, model.loss, opt_g, opt_d, sample_latent, penalties, scaler=scaler,
                       own_discriminator=own_d, penalized_discriminator=eager_d, augment=augmentation)
    return Training(generator, discriminator, opt_g, opt_d, gan_step, execution, latent_rng, scaler, compiled)


@dataclass
class Step:
    """A training step as assembled: what it trains, the batches it takes, the generator's EMA,
    the divergence guard, and `device_step`, the whole step as one call."""

    model: Model
    training: Training
    batches: Batches
    ema: GeneratorEMA | None
    guard: DivergenceGuard
    device_step: DeviceStep

    def parameters(self) -> list[torch.Tensor]:
        return [*self.training.generator.parameters(), *self.training.discriminator.parameters()]


def assemble_step(config: TrainConfig, model: Model, shape: ImageShape, batches_for: Callable[[Execution], Batches],
                  world: World | None = None, classes: int = 0, notify: Callable[[str], None] = print,
                  execution: Execution | None = None) -> Step:
    """The step `config` asks for on `world`'s device (or as `execution` says, when given), for
    `shape` images from the batches `batches_for(execution)` makes.

    Raises ConfigError when the architecture cannot make `shape` or the batch does not fit the data.
    """
    world = world or World(device=execution.device if execution else torch.device("cpu"))
    if execution is None:
        options = ExecutionOptions(config.precision, config.cuda_graphs, config.compile, config.tf32)
        execution = resolve_execution(options, world.device, data_parallel=world.distributed)
    for notice in execution.notices:
        notify(notice)
    try:
        training = build_training(config, model, shape, execution, world, classes, notify)
    except ValueError as err:
        raise ConfigError(f"arch {config.arch} cannot make {shape} images: {err}") from None
    try:
        batches = batches_for(execution)
    except ValueError as err:
        raise ConfigError(f"batch_size: {err}") from None
    ema = GeneratorEMA(training.generator, config.ema_decay, config.ema_start) if config.ema_decay else None
    guard = DivergenceGuard(execution.device)
    device_step = DeviceStep(training, batches, model.d_steps, ema, guard, notify)
    return Step(model, training, batches, ema, guard, device_step)
