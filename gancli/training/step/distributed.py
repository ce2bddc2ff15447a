"""Data-parallel training under torchrun: the process group, which rank does what, and agreement.

`torchrun --nproc-per-node N -m gancli train ...` starts N copies of the same command; each reads
RANK, WORLD_SIZE and LOCAL_RANK from its environment and joins one process group (NCCL on CUDA,
gloo on the CPU). Without those variables the run is a world of one and nothing here talks to
anyone. Rank 0 alone writes the run folder and prints; every decision that changes the course of
the run (stop on a signal, a divergence, a failed write) is agreed by all ranks, so they stop at
the same step and exit together.

Setting GANCLI_PARAMETER_DIGESTS=DIR makes every rank append `step digest` lines to
DIR/rank-R.txt, a SHA-256 of its generator's and discriminator's parameters after each step: a
check that the ranks hold the same weights (it reads every weight back to the host each step).
"""

from __future__ import annotations

import datetime
import hashlib
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from gancli.architectures.conditioning import ClassBatchNorm2d, SyncClassBatchNorm2d
from gancli.errors import ConfigError, FailedElsewhere, GancliError

T = TypeVar("T")
DIGESTS_ENV = "GANCLI_PARAMETER_DIGESTS"


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def env_rank() -> int:
    return int(os.environ.get("RANK", "0"))


@dataclass
class World:
    """This process's place in the run: rank `rank` of `size`, on `device`."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    control: Any = None  # a gloo group for host-side agreement, so it never waits on the GPU

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    # -- agreement ------------------------------------------------------------------------

    def agree_max(self, values: list[int]) -> list[int]:
        """The element-wise maximum of `values` over all ranks (a host-side exchange)."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.long)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX, group=self.control)
        return tensor.tolist()

    def share_text(self, text: str) -> str:
        """Rank 0's `text` on every rank (a default run folder's name has a timestamp)."""
        if not self.distributed:
            return text
        data = torch.tensor(list(text.encode("utf-8")), dtype=torch.long)
        (length,) = self.agree_max([data.numel() if self.is_main else 0])
        shared = data if self.is_main else torch.zeros(length, dtype=torch.long)
        dist.broadcast(shared, src=0, group=self.control)
        return bytes(shared.tolist()).decode("utf-8")

    def all_reduce_(self, tensor: torch.Tensor, op=None) -> torch.Tensor:
        """Reduce a device tensor over all ranks in place (sum by default)."""
        if self.distributed:
            dist.all_reduce(tensor, op=op or dist.ReduceOp.SUM)
        return tensor

    def main_first(self, work: Callable[[], T], everyone: bool = True) -> T | None:
        """Run `work` on rank 0, then (when `everyone`) on the other ranks; a failure on rank 0
        stops every rank with its exit code, and rank 0 alone reports it."""
        result, code = None, 0
        if self.is_main:
            try:
                result = work()
            except GancliError as err:
                self.agree_max([err.exit_code])
                raise
            except BaseException:
                self.agree_max([1])
                raise
        (code,) = self.agree_max([code])
        if code:
            raise FailedElsewhere("stopped: rank 0 failed", exit_code=code)
        if everyone and not self.is_main:
            result = work()
        return result

    def on_main(self, work: Callable[[], T]) -> T | None:
        """Run `work` on rank 0 only; every rank learns whether it failed."""
        return self.main_first(work, everyone=False)

    # -- wrapping ---------------------------------------------------------------------------

    def replicate(self, module: nn.Module, sync_bn: bool) -> nn.Module:
        """`module` as the training step calls it: wrapped in DistributedDataParallel when
        distributed (batch norm synchronised when `sync_bn`), else itself."""
        if not self.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel
        if sync_bn:
            # Converts in place: the SyncBatchNorm layers share the module's parameters, so the
            # unwrapped module (saved in checkpoints) stays the one being trained.
            sync_batch_norm_in_place(module)
        ids = [self.device.index] if self.device.type == "cuda" else None
        # forward_sync_buffers=False: D runs several forwards before one backward, and a buffer
        # broadcast between them would modify batch-norm state that autograd saved. Without
        # --sync-bn each rank keeps its own running statistics; rank 0's are the ones saved.
        # Gradients as views into the all-reduce buckets: no copy in or out of them each step.
        return DistributedDataParallel(module, device_ids=ids, gradient_as_bucket_view=True,
                                       **no_forward_buffer_sync(DistributedDataParallel))

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def sync_batch_norm_in_place(module: nn.Module) -> None:
    """Every batch norm in `module` synchronised across processes; a class-conditional one stays
    class-conditional (`convert_sync_batchnorm` alone would make it a plain norm, and drop the labels)."""
    for name, child in list(module.named_children()):
        if isinstance(child, ClassBatchNorm2d):
            setattr(module, name, SyncClassBatchNorm2d.sharing(child))
        elif isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
        else:
            sync_batch_norm_in_place(child)


def no_forward_buffer_sync(ddp_class) -> dict[str, bool]:
    """DDP's arguments for buffers that are never synchronised in forward: newer PyTorch says so with
    `forward_sync_buffers=False` (and still broadcasts them once at the start); older releases
    only have `broadcast_buffers=False`, which also skips that first broadcast, harmless here as
    every rank builds the same networks from the same seed."""
    if "forward_sync_buffers" in inspect.signature(ddp_class.__init__).parameters:
        return {"forward_sync_buffers": False}
    return {"broadcast_buffers": False}


def join(device: torch.device, sync_bn: bool = False, timeout_s: int = 1800) -> World:
    """Join the process group torchrun describes in the environment, or a world of one."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        if sync_bn:
            raise ConfigError("sync_bn needs several processes: launch with torchrun or --nproc")
        return World(device=device)
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
        if sync_bn:
            raise ConfigError("sync_bn needs CUDA devices: PyTorch synchronises batch norm on GPUs only")
    else:
        raise ConfigError(f"device {device.type}: data-parallel training runs on cuda or cpu")
    timeout = datetime.timedelta(seconds=timeout_s)
    dist.init_process_group(backend, rank=rank, world_size=size, timeout=timeout)
    control = dist.new_group(backend="gloo", timeout=timeout) if backend != "gloo" else None
    return World(rank, size, local_rank, device, control)


# -- checks ------------------------------------------------------------------------------

class ParameterDigests:
    """Appends a digest of the parameters after each step when GANCLI_PARAMETER_DIGESTS is set."""

    def __init__(self, world: World):
        folder = os.environ.get(DIGESTS_ENV)
        self.path = Path(folder) / f"rank-{world.rank}.txt" if folder else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, step: int, parameters: Iterable[torch.Tensor]) -> None:
        if self.path is None:
            return
        digest = hashlib.sha256()
        for parameter in parameters:
            digest.update(parameter.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        with self.path.open("a", encoding="utf-8") as file:
            file.write(f"{step} {digest.hexdigest()}\n")
