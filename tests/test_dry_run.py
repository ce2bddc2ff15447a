"""`gancli train --dry-run`: the resolved config, what the run would write where, and how long it
would take, with nothing written; `gancli bench --config` times the same recipe's step."""

import json

import yaml
from conftest import TINY_MODEL
from typer.testing import CliRunner

from gancli.cli import app

runner = CliRunner()
TINY = ["--split", "test", "--batch-size", "8", "--device", "cpu",
        *[f"--set=model.{key}={value}" for key, value in TINY_MODEL.items()]]


def dry_run(*args):
    return runner.invoke(app, ["train", "--dry-run", *TINY, *map(str, args)])


def config_part(output: str) -> dict:
    """The YAML the dry run starts with, up to the first blank line."""
    return yaml.safe_load(output.split("\n\n", 1)[0])


def test_a_dry_run_prints_the_config_as_resolved_and_writes_nothing(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("epochs: 3\nbatch_size: 4\nsample_every: 10\nlog_every: 5\n")
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--dry-run", "--config", str(recipe), "--set", "epochs=2", "--split", "test",
                                 "--batch-size", "8", "--device", "cpu", "--out", str(out),
                                 *[f"--set=model.{key}={value}" for key, value in TINY_MODEL.items()]])
    assert result.exit_code == 0, result.output
    config = config_part(result.output)
    # defaults < file < --set < flags
    assert config["epochs"] == 2 and config["batch_size"] == 8 and config["sample_every"] == 10
    assert config["out"] == str(out) and config["model"] == TINY_MODEL and config["arch"] == "dcgan"
    assert "Data: synthetic (test), 2,000 images of 3x32x32" in result.output
    assert "Steps: 500 of batch 8, 2 epochs of 250" in result.output  # 2,000 images // 8
    assert f"Writes into {out}/:" in result.output
    assert "losses every 5 steps (100)" in result.output and "a grid every 10 steps (50)" in result.output
    assert "Timed 5 steps: " in result.output and "500 steps take about " in result.output
    assert result.output.rstrip().endswith("Nothing was written; drop --dry-run to train.")
    assert not out.exists()


def test_a_dry_run_counts_an_epochs_steps_with_each_batch_echoed():
    result = dry_run("--epochs", 2, "--echo", 3)
    assert result.exit_code == 0, result.output
    assert "Steps: 1,500 of batch 8, 2 epochs of 750" in result.output  # 250 batches, each 3 steps


def test_a_dry_run_of_a_folder_holding_a_run_says_what_training_would_say(tiny_run):
    before = {path: path.stat().st_mtime_ns for path in tiny_run.out.rglob("*")}
    refused = dry_run("--steps", 8, "--out", tiny_run.out)
    assert refused.exit_code == 1 and refused.output.count("\n") == 1, refused.output
    assert f"{tiny_run.out} already holds a run" in refused.output and "--resume" in refused.output

    resumed = runner.invoke(app, ["train", "--dry-run", "--resume", str(tiny_run.out), "--steps", "8"])
    assert resumed.exit_code == 0, resumed.output
    assert f"Resumes: at step 4 from {tiny_run.out}/checkpoints/last.safetensors" in resumed.output
    assert "steps 4 -> 8" in resumed.output.replace("'", "")
    assert "Steps: 8 of batch 8" in resumed.output and "4 steps take about " in resumed.output
    assert {path: path.stat().st_mtime_ns for path in tiny_run.out.rglob("*")} == before  # nothing written


def test_a_dry_run_names_a_mistake_in_one_line_before_timing_anything(tmp_path):
    result = dry_run("--set", "log_every=lots", "--out", tmp_path / "run")
    assert result.exit_code == 1 and result.output.startswith("Error: log_every: expected int"), result.output
    assert result.output.count("\n") == 1


def test_bench_takes_a_training_config(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("data: synthetic\nbatch_size: 8\nmodel:\n" + "".join(f"  {k}: {v}\n" for k, v in TINY_MODEL.items()))
    result = runner.invoke(app, ["bench", "--config", str(recipe), "--steps", "2", "--warmup", "1", "--device", "cpu",
                                 "--json"])
    assert result.exit_code == 0, result.output
    bench = json.loads(result.output)
    assert bench["batch_size"] == 8 and bench["image_shape"] == "3x32x32"  # the recipe's, not bench's own defaults
