"""A stand-in for the CUDA calls a captured step makes (`gancli.training.step.graph.CudaCalls`), on the CPU.

It behaves as PyTorch does when a capture fails: `capture_end` raises a generic error and never
restores the stream. Its capture runs the step once (as a real capture and its first replay do
together) and each later replay runs the captured function again on the captured buffers, so a
step that forgot to copy a new batch into them, or kept state outside them, trains differently
from the eager step. While it replays, `replaying` is True: work done then is the graph's.
"""

import contextlib

import torch


class Stream:
    def __init__(self, name):
        self.name = name

    def wait_stream(self, other):
        pass


class Graph:
    def __init__(self, cuda):
        self.cuda, self.fn, self.output, self.fresh = cuda, None, None, False

    def register_generator_state(self, generator):
        pass

    def replay(self):
        self.cuda.replays += 1
        if self.cuda.replay_error:
            raise self.cuda.replay_error
        if self.fresh:  # the capture ran the step: its first replay is that run
            self.fresh = False
            return
        self.cuda.replaying = True
        try:
            self.output.copy_(self.fn())
        finally:
            self.cuda.replaying = False


class StandInCuda:
    device = torch.device("cpu")

    def __init__(self, replay_error=None):
        self.current, self.capturing, self.replays, self.replay_error = Stream("default"), False, 0, replay_error
        self.devices_entered, self.replaying = 0, False

    @contextlib.contextmanager
    def on_device(self):
        self.devices_entered += 1
        yield

    def current_stream(self):
        return self.current

    def new_stream(self):
        return Stream("side")

    def use_stream(self, stream):
        return contextlib.nullcontext()

    def set_stream(self, stream):
        self.current = stream

    def new_graph(self):
        return Graph(self)

    def capture(self, graph, stream, fn):
        self.current, self.capturing = stream, True
        try:
            output = fn()
        except Exception:
            self.capturing = False
            # As torch.cuda.graph's exit: capture_end raises its own error, the stream stays.
            raise RuntimeError("CUDA error: operation failed due to a previous error during capture") from None
        self.capturing, self.current = False, Stream("default")
        graph.fn, graph.output, graph.fresh = fn, output, True
        return output

    def synchronize(self):
        pass


