"""SNGAN through the command line, as a user who ran `pip install ./plugins/sngan` meets it."""

import json
from importlib.metadata import version

from PIL import Image
from typer.testing import CliRunner

from gancli.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_sample_and_inspect_sngan(tmp_path):
    out = tmp_path / "run"
    result = invoke("train", "--arch", "sngan", "--data", "synthetic", "--split", "test", "--steps", 3,
                    "--batch-size", 8, "--device", "cpu", "--out", out, "--set", "log_every=1",
                    "--set", "model.g_channels=32", "--set", "model.d_channels=8", "--set", "model.latent_dim=16")
    assert result.exit_code == 0, result.output
    checkpoint = out / "checkpoints" / "last.safetensors"
    assert "step 3/3" in result.output and str(checkpoint) in result.output

    grid = tmp_path / "grid.png"
    result = invoke("sample", checkpoint, "-n", 4, "-o", grid, "--nrow", 2)
    assert result.exit_code == 0, result.output
    with Image.open(grid) as image:  # 2 x 2 images of 32px with 2px padding
        assert image.size == (2 * 34 + 2, 2 * 34 + 2)

    report = json.loads(invoke("inspect", checkpoint, "--json").output)
    meta = report["metadata"]
    assert (meta["arch"], meta["arch_package"], meta["arch_version"]) == ("sngan", "gancli-sngan", version("gancli-sngan"))
    assert meta["loss"] == "hinge" and meta["step"] == "3"
    assert (meta["hparams"]["beta1"], meta["hparams"]["beta2"], meta["hparams"]["latent_dim"]) == (0.0, 0.9, 16)
    assert any(t["name"].endswith("parametrizations.weight.original") for t in report["tensors"])

    result = invoke("--no-plugins", "sample", checkpoint, "-o", tmp_path / "none.png")
    assert result.exit_code != 0 and "from package gancli-sngan" in result.output
    assert "plugins are disabled" in result.output and not (tmp_path / "none.png").exists()


def test_the_loss_can_be_overridden_and_the_plugin_switched_off(tmp_path):
    result = invoke("train", "--arch", "sngan", "--loss", "wgan-gp", "--split", "test", "--steps", 1,
                    "--batch-size", 4, "--device", "cpu", "--out", tmp_path / "run",
                    "--set", "model.g_channels=16", "--set", "model.d_channels=4", "--set", "model.latent_dim=8")
    assert result.exit_code == 0, result.output
    meta = json.loads(invoke("inspect", tmp_path / "run" / "checkpoints" / "last.safetensors", "--json").output)
    assert meta["metadata"]["loss"] == "wgan-gp"

    rows = {row["name"]: row for row in json.loads(invoke("list", "--json").output)["architectures"]}
    assert (rows["sngan"]["package"], rows["sngan"]["default_loss"], rows["sngan"]["d_steps"]) == ("gancli-sngan", "hinge", 5)
    assert rows["sngan"]["image_sizes"] == [32, 48, 64]
    hidden = {row["name"] for row in json.loads(invoke("--no-plugins", "list", "--json").output)["architectures"]}
    assert "sngan" not in hidden and "dcgan" in hidden
