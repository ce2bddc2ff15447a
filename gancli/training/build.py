"""Networks, optimisers and the training step for one shape, device and execution.

`train` and `bench` both build through `build_training`, so a benchmark measures exactly the
step that training runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import torch
from torch import nn

from gancli.architectures import ArchConfig, Architecture, build_networks
from gancli.core.shapes import ImageShape
from gancli.losses import R1, GANLoss
from gancli.training.augment import DiffAugment
from gancli.training.batches import RealBatch
from gancli.training.distributed import World
from gancli.training.execution import Execution, configure_backends
from gancli.training.step import GANStep


class AutocastChannelsLast(nn.Module):
    """Runs a network's forward in channels-last and autocast.

    Only the forward is autocast, as PyTorch recommends. The discriminator hands float32 back
    (`float_output`), which keeps the losses and the statistics in full precision; the
    generator's images stay in the autocast dtype, which the discriminator's first layer would
    cast them to anyway, so no float32 copy of each fake batch is held. The cast cache is off
    because a CUDA graph must not keep casts from one replay for the next.
    """

    def __init__(self, network: nn.Module, execution: Execution, float_output: bool = True):
        super().__init__()
        self.network = network
        self.channels_last = execution.channels_last
        self.device_type = execution.device.type
        self.dtype = execution.autocast_dtype
        self.float_output = float_output

    def forward(self, x: torch.Tensor, *labels: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.dtype is None:
            return self.network(x, *labels)
        with torch.autocast(self.device_type, dtype=self.dtype, cache_enabled=False):
            out = self.network(x, *labels)
        return out.float() if self.float_output else out


class CompiledNetwork(nn.Module):
    """A network through `torch.compile`, or eager with one notice if compilation fails.

    Compilation happens at the first call, before anything runs, so falling back then leaves
    the parameters and batch-norm statistics untouched.
    """

    def __init__(self, network: nn.Module, notify: Callable[[str], None]):
        super().__init__()
        self.network = network
        self.compiled: nn.Module | None = torch.compile(network)
        self.notify = notify

    @property
    def fell_back(self) -> bool:
        return self.compiled is None

    def forward(self, x: torch.Tensor, *labels: torch.Tensor) -> torch.Tensor:
        if self.compiled is not None:
            try:
                return self.compiled(x, *labels)
            except Exception as err:  # the compiler's failures come as many exception types
                lines = str(err).strip().splitlines()
                self.notify(f"torch.compile failed ({lines[0] if lines else type(err).__name__}); running eagerly")
                self.compiled = None
        return self.network(x, *labels)


@dataclass
class Training:
    """What a run trains: the plain networks (for samples and checkpoints), their optimisers, and
    `update`, the GAN step as it executes (one call: D's updates, then G's), eager; a
    `loop_step.LoopStep` runs it, on CUDA inside one captured graph."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    update: Callable[[Sequence[RealBatch]], torch.Tensor]
    execution: Execution
    latent_rng: torch.Generator  # the step's draws (latents, augmentations); saved and restored with the run
    scaler: torch.amp.GradScaler | None = None  # fp16 only; saved and restored with the run
    compiled: tuple[CompiledNetwork, ...] = ()  # with --compile: the two networks, each perhaps fallen back

    @property
    def effective_execution(self) -> Execution:
        """The execution as it stands now, as far as the networks go: a failed compilation of
        both networks shows as not compiled (`LoopStep` adds a failed capture)."""
        execution = self.execution
        if self.compiled and all(network.fell_back for network in self.compiled):
            execution = replace(execution, compile=False)
        return execution


def build_training(architecture: Architecture, arch_config: ArchConfig, shape: ImageShape, loss: GANLoss,
                   execution: Execution, seed: int, notify: Callable[[str], None] = print,
                   world: World | None = None, sync_bn: bool = False, classes: int = 0,
                   augment: Sequence[str] = (), r1: float = 0.0) -> Training:
    """Fresh networks for `shape` initialised from `seed`, their optimisers and the step; under
    data parallelism (`world`) the step trains DistributedDataParallel replicas on this rank's
    share. With `classes` > 0 the networks are class-conditional; `augment` names the DiffAugment
    policies applied to every image the discriminator sees; `r1` > 0 adds R1's penalty on reals.

    Raises ValueError when the architecture cannot make `shape`.
    """
    device = execution.device
    configure_backends(execution)
    torch.manual_seed(seed)
    generator, discriminator = build_networks(architecture, shape, arch_config, classes)
    generator.to(device).train()
    discriminator.to(device).train()
    if execution.channels_last:
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)

    betas = (arch_config.beta1, arch_config.beta2)
    adam = dict(betas=betas, fused=execution.fused_adam or None, capturable=execution.cuda_graphs)
    opt_g = torch.optim.Adam(generator.parameters(), lr=arch_config.lr_g, **adam)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=arch_config.lr_d, **adam)

    latent_rng = torch.Generator(device=device).manual_seed(seed + 1)

    world = world or World(device=device)

    def sample_latent(n: int) -> torch.Tensor:
        # Every rank draws the whole batch's latents from the same stream and keeps its own
        # slice: the noise differs per rank, and the stream is the same on any number of ranks.
        latents = architecture.sample_latent(n * world.size, arch_config, generator=latent_rng, device=device)
        return latents[world.rank * n:(world.rank + 1) * n]

    step_g: nn.Module = generator
    step_d: nn.Module = discriminator
    if execution.channels_last or execution.autocast_dtype is not None:
        step_g, step_d = AutocastChannelsLast(generator, execution, float_output=False), AutocastChannelsLast(discriminator, execution)
    compiled: tuple[CompiledNetwork, ...] = ()
    if execution.compile:
        notify_once = _once(notify)  # both networks usually fail alike: say it once
        step_g, step_d = compiled = (CompiledNetwork(step_g, notify_once), CompiledNetwork(step_d, notify_once))
    scaler = torch.amp.GradScaler(device.type) if execution.precision == "fp16" else None
    penalties = [*loss.penalties(), *architecture.penalties(arch_config), *([R1(r1)] if r1 else [])]
    own_d = step_d
    step_g, step_d = world.replicate(step_g, sync_bn), world.replicate(step_d, sync_bn)
    # Augmentations draw from the latents' generator: on the device, captured with the graph,
    # saved with the run; each rank augments its own images with its own draws.
    augmentation = DiffAugment(augment, latent_rng) if augment else None
    update = GANStep(step_g, step_d, loss, opt_g, opt_d, sample_latent, penalties, scaler=scaler,
                     own_discriminator=own_d, augment=augmentation)
    return Training(generator, discriminator, opt_g, opt_d, update, execution, latent_rng, scaler, compiled)


def _once(notify: Callable[[str], None]) -> Callable[[str], None]:
    said: set[str] = set()

    def notify_once(text: str) -> None:
        if text not in said:
            said.add(text)
            notify(text)
    return notify_once
