"""The fast training step computes the plain step's update; `gancli bench` times it."""

import json

import pytest
import torch
from conftest import TINY_MODEL, tiny_config, tiny_training
from typer.testing import CliRunner

from gancli.architectures import architectures
from gancli.cli import app
from gancli.core.shapes import ImageShape
from gancli.losses import GANLoss, NonSaturatingBCE, make_loss
from gancli.config import TrainConfig
from gancli.training.step import execution
from gancli.training.step.batches import DeviceBatches, RealBatch
from gancli.training.step.execution import Execution, ExecutionOptions, resolve_execution
from gancli.training.reporting import Reporter
from gancli.training.run.trainer import train

CPU = torch.device("cpu")
CPU_PRECISION = "bf16" if execution.cpu_has_bf16() else "fp32"  # what --precision auto picks on this CPU
CPU_LAYOUT = "channels-last" if execution.cpu_has_avx512() else "contiguous"  # and the tensors' memory format
SHAPE = ImageShape(3, 16, 16)
# fp32 on both sides: the only differences are summation order (channels-last convolutions,
# fused Adam), about 1e-6 relative. Adam divides each gradient by its own running size, so a
# parameter whose gradient is almost zero can move a whole step (lr = 2e-4) either way;
# 1e-4 on parameters allows half of that and still catches any real difference in the update.
LOSS_TOLERANCE = dict(rtol=1e-4, atol=1e-5)
PARAMETER_ATOL = 1e-4


def plain(device: torch.device) -> Execution:
    return Execution(device, "fp32", channels_last=False, fused_adam=False, cuda_graphs=False, compile=False)


def run_steps(execution: Execution, steps: int = 3, seed: int = 0, loss: GANLoss | None = None):
    training = tiny_training(execution, SHAPE, loss or "bce", seed=seed)
    pixels = torch.randint(0, 256, (32, *SHAPE.as_tuple()), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(seed))
    batches = DeviceBatches(pixels.to(execution.device), batch_size=8, seed=seed)
    stats = [training.gan_step([batches.next()]).clone() for _ in range(steps)]
    networks = {"generator": training.generator, "discriminator": training.discriminator}
    params = {f"{n}.{k}": v.detach().clone() for n, net in networks.items() for k, v in net.state_dict().items()}
    return (torch.stack(stats) if stats else torch.empty(0, 4)), params


def assert_same_training(plain_run, fast_run):
    plain_stats, plain_params = plain_run
    fast_stats, fast_params = fast_run
    torch.testing.assert_close(fast_stats, plain_stats, **LOSS_TOLERANCE)
    assert plain_params.keys() == fast_params.keys()
    for name, value in plain_params.items():
        torch.testing.assert_close(fast_params[name].float(), value.float(), rtol=0, atol=PARAMETER_ATOL, msg=name)


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_on_a_cpu_is_bf16_only_where_the_cpu_computes_in_bf16(monkeypatch, native):
    monkeypatch.setattr(execution, "cpu_has_bf16", lambda: native)
    assert resolve_execution(ExecutionOptions(), CPU).precision == ("bf16" if native else "fp32")
    assert resolve_execution(ExecutionOptions(precision="fp32"), CPU).precision == "fp32"


@pytest.mark.parametrize("cap", ["AVX2", "avx512_core", "AVX512_CORE_VNNI"])
def test_a_cap_on_onednn_below_bf16_means_fp32_for_auto(monkeypatch, cap):
    # ONEDNN_MAX_CPU_ISA=AVX2 makes this CPU run as one without bf16 instructions would.
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert not execution.cpu_has_bf16()
    assert resolve_execution(ExecutionOptions(), CPU).precision == "fp32"
    assert f"oneDNN up to {cap.upper()}" in execution.kernels_of(CPU)


@pytest.mark.parametrize("avx512", [True, False])
def test_the_cpu_step_is_channels_last_only_where_onednn_has_avx512(monkeypatch, avx512):
    monkeypatch.setattr(execution, "cpu_has_avx512", lambda: avx512)
    fast = resolve_execution(ExecutionOptions(precision="fp32"), CPU)
    assert fast.fused_adam and not fast.cuda_graphs
    assert fast.channels_last == avx512


