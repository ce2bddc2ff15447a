"""The CUDA path's logic, checked on the CPU: capture failures, optimiser flags after a resume,
the device made current, TF32 and cuDNN settings, and the GPU check script itself.

Capture and replay run against `standin_cuda.StandInCuda`, which fails as PyTorch does.
"""

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tomllib
from standin_cuda import StandInCuda

from gancli.checkpoints.state import TrainingState, optimizer_state, restore_optimizer
from gancli.training.step.batches import RealBatch
from gancli.training.step.execution import Execution, ExecutionOptions, configure_backends, resolve_execution
from gancli.training.step.graph import CudaCalls, GraphedStep

ROOT = Path(__file__).resolve().parent.parent


def graphed(cuda, step, messages):
    parameter = torch.zeros(2, requires_grad=True)
    return GraphedStep(step, [torch.optim.SGD([parameter], lr=0.1)], notify=messages.append, warmup_steps=1, cuda=cuda)


def test_a_failed_capture_names_the_error_inside_the_step_puts_the_stream_back_and_trains_on():
    cuda, messages, eager_steps = StandInCuda(), [], []

    def step(batches):
        if cuda.capturing:
            raise RuntimeError("the step read a value back to the host (.item())\nmore detail")
        eager_steps.append(cuda.current.name)
        return torch.zeros(4)

    graph_step = graphed(cuda, step, messages)
    for _ in range(3):
        graph_step((torch.ones(1),))
    assert messages == ["CUDA graph capture failed (RuntimeError: the step read a value back to the host "
                        "(.item())); training eagerly"]
    assert graph_step.eager and not graph_step.captured
    assert eager_steps == ["default", "default", "default"]  # warm-up, the capture's fallback, then eager
    assert cuda.devices_entered >= 2  # warm-up and capture ran with the training device current


def test_a_failed_replay_falls_back_to_eager_with_one_line():
    cuda, messages = StandInCuda(replay_error=RuntimeError("CUDA error: an illegal memory access")), []
    graph_step = graphed(cuda, lambda batches: torch.zeros(4), messages)
    for _ in range(4):
        graph_step((torch.ones(1),))
    assert cuda.replays == 1 and graph_step.eager
    assert messages == ["CUDA graph replay failed (RuntimeError: CUDA error: an illegal memory access); "
                        "training eagerly"]


def test_a_capture_replays_and_runs_in_thread_local_mode(monkeypatch):
    cuda, messages = StandInCuda(), []
    graph_step = graphed(cuda, lambda batches: torch.zeros(4), messages)
    for _ in range(4):
        graph_step((torch.ones(1),))
    assert graph_step.captured and cuda.replays == 3 and not messages  # the capturing call replays too

    recorded = {}

    def graph(graph, **kwargs):
        recorded.update(kwargs)
        return contextlib.nullcontext()

    monkeypatch.setattr(torch.cuda, "graph", graph)
    assert CudaCalls(torch.device("cuda", 1)).capture("graph", "stream", lambda: "captured") == "captured"
    assert recorded == {"stream": "stream", "capture_error_mode": "thread_local"}  # a pin thread cannot break it


def test_the_chosen_cuda_device_is_made_current(monkeypatch):
    from gancli.core.device import use_device

    current = []
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    use_device(torch.device("cuda", 1))
    use_device(torch.device("cpu"))
    assert current == [torch.device("cuda", 1)]


@pytest.mark.parametrize("saved, live", [(dict(), dict(fused=True)), (dict(capturable=True), dict()),
                                         (dict(foreach=True), dict(capturable=True))])
def test_optimizer_run_flags_follow_the_resuming_run_not_the_saved_one(saved, live):
    weight = torch.nn.Parameter(torch.randn(3))
    first = torch.optim.Adam([weight], lr=1e-3, **saved)
    if not saved.get("capturable"):  # a capturable CPU Adam cannot step; its state is made by hand
        weight.grad = torch.ones(3)
        first.step()
    state = TrainingState("id", 1, {}, 1)
    optimizer_state("opt", first, state)
    second = torch.optim.Adam([weight], lr=1e-3, **live)
    restore_optimizer("opt", second, state)
    for flag in ("capturable", "fused", "foreach"):
        assert second.param_groups[0][flag] == second.defaults[flag], flag
    if second.state:
        step = second.state[weight]["step"]
        assert step.dtype == torch.float32 and step.device == weight.device


