"""The whole step on the device (`DeviceStep`): captured whole, it trains exactly as it does eagerly,
and a step is then one replay plus one small copy.

The capture runs against `standin_cuda.StandInCuda`, whose replays run the captured function again
on the captured buffers, so the comparison with the eager step checks what a real graph relies on:
each step's feed copied into the buffers, and every piece of state (step counter, totals, the
divergence guard, the EMA, the data order) updated in place.
"""

from dataclasses import replace

import pytest
import torch
from conftest import tiny_training
from standin_cuda import StandInCuda
from torch.utils._python_dispatch import TorchDispatchMode

from gancli.core.shapes import ImageShape
from gancli.training.step.batches import DeviceBatches, StreamedBatches
from gancli.training.step.ema import GeneratorEMA
from gancli.training.step.execution import ExecutionOptions, resolve_execution
from gancli.training.step.graph import WARMUP_STEPS
from gancli.training.step.divergence import DivergenceGuard
from gancli.training.step.device_step import DeviceStep

CPU = torch.device("cpu")
SHAPE = ImageShape(1, 16, 16)
CASES = {
    "plain": {},
    "conditional, augmented": dict(classes=4, augment=("color", "translation", "cutout")),
    "two D steps, wgan-gp": dict(d_steps=2, loss="wgan-gp"),
    "streamed": dict(streamed=True),
    "fp16 grad scaler, wgan-gp": dict(precision="fp16", loss="wgan-gp"),
}


def device_step(cuda=None, classes=0, augment=(), d_steps=1, loss="bce", streamed=False, images=40, precision="fp32"):
    """A tiny dcgan's DeviceStep on the CPU, captured with `cuda` (the stand-in) when given."""
    execution = replace(resolve_execution(ExecutionOptions(), CPU), precision=precision)  # fp16 autocasts on CPUs too
    if cuda is not None:
        execution = replace(execution, cuda_graphs=True)
    training = tiny_training(execution, SHAPE, loss, classes, augment=list(augment))
    pixels = torch.randint(0, 256, (images, *SHAPE.as_tuple()), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(1))
    labels = torch.arange(images) % classes if classes else None
    batches = StreamedBatches(pixels, 8, seed=0, device=CPU, workers=0, labels=labels) if streamed else \
        DeviceBatches(pixels, 8, seed=0, labels=labels, channels_last=execution.channels_last)
    ema = GeneratorEMA(training.generator, decay=0.9)
    return DeviceStep(training, batches, d_steps, ema, DivergenceGuard(CPU), notify=pytest.fail, cuda=cuda)


def state_of(loop: DeviceStep) -> dict[str, torch.Tensor]:
    networks = dict(generator=loop.training.generator, discriminator=loop.training.discriminator,
                    generator_ema=loop.ema.module)
    state = {f"{name}.{key}": value.detach().clone()
             for name, network in networks.items() for key, value in network.state_dict().items()}
    scaler = loop.training.scaler
    return dict(state, counter=loop.counter.clone(), totals=loop.totals.clone(),
                first_bad_step=loop.guard.first_bad_step.clone(), latents=loop.training.latent_rng.get_state(),
                **({} if scaler is None else {"scale": scaler.scale(torch.ones(()))}))


@pytest.mark.parametrize("case", CASES)
def test_the_captured_device_step_trains_exactly_as_the_eager_one(case):
    steps = WARMUP_STEPS + 4  # warm-up, the capture, three replays; past an epoch (5 batches of 8)
    cuda = StandInCuda()
    eager = device_step(**CASES[case])  # one run after the other: a gradient penalty draws from torch's global RNG
    eager_stats = [eager().clone() for _ in range(steps)]
    graphed = device_step(cuda, **CASES[case])
    graph_stats = [graphed().clone() for _ in range(steps)]
    assert torch.equal(torch.stack(graph_stats), torch.stack(eager_stats))
    assert graphed.run.captured and cuda.replays == 4
    expected, got = state_of(eager), state_of(graphed)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(got[name], expected[name]), name
    assert int(got["counter"]) == steps and int(got["first_bad_step"]) == -1
    assert graphed.batches.epoch == eager.batches.epoch >= 1


class HostOperations(TorchDispatchMode):
    """The tensor operations the host issues outside the stand-in's replays (views launch nothing)."""

    def __init__(self, cuda: StandInCuda | None):
        super().__init__()
        self.cuda, self.issued = cuda, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view and not (self.cuda and self.cuda.replaying):
            self.issued.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("case", ["plain", "conditional, augmented", "two D steps, wgan-gp"])
def test_a_captured_step_is_one_replay_and_one_copy(case):
    cuda = StandInCuda()
    counted = {}
    loops = {"eager": device_step(**CASES[case], images=160), "graphed": device_step(cuda, **CASES[case], images=160)}
    for name, loop in loops.items():
        for _ in range(WARMUP_STEPS + 1):  # warm-up and capture
            loop()
        with HostOperations(cuda if name == "graphed" else None) as host:
            for _ in range(2):  # within the first epoch: no new permutation
                loop()
        counted[name] = host.issued
    assert counted["graphed"] == ["aten.copy_.default"] * 2  # the next batches' indices, into the graph's buffer
    assert len(counted["eager"]) > 100 * len(counted["graphed"])  # every kernel of the step


class HostReads(TorchDispatchMode):
    """The operations that read a tensor's value back to the host (`.item()`, `bool(tensor)`)."""

    def __init__(self):
        super().__init__()
        self.reads = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default):
            self.reads.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("case", CASES)
def test_no_step_reads_a_value_back_to_the_host(case):
    # What a CUDA graph cannot capture; fp16's grad scaler included, which with fused Adam
    # skips an overflowed update on the device.
    loop = device_step(**CASES[case])
    with HostReads() as host:
        for _ in range(3):
            loop()
    assert host.reads == []


def test_fp16_overflow_skips_the_update_without_tripping_the_divergence_guard():
    # The grad scaler starts at 2**16; a gradient penalty computed on scores that large overflows
    # fp16, the scaler halves its scale and skips the update: not a divergence.
    loop = device_step(precision="fp16", loss="wgan-gp")
    scales = []
    for _ in range(6):
        loop()
        scales.append(float(loop.training.scaler.get_scale()))
    assert scales[0] < 2**16 and scales[-1] <= scales[0]  # it overflowed, then trained on
    assert int(loop.guard.first_bad_step) == -1 and bool(torch.isfinite(loop.totals).all())


def test_a_device_step_is_freed_as_soon_as_it_is_dropped():
    # No reference cycle: a data-parallel run's networks must go when the run ends, while the
    # process group they use still exists, not whenever the garbage collector runs (at exit,
    # after the group is destroyed, tearing them down aborted the process).
    import gc
    import weakref

    gc.disable()
    try:
        for cuda in (None, StandInCuda()):
            loop = device_step(cuda)
            loop()
            training = weakref.ref(loop.training)
            del loop
            assert training() is None
    finally:
        gc.enable()