def test_a_cap_on_onednn_below_avx512_means_contiguous_tensors(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not execution.cpu_has_avx512()
    assert not resolve_execution(ExecutionOptions(), CPU).channels_last


def test_the_cpu_fast_path_trains_like_the_plain_step():
    reference = run_steps(plain(CPU))
    for channels_last in (True, False):
        fast = Execution(CPU, "fp32", channels_last=channels_last, fused_adam=True, cuda_graphs=False, compile=False)
        assert_same_training(reference, run_steps(fast))


def test_the_plain_step_really_trains_so_the_comparison_can_fail():
    stats, params = run_steps(plain(CPU), steps=3)
    other_stats, other_params = run_steps(plain(CPU), steps=3, seed=1)
    assert not torch.allclose(stats, other_stats, **LOSS_TOLERANCE)
    untrained = run_steps(plain(CPU), steps=0)[1]
    moved = max((params[k].float() - untrained[k].float()).abs().max().item() for k in params)
    assert moved > 10 * PARAMETER_ATOL


class CoupledBCE(NonSaturatingBCE):
    """The same loss, declared inseparable: the step must back-propagate it in one pass."""

    separable = False

    def discriminator(self, real_logits, fake_logits):
        return self.discriminator_real(real_logits) + self.discriminator_fake(fake_logits)


def test_a_separable_loss_in_two_passes_updates_d_as_one_pass_would():
    assert_same_training(run_steps(plain(CPU), loss=CoupledBCE()), run_steps(plain(CPU)))


def peak_saved_activation_bytes(step, real_batches, held_anyway) -> int:
    """The most bytes that autograd held for backward at any moment during `step`, not counting
    the tensors `held_anyway` (weights, inputs)."""
    ignored = {tensor.untyped_storage().data_ptr() for tensor in held_anyway}
    live, held, peak = {}, [0], [0]

    class Saved:
        def __init__(self, tensor):
            self.tensor, self.key = tensor, tensor.untyped_storage().data_ptr()
            if self.key in ignored:
                return
            count, size = live.get(self.key, (0, tensor.untyped_storage().nbytes()))
            if count == 0:
                held[0] += size
                peak[0] = max(peak[0], held[0])
            live[self.key] = (count + 1, size)

        def __del__(self):
            if self.key in ignored:
                return
            count, size = live.pop(self.key)
            if count > 1:
                live[self.key] = (count - 1, size)
            else:
                held[0] -= size

    with torch.autograd.graph.saved_tensors_hooks(Saved, lambda saved: saved.tensor):
        step(real_batches)
    return peak[0]


def test_a_separable_loss_never_holds_d_activations_for_real_and_fake_at_once():
    real = torch.rand(8, *SHAPE.as_tuple()) * 2 - 1
    peaks = {}
    for name, loss in (("one pass", CoupledBCE()), ("two passes", make_loss("bce", 0.1))):
        training = tiny_training(plain(CPU), SHAPE, loss=loss)
        weights = [*training.generator.parameters(), *training.discriminator.parameters()]
        peaks[name] = peak_saved_activation_bytes(training.gan_step, [RealBatch(real)], weights)
    one_d_pass = peak_saved_activation_bytes(lambda batches: training.discriminator(batches[0].images).sum().backward(),
                                             [RealBatch(real)], [*weights, real])
    # Held at the peak: G's activations and D's on one batch (two passes) or on both (one pass).
    assert peaks["one pass"] - peaks["two passes"] >= 0.9 * one_d_pass, (peaks, one_d_pass)


def test_bf16_autocast_on_the_cpu_trains_with_finite_losses(tmp_path):
    result = train(tiny_config(tmp_path / "bf16", steps=2, precision="bf16"), reporter=Reporter())
    metrics = result.metrics
    assert all(torch.isfinite(torch.tensor(metrics[k])) for k in ("loss_d", "loss_g"))
    assert 0 <= metrics["d_real"] <= 1


def test_unavailable_cuda_graphs_fall_back_with_one_notice():
    execution = resolve_execution(ExecutionOptions(cuda_graphs=True, precision="fp16"), CPU)
    assert not execution.cuda_graphs and execution.precision == "fp32"
    assert len(execution.notices) == 2 and "CUDA graphs need a CUDA device" in execution.notices[1]


def test_fp16_is_captured_with_its_grad_scaler_on_cuda():
    execution = resolve_execution(ExecutionOptions(precision="fp16"), torch.device("cuda"))
    assert execution.cuda_graphs and execution.fused_adam and not execution.notices


def test_a_penalty_on_input_gradients_survives_fp16_on_scaled_scores():
    from gancli.losses import input_gradients, takes_scale
    from gancli.losses.standard import WassersteinGP

    # Two small factors in half precision: the true gradient, 1e-8, is below fp16's smallest
    # number and flows back as 0 unless the scores are scaled first.
    def critic(x):
        return ((x.half() * 1e-4) * 1e-4).float()

    x = torch.ones(2, 3, requires_grad=True)
    assert torch.equal(input_gradients(critic(x), x), torch.zeros(2, 3))
    scaled = input_gradients(critic(x), x, scale=torch.tensor(2.0**12))
    torch.testing.assert_close(scaled, torch.full((2, 3), 1e-8), rtol=1e-2, atol=0)
    assert takes_scale(WassersteinGP().gradient_penalty) and not takes_scale(lambda d, real, fake: 0)


def test_a_wrong_precision_is_refused_naming_the_key():
    from gancli.config import TrainConfig
    from gancli.errors import ConfigError

    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16, fp16"):
        TrainConfig(precision="fp8")


runner = CliRunner()
TINY_BENCH = ["bench", "--image-size", "16", "--batch-size", "8", "--steps", "2", "--warmup", "1", "--device", "cpu",
              "--set", "model.g_channels=64", "--set", "model.d_channels=16", "--set", "model.latent_dim=16"]


def test_bench_reports_throughput_memory_and_mode_as_json():
    result = runner.invoke(app, TINY_BENCH + ["--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["arch"] == "dcgan" and report["image_shape"] == "3x16x16" and report["batch_size"] == 8
    assert report["images_per_s"] > 0 and report["ms_per_step"] > 0
    assert report["images_per_s"] == pytest.approx(8 * 1000 / report["ms_per_step"])
    assert report["peak_memory_mib"] > 0 and report["memory_measure"] == "process peak RSS"
    assert report["mode"] == f"eager, {CPU_PRECISION}, {CPU_LAYOUT}, fused adam"
    assert set(report["final_stats"]) == {"loss_d", "loss_g", "d_real", "d_fake"}


def test_bench_times_a_config_on_its_datasets_image_shape(tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text("arch: dcgan\ndata: mnist\nbatch_size: 4\nd_steps: 2\n")
    args = ["bench", "--config", str(config), "--steps", "1", "--warmup", "1", "--device", "cpu", "--json"]
    args += [f"--set=model.{key}={value}" for key, value in TINY_MODEL.items()]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["image_shape"] == "1x28x28" and report["batch_size"] == 4
    assert report["images_per_s"] == pytest.approx(4 * 2 * 1000 / report["ms_per_step"])  # two D batches a step


def test_bench_prints_a_table_and_notices_what_it_cannot_do():
    result = runner.invoke(app, TINY_BENCH + ["--cuda-graphs"])
    assert result.exit_code == 0, result.output
    assert "CUDA graphs need a CUDA device; running eagerly on cpu" in result.stderr
    assert "images/s" in result.stdout and f"eager, {CPU_PRECISION}" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--precision", "fp8"], "'fp8' is not one of 'auto', 'fp32', 'bf16', 'fp16'"),
    (["--arch", "stylegan"], "unknown architecture 'stylegan'"),
    (["--set", "stepz=3"], "stepz"),
    (["--set", "smooth=2"], "smooth must be in [0, 1)"),
    (["--set", "model.width=3"], "width"),
])
def test_bench_refuses_bad_input_with_one_line(args, message):
    result = runner.invoke(app, TINY_BENCH + args, env={"COLUMNS": "200"})
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def step_signature(step) -> dict:
    """What a built step does, read from the objects themselves: the loss and its smoothing, the
    penalties, the augmentation, D updates per step, the EMA, the precision and the optimisers."""
    training = step.training
    gan_step = training.gan_step
    return {
        "loss": (type(gan_step.loss).__name__, gan_step.loss.smooth),
        "penalties": [getattr(p, "__name__", None) or (type(p).__name__, vars(p)) for p in gan_step.penalties],
        "augment": getattr(gan_step.augment, "policies", None),
        "d_steps": step.device_step.d_steps,
        "ema": (step.ema.decay, step.ema.start) if step.ema else None,
        "execution": training.execution.describe(),
        "optimisers": [{k: v for k, v in group.items() if k != "params"}
                       for opt in (training.opt_g, training.opt_d) for group in opt.param_groups],
        "weights": {k: v.clone() for k, v in training.generator.state_dict().items()},
    }


def test_bench_assembles_the_very_step_train_runs_from_the_same_config(tmp_path):
    from gancli.training.run.trainer import Trainer
    from gancli.training.step.bench import bench_step

    config = tiny_config(tmp_path / "run", smooth=0.3, d_steps=2, augment=["color", "cutout"], r1=0.5,
                         loss="wgan-gp", ema_decay=0.9, ema_start=3, lr=1e-3, image_size=16, conditional=True)
    trainer = Trainer(config, Reporter())
    try:
        trained = step_signature(trainer.run.step)
    finally:
        trainer.close()
    benched = step_signature(bench_step(config, ImageShape(3, 16, 16), notify=lambda text: None, classes=10))
    assert trained.pop("weights").keys() == benched["weights"].keys()
    initial = benched.pop("weights")
    assert trained == benched
    assert trained["loss"] == ("WassersteinGP", 0.3) and trained["d_steps"] == 2
    assert trained["penalties"] == ["gradient_penalty", ("R1", {"gamma": 0.5})]
    assert trained["augment"] == ("color", "cutout") and trained["ema"] == (0.9, 3)
    # The same seed: the same initial networks.
    fresh = step_signature(bench_step(config, ImageShape(3, 16, 16), notify=lambda text: None, classes=10))["weights"]
    assert all(torch.equal(initial[k], fresh[k]) for k in initial)


def test_the_reference_dcgan_makes_64x64_images_and_nothing_else():
    architecture = architectures.get("dcgan64")
    config = architecture.make_config({"g_features": 8, "d_features": 8})
    generator, discriminator = architecture.build(ImageShape(3, 64, 64), config)
    images = generator(torch.randn(2, config.latent_dim))
    assert images.shape == (2, 3, 64, 64) and images.abs().max() <= 1
    assert discriminator(images).shape == (2,)
    with pytest.raises(ValueError, match="64x64 images only"):
        architecture.build(ImageShape(3, 32, 32), config)


def test_fp16_steps_through_the_grad_scaler_and_keeps_training():
    fp16 = Execution(CPU, "fp16", channels_last=False, fused_adam=True, cuda_graphs=False, compile=False)
    stats, params = run_steps(fp16, steps=2)
    untrained = run_steps(fp16, steps=0)[1]
    assert torch.isfinite(stats).all()
    assert any(not torch.equal(params[k], untrained[k]) for k in params if k.startswith("generator."))


def test_train_says_how_its_step_runs_and_what_it_could_not_do(tmp_path):
    args = ["train", "--steps", "1", "--batch-size", "8", "--split", "test", "--device", "cpu", "--cuda-graphs",
            "--out", str(tmp_path / "run"), "--set", "sample_every=0"]
    args += [f"--set=model.{key}={value}" for key, value in TINY_MODEL.items()]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "CUDA graphs need a CUDA device; running eagerly on cpu" in result.output
    assert f"step: eager, {CPU_PRECISION}, {CPU_LAYOUT}, fused adam" in result.output



def test_compile_without_a_cxx_compiler_runs_eagerly_after_one_notice(monkeypatch):
    import torch._dynamo
    import torch._inductor.config

    from gancli.training.step.bench import bench

    monkeypatch.setattr(torch._inductor.config.cpp, "cxx", ("/nonexistent/c++",))  # a machine with no compiler
    torch._dynamo.reset()
    try:
        result = bench(TrainConfig(batch_size=8, device="cpu", compile=True, model=TINY_MODEL), image_size=16,
                       steps=1, warmup_steps=1)
    finally:
        torch._dynamo.reset()
    failures = [line for line in result.notices if line.startswith("torch.compile failed")]
    assert len(failures) == 1 and failures[0].endswith("running eagerly"), result.notices
    assert "compiled" not in result.mode and torch.isfinite(torch.tensor(result.final_stats["loss_d"]))
