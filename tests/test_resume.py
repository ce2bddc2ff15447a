import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY_MODEL, assert_same_tensors, tiny_config
from typer.testing import CliRunner

from gancli.checkpoints.format import read_info, read_tensors
from gancli.checkpoints.state import load_state
from gancli.cli import app
from gancli.config import TrainConfig
from gancli.errors import ConfigError, GancliError
from gancli.training.batches import DeviceBatches, StreamedBatches
from gancli.training.reporting import Reporter
from gancli.training.resume import find_resume_point
from gancli.training.trainer import train

runner = CliRunner()


def cli_train(*args):
    tiny = [f"--set=model.{k}={v}" for k, v in TINY_MODEL.items()]
    return runner.invoke(app, ["train", "--data", "synthetic", "--split", "test", "--batch-size", "8",
                               "--device", "cpu", "--set", "sample_every=0", *tiny, *map(str, args)])


def test_n_steps_then_resume_then_m_steps_equals_n_plus_m_steps_bit_for_bit(tmp_path):
    # Batches of 400 make an epoch of the 2000-image split 5 steps long: the resume lands
    # mid-epoch and the run goes on past the epoch's end, into a new permutation.
    settings = dict(batch_size=400, checkpoint_every=3, log_every=2, sample_every=0)
    straight = train(tiny_config(tmp_path / "straight", steps=6, **settings), reporter=Reporter())
    train(tiny_config(tmp_path / "resumed", steps=3, **settings), reporter=Reporter())
    torch.manual_seed(1234)  # whatever happened in between must not matter
    resumed = train(tiny_config(tmp_path / "resumed", steps=6, **settings), reporter=Reporter(),
                    resume=tmp_path / "resumed")

    assert resumed.steps == 6
    assert_same_tensors(straight.last_checkpoint, resumed.last_checkpoint)  # G, D and the EMA G
    # Optimiser moments, every RNG state and the data order too.
    states = [run.out / "state" / "last.safetensors" for run in (straight, resumed)]
    assert_same_tensors(*states)
    assert load_state(states[0]).values == load_state(states[1]).values  # Python's RNG, data position
    steps = [json.loads(line)["step"] for line in (resumed.out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 3, 4, 6]  # the first part ended with its own log at step 3


def test_resume_refuses_a_changed_architecture_or_dataset_and_names_it(tiny_run):
    base = find_resume_point(tiny_run.out).config
    with pytest.raises(ConfigError, match="data was 'synthetic', now 'other'"):
        train(TrainConfig.from_dict({**base, "data": "other"}), reporter=Reporter(), resume=tiny_run.out)
    changed = {**base, "model": {**TINY_MODEL, "g_channels": 32}}
    with pytest.raises(ConfigError, match="model.g_channels was 64, now 32"):
        train(TrainConfig.from_dict(changed), reporter=Reporter(), resume=tiny_run.out)
    assert read_info(tiny_run.last_checkpoint).step == 4  # nothing was touched


def test_resume_from_the_cli_allows_more_steps_and_a_new_lr_and_says_so(tmp_path):
    out = tmp_path / "run"
    assert cli_train("--steps", 2, "--out", out, "--checkpoint-every", 2).exit_code == 0
    result = cli_train("--resume", out, "--steps", 4, "--lr", 0.001)
    assert result.exit_code == 0, result.output
    assert f"Resuming {out} at step 2" in result.output
    assert "steps 2 -> 4" in result.output and "lr None -> 0.001" in result.output
    assert read_info(out / "checkpoints" / "last.safetensors").step == 4
    assert yaml.safe_load((out / "config.yaml").read_text())["steps"] == 4
    result = cli_train("--resume", out, "--arch", "dcgan", "--split", "train")
    assert result.exit_code != 0 and "split was 'test', now 'train'" in result.output


def test_resume_auto_starts_fresh_then_continues(tmp_path):
    out = tmp_path / "run"
    assert cli_train("--resume", "auto", "--out", out, "--steps", 2).exit_code == 0
    result = cli_train("--resume", "auto", "--out", out, "--steps", 3)
    assert result.exit_code == 0 and "at step 2" in result.output
    assert read_info(out / "checkpoints" / "last.safetensors").step == 3
    result = cli_train("--out", out, "--steps", 4)
    assert result.exit_code != 0 and "already holds a run" in result.output and "--resume" in result.output


def test_a_torn_metrics_line_and_a_torn_checkpoint_pair_do_not_break_resume(tmp_path):
    out = tmp_path / "run"
    train(tiny_config(out, steps=4, checkpoint_every=2, sample_every=0), reporter=Reporter())
    with (out / "metrics.jsonl").open("a") as f:
        f.write('{"step": 5, "loss')  # a crash in the middle of a line
    # A crash between the two writes of a save: the state of `last` is from another save.
    (out / "state" / "last.safetensors").write_bytes((out / "state" / "step-0000002.safetensors").read_bytes())
    result = train(tiny_config(out, steps=6, checkpoint_every=2, sample_every=0), reporter=Reporter(), resume=out)
    assert result.steps == 6
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6]  # resumed from step 4: nothing re-logged twice


