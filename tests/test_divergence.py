"""A learning rate of 1e30 makes the very next step's loss non-finite: a real divergence."""

import pytest
import torch
from conftest import tiny_config
from typer.testing import CliRunner

from gancli.checkpoints.format import read_info
from gancli.checkpoints.state import load_state
from gancli.cli import app
from gancli.errors import TrainingDiverged
from gancli.training.reporting import Reporter
from gancli.training.run.trainer import train

runner = CliRunner()


@pytest.fixture
def two_good_steps(tmp_path):
    out = tmp_path / "run"
    train(tiny_config(out, steps=2, checkpoint_every=2, sample_every=0), reporter=Reporter())
    return out


def test_a_non_finite_loss_stops_training_naming_the_step_and_keeps_the_last_good_checkpoint(two_good_steps):
    out = two_good_steps
    last = out / "checkpoints" / "last.safetensors"
    before = last.read_bytes()
    result = runner.invoke(app, ["train", "--resume", str(out), "--steps", "8", "--lr", "1e30",
                                 "--set", "log_every=4", "--set", "checkpoint_every=1"])
    assert result.exit_code == 3
    assert "Error: training diverged: the loss became non-finite (NaN or infinite) at step 3" in result.output
    assert f"the last good checkpoint, {last}, is untouched" in result.output
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: training diverged")  # one line
    assert last.read_bytes() == before
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.safetensors", "step-0000002.safetensors"]


def test_rollback_reloads_the_last_checkpoint_and_continues_with_a_lower_learning_rate(two_good_steps):
    out = two_good_steps
    config = tiny_config(out, steps=4, lr=1e30, checkpoint_every=2, sample_every=0, on_nan="rollback",
                         rollback_lr_factor=1e-33)
    messages = []

    class Recorder(Reporter):
        def notify(self, text):
            messages.append(text)

    result = train(config, reporter=Recorder(), resume=out)
    assert result.steps == 4
    assert any(m.startswith("the loss became non-finite (NaN or infinite) at step 3; rolled back to step 2")
               for m in messages), messages
    state = load_state(out / "state" / "last.safetensors")
    assert state.step == 4
    assert state.values["opt_g"]["param_groups"][0]["lr"] == pytest.approx(1e-3)
    assert read_info(out / "checkpoints" / "last.safetensors").step == 4


def test_rollback_gives_up_after_max_rollbacks(two_good_steps):
    config = tiny_config(two_good_steps, steps=4, lr=1e30, sample_every=0, on_nan="rollback", max_rollbacks=2)
    with pytest.raises(TrainingDiverged, match="at step 3"):
        train(config, reporter=Reporter(), resume=two_good_steps)


def test_the_guard_reads_nothing_back_per_step():
    from gancli.training.step.divergence import DivergenceGuard

    guard = DivergenceGuard(torch.device("cpu"))
    for step, value in enumerate([1.0, 2.0, float("nan"), float("inf"), 3.0], start=1):
        guard.observe(torch.tensor([value, 0.5]), step)
    first_bad, finite = guard.probe([torch.ones(3)]).tolist()
    assert (first_bad, finite) == (3.0, 1.0)
    assert guard.probe([torch.tensor([1.0, float("nan")])]).tolist()[1] == 0.0


def test_divergence_before_any_checkpoint_gives_advice_that_works(tmp_path):
    out = tmp_path / "run"
    flags = ["--data", "synthetic", "--split", "test", "--batch-size", "8", "--device", "cpu",
             "--set", "sample_every=0", "--set", "log_every=2", "--set", "model.g_channels=16",
             "--set", "model.d_channels=4"]
    result = runner.invoke(app, ["train", *flags, "--steps", "4", "--lr", "1e30", "--out", str(out)])
    assert result.exit_code == 3
    advice = result.output.strip().rsplit("Start it again with a lower --lr: ", 1)[1]
    assert advice == f"gancli train --config {out / 'config.yaml'} --overwrite --lr LR"
    again = runner.invoke(app, advice.replace("LR", "2e-4").split()[1:])
    assert again.exit_code == 0, again.output
    assert read_info(out / "checkpoints" / "last.safetensors").step == 4


def test_a_rolled_back_checkpoint_records_the_learning_rates_in_effect(two_good_steps):
    config = tiny_config(two_good_steps, steps=4, lr=1e30, checkpoint_every=2, sample_every=0, on_nan="rollback",
                         rollback_lr_factor=1e-33)
    train(config, reporter=Reporter(), resume=two_good_steps)
    hparams = read_info(two_good_steps / "checkpoints" / "last.safetensors").hparams
    assert hparams["lr_g"] == pytest.approx(1e-3) and hparams["lr_d"] == pytest.approx(1e-3)
    # Resuming without a new --lr keeps the lowered rates; they are not reported as changed.
    messages = []

    class Recorder(Reporter):
        def notify(self, text):
            messages.append(text)

    train(tiny_config(two_good_steps, steps=5, lr=1e30, checkpoint_every=1, sample_every=0), reporter=Recorder(),
          resume=two_good_steps)
    assert not [m for m in messages if m.startswith("Changed on resume: model.lr")]
    assert load_state(two_good_steps / "state" / "last.safetensors").values["opt_g"]["param_groups"][0]["lr"] \
        == pytest.approx(1e-3)
