import json

import pytest
import yaml
from conftest import tiny_config

from gancli.errors import GancliError
from gancli.training.reporting import Reporter
from gancli.training.run.trainer import train


def test_a_run_folder_has_config_metrics_samples_and_checkpoints(tiny_run):
    out = tiny_run.out
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["arch"] == "dcgan" and config["steps"] == 4 and config["out"] == str(out)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert set(records[0]) >= {"step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "images_per_s"}
    assert all(0 <= r["d_real"] <= 1 and r["loss_d"] > 0 for r in records)
    assert sorted(p.name for p in (out / "samples").glob("*.png")) == ["step-0000002.png", "step-0000004.png"]
    assert (out / "samples" / "timelapse.gif").exists()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "last.safetensors", "step-0000002.safetensors", "step-0000004.safetensors"]


def test_training_changes_the_weights_and_is_reproducible_for_a_seed(tmp_path):
    from gancli.checkpoints.generator import load_generator

    first = train(tiny_config(tmp_path / "a", steps=2), reporter=Reporter())
    again = train(tiny_config(tmp_path / "b", steps=2), reporter=Reporter())
    other = train(tiny_config(tmp_path / "c", steps=2, seed=1), reporter=Reporter())
    weights = [load_generator(r.last_checkpoint).generator.state_dict() for r in (first, again, other)]
    name = "project.weight"
    assert (weights[0][name] == weights[1][name]).all()
    assert not (weights[0][name] == weights[2][name]).all()


def test_a_folder_holding_another_run_is_refused(tiny_run):
    with pytest.raises(GancliError, match="already holds a run"):
        train(tiny_config(tiny_run.out, steps=1), reporter=Reporter())
    assert (tiny_run.out / "checkpoints" / "step-0000004.safetensors").exists()


def test_image_size_and_channels_convert_the_dataset(tmp_path):
    result = train(tiny_config(tmp_path / "gray", steps=1, image_size=16, channels=1), reporter=Reporter())
    from gancli.checkpoints.format import read_info

    assert read_info(result.last_checkpoint).image_shape.as_tuple() == (1, 16, 16)


def test_d_steps_gives_each_generator_update_that_many_discriminator_updates(tmp_path):
    from gancli.training.run.trainer import Trainer

    trainer = Trainer(tiny_config(tmp_path / "run", steps=2, d_steps=3, sample_every=0), Reporter())
    result = trainer.run_loop()
    training = trainer.run.step.training
    optimizer_steps = [int(next(iter(opt.state.values()))["step"]) for opt in (training.opt_g, training.opt_d)]
    assert result.steps == 2 and optimizer_steps == [2, 6]
    # Each D update takes its own real batch, so an epoch (2,000 test images) has a third of the steps.
    assert trainer.run.step.batches.position == 6 and trainer.run.steps_per_epoch == 2000 // 8 // 3
    assert yaml.safe_load((result.out / "config.yaml").read_text())["d_steps"] == 3


def test_echo_trains_each_batch_that_many_steps_and_an_epoch_takes_as_many_times_the_steps(tmp_path):
    from gancli.training.run.trainer import Trainer

    config = tiny_config(tmp_path / "run", steps=None, epochs=1, batch_size=400, echo=2, sample_every=0)
    trainer = Trainer(config, Reporter())
    result = trainer.run_loop()
    training = trainer.run.step.training
    optimizer_steps = [int(next(iter(opt.state.values()))["step"]) for opt in (training.opt_g, training.opt_d)]
    # The 2,000 test images make 5 batches of 400, each trained twice: one epoch is 10 steps.
    assert result.steps == 10 and optimizer_steps == [10, 10] and trainer.run.steps_per_epoch == 10
    assert yaml.safe_load((result.out / "config.yaml").read_text())["echo"] == 2


@pytest.mark.parametrize("key", ["d_steps", "echo"])
def test_d_steps_and_echo_must_be_positive(tmp_path, key):
    with pytest.raises(GancliError, match=f"{key} must be positive, got 0"):
        tiny_config(tmp_path / "run", **{key: 0})


def test_the_first_steps_losses_are_shown_at_once_but_logged_on_schedule(tmp_path):
    shown = []

    class Watcher(Reporter):
        def metrics(self, metrics):
            shown.append(metrics["step"])

    result = train(tiny_config(tmp_path / "run", steps=4, log_every=2), reporter=Watcher())
    assert shown == [1, 2, 4]
    assert [json.loads(line)["step"] for line in (result.out / "metrics.jsonl").read_text().splitlines()] == [2, 4]


class Told(Reporter):
    def __init__(self):
        self.lines = []

    def notify(self, message):
        self.lines.append(message)


def test_a_batch_small_for_the_device_is_said_once_with_the_recipe_to_use(tmp_path, monkeypatch):
    from gancli.training.run import setup
    from gancli.training.run.dry_run import dry_run

    def idle_lines(lines):
        return [line for line in lines if "is small for" in line]

    quiet = Told()  # a CPU is not left idle by a small batch
    train(tiny_config(tmp_path / "cpu", steps=1, sample_every=0), reporter=quiet)
    assert quiet.lines and not idle_lines(quiet.lines)

    monkeypatch.setattr(setup, "SMALL_BATCH", {"cpu": 64})  # this CPU as a device a batch of 8 leaves idle
    told = Told()
    train(tiny_config(tmp_path / "small", steps=4, sample_every=0), reporter=told)
    [line] = idle_lines(told.lines)
    assert line.startswith("batch 8 is small for cpu") and setup.LARGE_BATCH_RECIPE in line
    planned = []
    dry_run(tiny_config(tmp_path / "planned", steps=4), notify=planned.append)
    assert idle_lines(planned) == [line]  # the dry run says what the run would


def test_the_small_batch_line_counts_images_per_device_and_spares_large_batches():
    import torch

    from gancli.config import TrainConfig
    from gancli.training.run.setup import small_batch_notice
    from gancli.training.step.distributed import World

    gpu = World(device=torch.device("cuda"))
    assert "batch 16 is small for cuda" in small_batch_notice(TrainConfig(batch_size=16), gpu)
    assert small_batch_notice(TrainConfig(batch_size=64), gpu) is None
    assert small_batch_notice(TrainConfig(batch_size=128), World(size=2, device=torch.device("cuda"))) is None
    four_gpus = World(size=4, device=torch.device("cuda"))
    assert "batch 32 per GPU" in small_batch_notice(TrainConfig(batch_size=128), four_gpus)
    assert small_batch_notice(TrainConfig(batch_size=16), World(device=torch.device("cpu"))) is None
