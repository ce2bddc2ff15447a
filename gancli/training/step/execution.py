"""How a training step runs on its device: precision, memory format, optimiser kernels, capture.

`ExecutionOptions` is what the user asks for (`--precision`, `--cuda-graphs`, `--compile`);
`resolve_execution` is the one place that turns it into what this device and this world of
processes can do, with one notice per request it cannot honour. The defaults per device:

- CUDA: bf16 autocast, channels-last, fused capturable Adam, the whole step as one CUDA graph
  (`benchmarks/gpu_check.py` measures them against eager bf16), cuDNN's autotuner; with
  `--precision fp32`, TF32 tensor cores unless `--no-tf32`. fp16's grad scaler is captured too:
  with fused Adam it skips an overflowed update and adjusts its scale on the device.
- CPU: bf16 autocast where the CPU has bf16 instructions (AVX512-BF16 or AMX: 1.8x the fp32
  step on an AMD EPYC), else fp32 (bf16 autocast is 0.07x of it without them); fused Adam;
  channels-last where oneDNN has AVX-512 (up to 1.18x there), contiguous tensors on AVX2 (where
  channels-last was 0.87-0.94x for the seed's DCGAN). benchmarks/README.md has the measurements
  behind each choice.
- Data parallel: neither a CUDA graph (the all-reduce runs between the backward passes, outside
  any graph) nor torch.compile (not tested with the DistributedDataParallel wrappers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from gancli.config import PRECISIONS

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class ExecutionOptions:
    precision: str = "auto"            # auto: bf16 on CUDA and on CPUs with bf16 instructions, else fp32
    cuda_graphs: bool | None = None    # None: on for CUDA, off elsewhere
    compile: bool = False              # torch.compile the two networks
    tf32: bool = True                  # fp32 on CUDA: TF32 tensor cores for matmuls and convolutions

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
    tf32: bool = False  # fp32 matmuls and convolutions on TF32 tensor cores (CUDA), in the step and beside it

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return None if self.precision == "fp32" else DTYPES[self.precision]

    def describe(self) -> str:
        """One line for `bench` and the training log, e.g. 'cuda graph, bf16, channels-last, fused adam'."""
        parts = ["cuda graph" if self.cuda_graphs else "eager"]
        if self.compile:
            parts.append("compiled")
        parts.append(self.precision + (" (tf32)" if self.tf32 and self.precision == "fp32" else ""))
        if self.precision == "fp16":
            parts.append("grad scaler")
        parts.append("channels-last" if self.channels_last else "contiguous")
        parts.append("fused adam" if self.fused_adam else "adam")
        return ", ".join(parts)


#: oneDNN's names for the instruction sets with bf16 arithmetic (and every set above them).
ONEDNN_BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX10", "ALL")


def onednn_isa_cap() -> str:
    """The instruction set oneDNN is capped at (`ONEDNN_MAX_CPU_ISA`, formerly `DNNL_MAX_CPU_ISA`), or ""."""
    return (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").upper()


ONEDNN_AVX512_ISAS = ("AVX512", "AVX10", "ALL")


def onednn_may_use(isas: tuple[str, ...], *probes: str) -> bool:
    """Whether this CPU has an instruction set torch's `probes` (`torch.cpu._is_..._supported`)
    test for, and oneDNN is not capped below it (its cap names none of `isas`)."""
    cap = onednn_isa_cap()
    if cap and not cap.startswith(isas):
        return False
    try:
        return any(getattr(torch.cpu, probe)() for probe in probes)
    except AttributeError:  # a torch without these probes: assume not
        return False


def cpu_has_avx512() -> bool:
    """Whether oneDNN convolves with AVX-512 here, where its channels-last kernels are the faster;
    on AVX2 its contiguous ones are. A cap on oneDNN below AVX-512 counts as none."""
    return onednn_may_use(ONEDNN_AVX512_ISAS, "_is_avx512_supported")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX), where oneDNN's bf16
    convolutions beat fp32 ones; emulated, bf16 is many times slower. A cap on oneDNN below the
    bf16 instruction sets counts as none: oneDNN then runs bf16 without them."""
    return onednn_may_use(ONEDNN_BF16_ISAS, "_is_avx512_bf16_supported", "_is_amx_tile_supported")


def kernels_of(device: torch.device) -> str:
    """The kernels this machine runs a step with, in words: runs agree bit for bit only where this
    and the precision agree. On the CPU, ATen's instruction set (oneDNN follows it unless
    ONEDNN_MAX_CPU_ISA caps it), native bf16, and the thread count, which sets the order of
    reductions; on CUDA, the GPU's name."""
    if device.type == "cuda":
        return f"cuda {torch.cuda.get_device_name(device)}"
    if device.type != "cpu":
        return device.type
    capability = torch.backends.cpu.get_cpu_capability()
    cap = onednn_isa_cap()
    return (f"cpu {capability}" + (" with bf16" if cpu_has_bf16() else "")
            + (f", oneDNN up to {cap}" if cap else "") + f", {torch.get_num_threads()} threads")


def resolve_execution(options: ExecutionOptions, device: torch.device, data_parallel: bool = False) -> Execution:
    """The fastest setting `device` supports within what `options` asks for; `data_parallel`
    when this process is one of several training one model."""
    notices = []
    cuda = device.type == "cuda"
    precision = options.precision
    if precision == "auto":
        native_bf16 = torch.cuda.is_bf16_supported() if cuda else device.type == "cpu" and cpu_has_bf16()
        precision = "bf16" if native_bf16 else "fp32"
    if precision == "fp16" and not cuda:
        notices.append(f"fp16 needs a CUDA device; training in fp32 on {device.type}")
        precision = "fp32"

    graphs = cuda if options.cuda_graphs is None else options.cuda_graphs
    if graphs and not cuda:
        notices.append(f"CUDA graphs need a CUDA device; running eagerly on {device.type}")
        graphs = False
    compile = options.compile
    if data_parallel and graphs:
        notices.append("the step is not captured as a CUDA graph under data parallelism; running eagerly")
        graphs = False
    if data_parallel and compile:
        notices.append("torch.compile is not used under data parallelism; running eagerly")
        compile = False

    return Execution(
        device=device,
        precision=precision,
        # Channels-last feeds cuDNN's fastest convolution kernels, and oneDNN's with AVX-512
        # (benchmarks/README.md, "CPU execution modes").
        channels_last=device.type == "cuda" or (device.type == "cpu" and cpu_has_avx512()),
        fused_adam=device.type in ("cuda", "cpu"),
        cuda_graphs=graphs,
        compile=compile,
        notices=tuple(notices),
        # Not only for an fp32 step: what runs in fp32 beside a bf16 or fp16 one (FID's Inception
        # network) uses TF32 too, unless --no-tf32.
        tf32=cuda and options.tf32,
    )


def configure_backends(execution: Execution) -> None:
    """PyTorch's process-wide settings the execution needs: on CUDA, cuDNN's autotuner (the
    warm-up steps before capture run it, so the graph captures the kernels it chose) and TF32
    for fp32 matmuls and convolutions unless turned off."""
    if execution.device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = execution.tf32
    torch.backends.cudnn.allow_tf32 = execution.tf32