def test_a_run_without_a_checkpoint_cannot_be_resumed(tmp_path):
    with pytest.raises(GancliError, match="holds no gancli run"):
        train(tiny_config(tmp_path / "none"), reporter=Reporter(), resume=tmp_path / "none")


@pytest.mark.parametrize("make", [
    lambda pixels, seed: DeviceBatches(pixels, 10, seed=seed),
    lambda pixels, seed: StreamedBatches(pixels, 10, seed=seed, device=torch.device("cpu"), workers=1),
], ids=["device", "streamed"])
def test_a_restored_batch_order_continues_exactly_across_epochs(make):
    pixels = torch.arange(50, dtype=torch.uint8).view(50, 1, 1, 1).expand(50, 1, 2, 2).contiguous()
    straight = make(pixels, 3)
    taken = [straight.next() for _ in range(7)]  # an epoch is 5 batches
    saved = (straight.rng.get_state(), straight.order.clone(), straight.epoch, straight.position)
    expected = [straight.next() for _ in range(6)]
    resumed = make(pixels, 99)  # another seed: everything must come from the saved state
    resumed.rng.set_state(saved[0])
    resumed.restore(*saved[1:])
    assert all(torch.equal(a.images, b.images) for a, b in zip(expected, [resumed.next() for _ in range(6)]))
    assert taken and resumed.epoch == straight.epoch == 2


def test_the_grad_scaler_travels_with_the_training_state(tmp_path):
    # fp16 (CUDA only) steps through a grad scaler; its scale and growth counter must survive a
    # resume. The scaler is the one the fp16 step would use, on the CPU device.
    from gancli.training.snapshot import Progress, capture_state, restore_state
    from gancli.training.trainer import Trainer

    first = Trainer(tiny_config(tmp_path / "a", steps=1), Reporter())
    scaler = first.training.scaler = torch.amp.GradScaler("cpu", init_scale=512.0, growth_interval=3)
    scaler.scale(torch.ones(1))  # the scale tensor is made on first use
    scaler.update(256.0)
    state = capture_state("id", Progress(1), first.config.to_dict(), first.dataset_images, first.training,
                          first.batches)
    assert state.values["grad_scaler"]["scale"] == 256.0

    second = Trainer(tiny_config(tmp_path / "b", steps=1), Reporter())
    second.training.scaler = torch.amp.GradScaler("cpu")
    first.save()
    restore_state(read_tensors(first.run.last_checkpoint), first.run.last_checkpoint, state, second.training,
                  second.batches, second.ema, seed=0, notify=print)
    assert second.training.scaler.state_dict() == scaler.state_dict()


FIXTURES = Path(__file__).parent / "fixtures"


def test_a_run_written_by_gancli_0_1_resumes_exactly(tmp_path):
    # tests/fixtures/run-0.1 was trained for 4 of 6 steps by gancli 0.1 as released (its last
    # checkpoint and training state only); finishing it here must match a straight 6-step run.
    old = tmp_path / "old"
    shutil.copytree(FIXTURES / "run-0.1", old)
    config = TrainConfig.from_dict(yaml.safe_load((old / "config.yaml").read_text()))
    # its `precision: auto` meant fp32 on the CPU it was made on (one without bf16 instructions)
    config = dataclasses.replace(config, precision="fp32")
    straight = train(dataclasses.replace(config, steps=6, out=str(tmp_path / "straight")), reporter=Reporter())
    resumed = train(dataclasses.replace(config, steps=6, out=str(old)), reporter=Reporter(), resume=old)
    assert resumed.steps == 6
    assert_same_tensors(straight.last_checkpoint, resumed.last_checkpoint)