def test_tf32_and_cudnn_autotuning_are_set_for_cuda_fp32():
    cuda = torch.device("cuda")
    for tf32 in (True, False):
        execution = resolve_execution(ExecutionOptions(precision="fp32", tf32=tf32), cuda)
        assert execution.tf32 is tf32 and ("fp32 (tf32)" in execution.describe()) is tf32
    assert not resolve_execution(ExecutionOptions(precision="fp32"), torch.device("cpu")).tf32

    saved = torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = False, True
        torch.backends.cuda.matmul.allow_tf32 = True
        configure_backends(Execution(cuda, "fp32", True, True, True, False, tf32=False))
        assert torch.backends.cudnn.benchmark is True
        assert torch.backends.cudnn.allow_tf32 is False and torch.backends.cuda.matmul.allow_tf32 is False
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.backends.cuda.matmul.allow_tf32 = saved[2]


def test_the_declared_torch_floor_is_the_first_release_with_cpu_fused_adam_and_newer_apis_are_detected():
    from gancli.training.step.distributed import no_forward_buffer_sync

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch>=2.4" in [d.split("#")[0].strip() for d in dependencies]

    class OlderDDP:
        def __init__(self, module, device_ids=None, broadcast_buffers=True):
            pass

    assert no_forward_buffer_sync(OlderDDP) == {"broadcast_buffers": False}
    assert no_forward_buffer_sync(torch.nn.parallel.DistributedDataParallel) == {"forward_sync_buffers": False}


def test_the_gpu_check_script_runs_its_quick_mode():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--quick"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert "FAIL" not in result.stdout and lines[-1] == "checks: all ok"
    results = {line.split(":")[0][6:]: line[:4].strip() for line in lines if line[:4] in ("ok  ", "skip", "FAIL")}
    # What a CPU can run, runs; only what needs a captured graph, a second GPU or the H100/H200
    # targets is skipped, each with its reason.
    assert results["NaN in a captured step"] == results["exact resume"] == results["streamed data"] == "ok"
    assert results["graph against eager, fp16 grad scaler"] == results["graph against eager, wgan-gp"] == "ok"
    assert results["capture failure"] == results["replays advance"] == "skip"


def test_the_discriminators_backward_fills_its_own_gradients_only():
    from torch import nn

    from gancli.losses import WassersteinGP
    from gancli.training.step.gan_step import GANStep

    torch.manual_seed(0)
    generator = nn.Sequential(nn.Linear(4, 12), nn.Tanh(), nn.Unflatten(1, (3, 2, 2)))
    discriminator = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    seen = []

    def penalty(critic, real, fake):  # like R1: a leaf that needs a gradient for the penalty only
        probe = real.detach().clone().requires_grad_(True)
        seen.append(probe)
        (grads,) = torch.autograd.grad(critic(probe).sum(), probe, create_graph=True)
        return grads.pow(2).sum()

    step = GANStep(generator, discriminator, WassersteinGP(), torch.optim.Adam(generator.parameters()),
                   torch.optim.Adam(discriminator.parameters()), lambda n: torch.randn(n, 4), [penalty])
    step([RealBatch(torch.rand(5, 3, 2, 2))])
    assert seen and seen[0].grad is None  # no work, and no memory, for a gradient nobody reads
    assert all(p.grad is not None for p in discriminator.parameters())


def test_under_data_parallelism_stop_signals_are_agreed_at_logging_steps_only():
    from gancli.training.run.stopping import signal_check_due

    assert all(signal_check_due(step, False, 50, distributed=False) for step in range(1, 120))
    due = [step for step in range(1, 121) if signal_check_due(step, step == 120, 50, distributed=True)]
    assert due == [50, 100, 120]


def test_a_captured_step_takes_each_new_batchs_labels_with_its_images():
    cuda, messages, seen = StandInCuda(), [], []

    def step(batches):  # what the graph reads: the static buffers it was captured with
        seen.append(batches)
        return torch.zeros(4)

    graph_step = graphed(cuda, step, messages)
    for value in range(4):  # warm-up, capture (and its replay), then two replays
        graph_step((torch.full((2, 1, 2, 2), float(value)), torch.tensor([value, value + 1])))
    images, labels = graph_step.static_feed
    assert graph_step.captured and seen[-1] is graph_step.static_feed  # the replays read the static buffers
    assert labels.tolist() == [3, 4] and bool((images == 3).all())  # the last batch, copied in
    assert not messages
