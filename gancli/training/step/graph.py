"""The whole training step captured once as a CUDA graph and replayed.

What is captured is everything the loop does on the device each step (`device_step.DeviceStep`):
the real batches gathered and converted, both updates, the statistics added up, the divergence
guard's check and the EMA's update. Replaying a graph launches every kernel of the step with one
call, so the step costs no Python and no per-kernel launch overhead. It follows PyTorch's
whole-network capture recipe: a few eager warm-up steps on a side stream (lazy optimiser state,
cuDNN's algorithm choice), then capture with the gradients set to None so backward allocates
them from the graph's pool, then replay with each step's feed (the batches' indices, or a
streamed batch and its labels) copied into the captured input buffers: the one copy of a step.
Parameters, optimiser state and batch-norm statistics are updated in place, so sampling and
checkpoints read them as usual between replays. The latent generator is registered with the
graph, so each replay draws fresh latents exactly as the eager step would.

Capture runs in thread-local mode, so another thread's allocations (a data loader pinning host
memory) cannot invalidate it. Everything runs on the training device, made current, whatever
device is current elsewhere. If capture or a replay fails (an architecture that syncs with the
host, for example) the step says so once, naming the first error raised inside the step rather
than the capture's echo of it, puts the stream back, and runs eagerly from then on.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable, Sequence

import torch

from gancli.training.step.batches import Feed

Step = Callable[[Feed], torch.Tensor]
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

    def capture(self, graph, stream, fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Record `fn` into `graph`; returns its (static) output."""
        with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
            return fn()

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
        self.captures = 0  # graphs captured so far: one, plus one after each reset
        self.graph = None
        self.eager = False  # set when capture or a replay failed
        self.static_feed: Feed = ()
        self.static_stats: torch.Tensor | None = None

    def reset(self) -> None:
        """Drop the graph; the next calls warm up and capture again.

        Needed after optimiser state is replaced or a learning rate changes (a rollback): the
        graph holds the old state tensors and the learning rate it was captured with.
        """
        self.graph, self.calls, self.static_feed, self.static_stats = None, 0, (), None

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, feed: Feed) -> torch.Tensor:
        """One training step; the returned statistics are valid until the next call."""
        self.calls += 1
        if self.eager:
            return self.step(feed)
        if self.graph is None:
            if self.calls <= self.warmup_steps:
                return self._warm_up(feed)
            if not self._capture(feed):
                return self.step(feed)
        for buffer, tensor in zip(self.static_feed, feed):
            if buffer is not None:
                buffer.copy_(tensor, non_blocking=True)
        stream = self.cuda.current_stream()
        try:
            with self.cuda.on_device():
                self.graph.replay()
        except Exception as err:  # a failed replay trains on, eagerly, rather than end the run
            self._fall_back("replay", err, stream)
            return self.step(feed)
        return self.static_stats

    def _warm_up(self, feed: Feed) -> torch.Tensor:
        with self.cuda.on_device(), warnings.catch_warnings():
            # Capturable Adam warns that it runs uncaptured: these steps are meant to.
            warnings.filterwarnings("ignore", message=".*capturable=True.*")
            side = self.cuda.new_stream()
            side.wait_stream(self.cuda.current_stream())
            with self.cuda.use_stream(side):
                stats = self.step(feed)
            self.cuda.current_stream().wait_stream(side)
        return stats

    def _capture(self, feed: Feed) -> bool:
        # The input buffers live on the device: a streamed batch's copy from pinned host memory
        # is then the step's one copy, outside the graph.
        self.static_feed = tuple(None if t is None else t.to(self.cuda.device, copy=True) for t in feed)
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        stream = self.cuda.current_stream()
        raised: list[BaseException] = []  # inside the step: the cause, which capture_end only echoes

        def step_recording_errors() -> torch.Tensor:
            try:
                return self.step(self.static_feed)
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
                self.static_stats = self.cuda.capture(graph, self.cuda.new_stream(), step_recording_errors)
        except Exception as err:  # capture failures surface as several exception types
            self._fall_back("capture", raised[0] if raised else err, stream)
            return False
        self.graph = graph
        self.captures += 1
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
        self.graph, self.static_feed, self.static_stats = None, (), None
