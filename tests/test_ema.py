import json

import pytest
import torch
from conftest import tiny_config
from typer.testing import CliRunner

from gancli.checkpoints.format import load_tensors, read_info
from gancli.cli import app
from gancli.training.reporting import Reporter
from gancli.training.run.trainer import train

runner = CliRunner()


def test_the_ema_generator_is_the_running_average_of_the_raw_one(tmp_path):
    # ema_start=1: step 1 copies the generator, step 2 averages: ema = g1 + (1 - decay) (g2 - g1),
    # with the decay still in its warm-up: min(0.75, (1 + 1) / (10 + 1)).
    result = train(tiny_config(tmp_path / "run", steps=2, checkpoint_every=1, sample_every=0,
                               ema_decay=0.75, ema_start=1), reporter=Reporter())
    checkpoints = result.out / "checkpoints"
    first = load_tensors(checkpoints / "step-0000001.safetensors", "generator")
    second = load_tensors(checkpoints / "step-0000002.safetensors", "generator")
    assert torch.equal(load_tensors(checkpoints / "step-0000001.safetensors", "generator_ema")["project.weight"],
                       first["project.weight"])
    averaged = load_tensors(checkpoints / "step-0000002.safetensors", "generator_ema")
    weight = 1 - 2 / 11
    expected = first["project.weight"] + weight * (second["project.weight"] - first["project.weight"])
    assert torch.allclose(averaged["project.weight"], expected, atol=1e-7)
    assert not torch.equal(averaged["project.weight"], second["project.weight"])
    assert torch.equal(averaged["project_norm.running_mean"], second["project_norm.running_mean"])
    assert read_info(result.last_checkpoint).ema_decay == 0.75


def test_sample_uses_the_ema_generator_unless_no_ema_and_inspect_shows_it(tiny_run, tmp_path):
    from PIL import Image

    grids = {}
    for flags in ((), ("--no-ema",)):
        path = tmp_path / f"grid{len(flags)}.png"
        result = runner.invoke(app, ["sample", str(tiny_run.last_checkpoint), "-n", "4", "-o", str(path), *flags])
        assert result.exit_code == 0, result.output
        with Image.open(path) as image:
            grids[flags] = image.tobytes()
    assert grids[()] != grids[("--no-ema",)]
    report = json.loads(runner.invoke(app, ["inspect", str(tiny_run.last_checkpoint), "--json"]).output)
    assert report["metadata"]["ema_decay"] == "0.999"
    assert report["networks"]["generator_ema"]["parameters"] == report["networks"]["generator"]["parameters"]


def test_ema_decay_zero_trains_without_an_average(tmp_path):
    result = train(tiny_config(tmp_path / "run", steps=1, sample_every=0, ema_decay=0.0), reporter=Reporter())
    report = runner.invoke(app, ["inspect", str(result.last_checkpoint), "--json"]).output
    assert "generator_ema" not in report and read_info(result.last_checkpoint).ema_decay is None


def test_the_ema_decay_warms_up_then_holds_the_configured_value():
    from gancli.training.step.ema import GeneratorEMA

    ema = GeneratorEMA(torch.nn.Linear(2, 2), decay=0.999, start=100)
    decays = [ema.decay_at(step) for step in (101, 110, 200, 1_000, 100_000)]
    assert decays == sorted(decays) and decays[0] < 0.2
    assert decays[-1] == 0.999


def test_the_device_side_weight_follows_the_same_schedule_from_a_step_counter():
    from gancli.training.step.ema import GeneratorEMA

    # What a captured step computes from its step counter, with no recapture as the decay warms up.
    ema = GeneratorEMA(torch.nn.Linear(2, 2), decay=0.999, start=100)
    steps = (1, 100, 101, 110, 200, 1_000, 100_000)
    weights = [float(ema.weight_at(torch.tensor(step))) for step in steps]
    assert weights[:2] == [1.0, 1.0]  # up to `start`: a copy
    expected = [1 - ema.decay_at(step) for step in steps[2:]]
    assert weights[2:] == pytest.approx(expected, rel=1e-4)
