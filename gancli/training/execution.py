"""How a training step runs on its device: precision, memory format, optimiser kernels, capture.

`ExecutionOptions` is what the user asks for (`--precision`, `--cuda-graphs`, `--compile`);
`resolve_execution` turns it into what this device can do, with one notice per request it
cannot honour. The defaults per device:

- CUDA: bf16 autocast, channels-last, fused capturable Adam, the whole step as one CUDA graph
  (`benchmarks/gpu_check.py` measures them against eager bf16).
- CPU: fp32 (bf16 autocast measured ten times slower on a CPU without bf16 instructions),
  channels-last, fused Adam. The rest of the speed-up over a plain loop comes from the step
  itself: no weight gradients for the discriminator in the generator phase, no host reads per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from gancli.config import PRECISIONS

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class ExecutionOptions:
    precision: str = "auto"            # auto: bf16 on CUDA, fp32 elsewhere
    cuda_graphs: bool | None = None    # None: on for CUDA, off elsewhere
    compile: bool = False              # torch.compile the two networks

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


@dataclass(frozen=True)
class Execution:
    """What the step will actually do on its device."""

    device: torch.device
    precision: str
    channels_last: bool
    fused_adam: bool
    cuda_graphs: bool
    compile: bool
    notices: tuple[str, ...] = field(default=())

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return None if self.precision == "fp32" else DTYPES[self.precision]

    def describe(self) -> str:
        """One line for `bench` and the training log, e.g. 'cuda graph, bf16, channels-last, fused adam'."""
        parts = ["cuda graph" if self.cuda_graphs else "eager"]
        if self.compile:
            parts.append("compiled")
        parts.append(self.precision)
        if self.precision == "fp16":
            parts.append("grad scaler")
        parts.append("channels-last" if self.channels_last else "contiguous")
        parts.append("fused adam" if self.fused_adam else "adam")
        return ", ".join(parts)


def resolve_execution(options: ExecutionOptions, device: torch.device) -> Execution:
    """The fastest setting `device` supports within what `options` asks for."""
    notices = []
    cuda = device.type == "cuda"
    precision = options.precision
    if precision == "auto":
        precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    if precision == "fp16" and not cuda:
        notices.append(f"fp16 needs a CUDA device; training in fp32 on {device.type}")
        precision = "fp32"

    graphs = cuda if options.cuda_graphs is None else options.cuda_graphs
    if graphs and not cuda:
        notices.append(f"CUDA graphs need a CUDA device; running eagerly on {device.type}")
        graphs = False
    if graphs and precision == "fp16":
        # GradScaler decides on the host whether to skip a step, which a graph cannot replay.
        notices.append("fp16's grad scaler cannot be captured; running without a CUDA graph (bf16 can)")
        graphs = False

    return Execution(
        device=device,
        precision=precision,
        # Channels-last feeds cuDNN's fastest convolution kernels, and oneDNN's: 1.09x to 1.18x a
        # CPU step for dcgan64, no measurable difference for the 32x32 dcgan (benchmarks/README.md).
        channels_last=device.type in ("cuda", "cpu"),
        fused_adam=device.type in ("cuda", "cpu"),
        cuda_graphs=graphs,
        compile=options.compile,
        notices=tuple(notices),
    )
