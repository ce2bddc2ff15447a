"""Everything the training loop does on the device in one step, as one call, captured whole on CUDA.

A step is: gather and convert the real batches (`Batches.realize`), update D and G
(`Training.gan_step`), add the statistics to the interval's totals, let the divergence guard look
at them, and fold the generator into its EMA. None of it reads a value back to the host, and
each part keeps its state in tensors updated in place (the step counter, the totals, the guard's
first bad step, the EMA's weights), so on CUDA `GraphedStep` captures the whole of it and a
step is one graph replay plus one small copy, the next feed (`Batches.take`). Logging, sample
grids and checkpoints read that state between steps, every so many steps.

`train` and `bench` both step through the `DeviceStep` that `assembly.assemble_step` builds, so a
benchmark times what training runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable

import torch

from gancli.training.step.batches import Batches, Feed
from gancli.training.step.divergence import DivergenceGuard
from gancli.training.step.ema import GeneratorEMA
from gancli.training.step.execution import Execution
from gancli.training.step.gan_step import STAT_NAMES
from gancli.training.step.graph import GraphedStep

if TYPE_CHECKING:  # the assembly builds a DeviceStep around its Training
    from gancli.training.step.assembly import Training


class DeviceStep:
    def __init__(self, training: Training, batches: Batches, d_steps: int, ema: GeneratorEMA | None = None,
                 guard: DivergenceGuard | None = None, notify: Callable[[str], None] = print, cuda=None):
        self.training = training
        self.batches = batches
        self.d_steps = d_steps  # real batches per step, one per D update
        self.ema = ema
        self.guard = guard
        device = training.execution.device
        self.counter = counter = torch.zeros((), dtype=torch.long, device=device)  # optimiser steps taken
        self.totals = totals = torch.zeros(len(STAT_NAMES), device=device)  # the statistics since reset_totals

        # A closure over the parts, not a method: a DeviceStep holding its own bound method would
        # be a reference cycle, freed only by the garbage collector, perhaps after the process
        # group its DistributedDataParallel networks use is gone.
        def body(feed: Feed) -> torch.Tensor:
            stats = training.gan_step(batches.realize(feed))
            counter.add_(1)
            totals.add_(stats)
            if guard is not None:
                guard.observe(stats, counter)
            if ema is not None:
                ema.update(counter)
            return stats

        self.run: Callable[[Feed], torch.Tensor] = body
        if training.execution.cuda_graphs:
            self.run = GraphedStep(body, (training.opt_g, training.opt_d), generators=(training.latent_rng,),
                                   notify=notify, device=device, cuda=cuda)

    def __call__(self) -> torch.Tensor:
        """Take one step; returns its statistics, on the device, valid until the next step."""
        return self.run(self.batches.take(self.d_steps))

    def set_step(self, step: int) -> None:
        """Continue counting from `step` (a resume or a rollback)."""
        self.counter.fill_(step)

    def reset_totals(self) -> None:
        self.totals.zero_()

    def state_replaced(self) -> None:
        """Say that optimiser state or learning rates were replaced, so a captured step recaptures:
        the graph holds the old state tensors and the learning rate it was captured with."""
        if isinstance(self.run, GraphedStep):
            self.run.reset()

    @property
    def effective_execution(self) -> Execution:
        """The execution as it stands now: a failed capture shows as eager, a failed compilation
        of both networks as not compiled."""
        execution = self.training.effective_execution
        if isinstance(self.run, GraphedStep) and self.run.eager:
            execution = replace(execution, cuda_graphs=False)
        return execution
