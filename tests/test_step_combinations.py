"""Options that meet in one step: torch.compile with a gradient penalty, synchronised batch norm
with a penalty or with class-conditional norms, TF32 beside a half-precision step."""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import TINY_MODEL, tiny_training
from torch import nn

from gancli.architectures import architectures
from gancli.architectures.conditioning import ClassBatchNorm2d, SyncClassBatchNorm2d
from gancli.config import TrainConfig
from gancli.core.shapes import ImageShape
from gancli.errors import ConfigError
from gancli.training.step.assembly import resolve_model
from gancli.training.step.batches import RealBatch
from gancli.training.step.distributed import sync_batch_norm_in_place
from gancli.training.step.execution import Execution, ExecutionOptions, resolve_execution

CPU = torch.device("cpu")
SHAPE = ImageShape(3, 16, 16)


@pytest.mark.parametrize("penalty", [dict(r1=1.0), dict(loss="wgan-gp")], ids=["r1", "wgan-gp"])
def test_compile_trains_with_a_gradient_penalty(monkeypatch, penalty):
    # AOTAutograd cannot differentiate a compiled graph twice, whichever backend runs it: the
    # light "aot_eager" shows it without a C++ compiler. The penalty runs D uncompiled.
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    torch._dynamo.reset()
    told: list[str] = []
    execution = Execution(CPU, "fp32", channels_last=False, fused_adam=False, cuda_graphs=False, compile=True)
    try:
        values = dict(penalty)
        loss = values.pop("loss", "bce")
        training = tiny_training(execution, SHAPE, loss, **values)
        training.compiled[0].notify = training.compiled[1].notify = told.append
        real = torch.rand(8, *SHAPE.as_tuple(), generator=torch.Generator().manual_seed(0)) * 2 - 1
        stats = torch.stack([training.gan_step([RealBatch(real)]) for _ in range(2)])
    finally:
        torch._dynamo.reset()
    assert torch.isfinite(stats).all(), stats
    assert told == [] and not any(network.fell_back for network in training.compiled)
    assert training.effective_execution.compile


@pytest.mark.parametrize("values, named", [
    (dict(r1=1.0), "r1"),
    (dict(loss="wgan-gp"), "loss wgan-gp"),
])
def test_sync_bn_with_a_gradient_penalty_is_refused_before_anything_is_built(values, named):
    with pytest.raises(ConfigError, match=f"sync_bn: .*{named}"):
        resolve_model(TrainConfig(sync_bn=True, model=dict(TINY_MODEL), **values))
    assert resolve_model(TrainConfig(sync_bn=True, model=dict(TINY_MODEL))).loss_name == "bce"


def norms_of(network: nn.Module) -> list[str]:
    return [type(m).__name__ for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def test_sync_bn_keeps_the_class_conditional_norms_and_their_tensors():
    dcgan = architectures.get("dcgan")
    generator, discriminator = dcgan.build(SHAPE, dcgan.make_config({**TINY_MODEL, "g_label": "norm"}), classes=4)
    assert "ClassBatchNorm2d" in norms_of(generator)
    names = {k: v.data_ptr() for k, v in generator.state_dict().items()}
    z, labels = torch.randn(4, TINY_MODEL["latent_dim"]), torch.arange(4)
    generator.eval()
    with torch.no_grad():
        before = generator(z, labels)

    sync_batch_norm_in_place(generator)
    sync_batch_norm_in_place(discriminator)
    class_norms = [m for m in generator.modules() if isinstance(m, ClassBatchNorm2d)]
    assert class_norms and all(isinstance(m, SyncClassBatchNorm2d) for m in class_norms)
    assert all(isinstance(m, nn.SyncBatchNorm) for m in generator.modules()
               if isinstance(m, nn.modules.batchnorm._BatchNorm))
    assert set(norms_of(discriminator)) <= {"SyncBatchNorm"}
    # The same tensors under the same names: checkpoints and the optimiser see no change.
    assert {k: v.data_ptr() for k, v in generator.state_dict().items()} == names
    with torch.no_grad():  # in eval mode a synchronised norm uses its running statistics, as before
        after = generator(z, labels)
    assert torch.equal(before, after)
    assert not torch.equal(after[0], generator(z[:1], labels[1:2])[0])  # the labels still matter


def test_tf32_stays_on_beside_a_half_precision_step_unless_turned_off():
    # What runs in fp32 beside a bf16 or fp16 step (FID's Inception network) keeps TF32; the
    # step's own line still says what the step computes in.
    cuda = torch.device("cuda", 0)
    for precision in ("bf16", "fp16"):
        for tf32 in (True, False):
            execution = resolve_execution(ExecutionOptions(precision=precision, tf32=tf32), cuda)
            assert execution.tf32 is tf32 and "tf32" not in execution.describe()
