"""The whole training step, both updates, captured once as a CUDA graph and replayed.

Replaying a graph launches every kernel of the step with one call, so the step costs no Python
and no per-kernel launch overhead. It follows PyTorch's whole-network capture recipe: a few
eager warm-up steps on a side stream (lazy optimiser state, cuDNN's algorithm choice), then
capture with the gradients set to None so backward allocates them from the graph's pool, then
replay with each new real batch (its labels too, in a conditional run) copied into the captured
input buffers. Parameters, optimiser
state and batch-norm statistics are updated in place, so sampling and checkpoints read them as
usual between replays. The latent generator is registered with the graph, so each replay draws
fresh latents exactly as the eager step would.

Capture runs in thread-local mode, so another thread's allocations (a data loader pinning host
memory) cannot invalidate it. Everything runs on the training device, made current, whatever
device is current elsewhere. If capture or a replay fails (an architecture that syncs with the
host, for example) the step says so once, naming the first error raised inside the step rather
than the capture's echo of it, puts the stream back, and runs eagerly from then on.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import torch

from gancli.training.batches import RealBatch

Step = Callable[[Sequence[RealBatch]], torch.Tensor]
WARMUP_STEPS = 3  # PyTorch's recipe warms up on a side stream before capture; 3 covers Adam's lazy state


class CudaCalls:
    """The CUDA calls a captured step makes, all on one device. Tests pass a stand-in, which
    lets the capture's bookkeeping and its failures be checked on a machine without CUDA."""

    def __init__(self, device: torch.device):
        self.device = device

    def on_device(self):
        return torch.cuda.device(self.device)

    def current_stream(self):
        return torch.cuda.current_stream(self.device)

    def new_stream(self):
        return torch.cuda.Stream(device=self.device)

    def use_stream(self, stream):
        return torch.cuda.stream(stream)

    def set_stream(self, stream) -> None:
        torch.cuda.set_stream(stream)

    def new_graph(self):
        return torch.cuda.CUDAGraph()

    def capture(self, graph, stream):
        return torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local")

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


class GraphedStep:
    def __init__(self, step: Step, optimizers: Sequence[torch.optim.Optimizer],
                 generators: Sequence[torch.Generator] = (), notify: Callable[[str], None] = print,
                 warmup_steps: int = WARMUP_STEPS, device: torch.device | None = None, cuda: CudaCalls | None = None):
        self.step = step
        self.optimizers = optimizers
        self.generators = generators
        self.notify = notify
        self.warmup_steps = warmup_steps
        self.cuda = cuda or CudaCalls(device or torch.device("cuda", torch.cuda.current_device()))
        self.calls = 0
        self.graph = None
        self.eager = False  # set when capture or a replay failed
        self.static_real: list[RealBatch] = []
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

    def __call__(self, real_batches: Sequence[RealBatch]) -> torch.Tensor:
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
            for buffer, tensor in zip(static, real):
                if buffer is not None:
                    buffer.copy_(tensor)
        stream = self.cuda.current_stream()
        try:
            with self.cuda.on_device():
                self.graph.replay()
        except Exception as err:  # a failed replay trains on, eagerly, rather than end the run
            self._fall_back("replay", err, stream)
            return self.step(real_batches)
        return self.static_stats

    def _warm_up(self, real_batches: Sequence[RealBatch]) -> torch.Tensor:
        with self.cuda.on_device():
            side = self.cuda.new_stream()
            side.wait_stream(self.cuda.current_stream())
            with self.cuda.use_stream(side):
                stats = self.step(real_batches)
            self.cuda.current_stream().wait_stream(side)
        return stats

    def _capture(self, real_batches: Sequence[RealBatch]) -> bool:
        self.static_real = [RealBatch(*(None if t is None else t.clone() for t in real)) for real in real_batches]
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        stream = self.cuda.current_stream()
        raised: list[BaseException] = []  # inside the step: the cause, which capture_end only echoes

        def step_recording_errors() -> torch.Tensor:
            try:
                return self.step(self.static_real)
            except Exception as err:
                raised.append(err)
                raise

        try:
            with self.cuda.on_device():
                graph = self.cuda.new_graph()
                if self.generators and not hasattr(graph, "register_generator_state"):
                    raise RuntimeError("this PyTorch cannot register the latent generator with a graph "
                                       "(CUDAGraph.register_generator_state is missing)")
                for generator in self.generators:
                    graph.register_generator_state(generator)
                with self.cuda.capture(graph, self.cuda.new_stream()):
                    self.static_stats = step_recording_errors()
        except Exception as err:  # capture failures surface as several exception types
            self._fall_back("capture", raised[0] if raised else err, stream)
            return False
        self.graph = graph
        return True

    def _fall_back(self, what: str, cause: BaseException, stream) -> None:
        # A capture_end that raised never put the stream back: later eager steps would run on it.
        self.cuda.set_stream(stream)
        with contextlib.suppress(Exception):
            self.cuda.synchronize()
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        self.notify(f"CUDA graph {what} failed ({first_line(cause)}); training eagerly")
        self.eager = True
        self.graph, self.static_real, self.static_stats = None, [], None
