"""`gancli export --format onnx`: the ONNX generator makes the images PyTorch makes."""

import importlib.util
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from gancli.checkpoints.generator import load_generator
from gancli.cli import app

runner = CliRunner()
has_onnx = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))


@pytest.mark.skipif(not has_onnx, reason='needs pip install "gancli[onnx]"')
def test_onnx_generator_matches_pytorch_on_new_latents(tiny_run, tmp_path):
    import onnxruntime

    out = tmp_path / "generator.onnx"
    result = runner.invoke(app, ["export", str(tiny_run.last_checkpoint), "--format", "onnx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    model = load_generator(tiny_run.last_checkpoint)
    latents = torch.randn(5, model.info.latent_dim, generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        expected = model.generator(latents).numpy()
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    produced = session.run(None, {"latent": latents.numpy()})[0]
    assert produced.shape == expected.shape == (5, 3, 32, 32)
    assert abs(produced - expected).max() < 1e-4


def test_export_without_the_extra_says_what_to_install(tiny_run, tmp_path):
    # Run as a fresh process in which onnxruntime cannot be imported, as when it is not installed.
    script = ("import sys; sys.modules['onnxruntime'] = None; from gancli.cli import main; "
              f"sys.argv = ['gancli', 'export', {str(tiny_run.last_checkpoint)!r}, '-o', {str(tmp_path / 'g.onnx')!r}]; main()")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode != 0
    assert 'pip install "gancli[onnx]"' in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "g.onnx").exists()


def test_export_rejects_an_unknown_format(tiny_run):
    result = runner.invoke(app, ["export", str(tiny_run.last_checkpoint), "--format", "tflite"])
    assert result.exit_code != 0 and "--format must be one of onnx" in result.output
