"""The whole training step, both updates, captured once as a CUDA graph and replayed.

Replaying a graph launches every kernel of the step with one call, so the step costs no Python
and no per-kernel launch overhead. It follows PyTorch's whole-network capture recipe: a few
eager warm-up steps on a side stream (lazy optimiser state, cuDNN's algorithm choice), then
capture with the gradients set to None so backward allocates them from the graph's pool, then
replay with each new real batch copied into the captured input buffers. Parameters, optimiser
state and batch-norm statistics are updated in place, so sampling and checkpoints read them as
usual between replays. The latent generator is registered with the graph, so each replay draws
fresh latents exactly as the eager step would.

If capture fails (an architecture that syncs with the host, for example) the step says so once
and runs eagerly from then on.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

Step = Callable[[Sequence[torch.Tensor]], torch.Tensor]
WARMUP_STEPS = 3  # PyTorch's recipe warms up on a side stream before capture; 3 covers Adam's lazy state


class GraphedStep:
    def __init__(self, step: Step, optimizers: Sequence[torch.optim.Optimizer],
                 generators: Sequence[torch.Generator] = (), notify: Callable[[str], None] = print,
                 warmup_steps: int = WARMUP_STEPS):
        self.step = step
        self.optimizers = optimizers
        self.generators = generators
        self.notify = notify
        self.warmup_steps = warmup_steps
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager = False  # set when capture failed
        self.static_real: list[torch.Tensor] = []
        self.static_stats: torch.Tensor | None = None

    def reset(self) -> None:
        """Drop the graph; the next calls warm up and capture again.

        Needed after optimiser state is replaced or a learning rate changes (a rollback): the
        graph holds the old state tensors and the learning rate it was captured with.
        """
        self.graph, self.calls, self.static_real, self.static_stats = None, 0, [], None

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, real_batches: Sequence[torch.Tensor]) -> torch.Tensor:
        """One training step; the returned statistics are valid until the next call."""
        self.calls += 1
        if self.eager:
            return self.step(real_batches)
        if self.graph is None:
            if self.calls <= self.warmup_steps:
                return self._warm_up(real_batches)
            if not self._capture(real_batches):
                return self.step(real_batches)
        for static, real in zip(self.static_real, real_batches):
            static.copy_(real)
        self.graph.replay()
        return self.static_stats

    def _warm_up(self, real_batches: Sequence[torch.Tensor]) -> torch.Tensor:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            stats = self.step(real_batches)
        torch.cuda.current_stream().wait_stream(side)
        return stats

    def _capture(self, real_batches: Sequence[torch.Tensor]) -> bool:
        self.static_real = [real.clone() for real in real_batches]
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        try:
            for generator in self.generators:
                graph.register_generator_state(generator)
            with torch.cuda.graph(graph):
                self.static_stats = self.step(self.static_real)
        except Exception as err:  # capture failures surface as several exception types
            torch.cuda.synchronize()
            for optimizer in self.optimizers:
                optimizer.zero_grad(set_to_none=True)
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            self.notify(f"CUDA graph capture failed ({first_line}); training eagerly")
            self.eager = True
            self.static_real, self.static_stats = [], None
            return False
        self.graph = graph
        return True
