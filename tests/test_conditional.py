"""Class-conditional GANs: training on labels, checkpoints that name their classes, and sampling,
inspecting, exporting and resuming them through the real commands."""

import numpy as np
import pytest
import torch
from conftest import assert_same_tensors, tiny_config
from PIL import Image
from typer.testing import CliRunner

from gancli.checkpoints.format import read_info
from gancli.checkpoints.generator import load_generator
from gancli.cli import app
from gancli.errors import ConfigError
from gancli.sampling.labels import parse_classes
from gancli.training.reporting import Reporter
from gancli.training.run.trainer import train

runner = CliRunner()
DIGITS = tuple(str(digit) for digit in range(10))


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def sample(*args):
    result = invoke("sample", *args, "--device", "cpu")
    assert result.exit_code == 0, result.output
    return result


def test_a_conditional_run_records_its_classes_and_grids_one_row_per_class(conditional_run):
    info = read_info(conditional_run.last_checkpoint)
    assert info.classes == DIGITS and info.conditional
    grid = sorted((conditional_run.out / "samples").glob("step-*.png"))[-1]
    with Image.open(grid) as image:  # 8 columns, 10 rows of 32-pixel tiles with 2-pixel gaps
        assert image.size == (2 + 34 * 8, 2 + 34 * 10)
    result = invoke("inspect", conditional_run.last_checkpoint)
    assert result.exit_code == 0 and "10: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in result.output


def test_sampled_classes_are_the_ones_asked_for_with_one_latent_per_column(conditional_run, tmp_path):
    sample(conditional_run.last_checkpoint, "--class", "3,5", "-n", 4, "--format", "npz", "-o", tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz") as archive:
        images, labels = archive["images"], archive["labels"]
    assert labels.tolist() == [3, 3, 3, 3, 5, 5, 5, 5]

    model = load_generator(conditional_run.last_checkpoint)
    latents = model.sample_latent(4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # the same four latents in both rows, each made as its row's class
        expected = torch.cat([model.generator(latents, torch.full((4,), label)) for label in (3, 5)])
    expected = ((expected.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1
    assert not np.array_equal(images[0], images[4])  # the class changes the image

    sample(conditional_run.last_checkpoint, "--class", "all", "-n", 3, "-o", tmp_path / "all.png")
    with Image.open(tmp_path / "all.png") as image:  # one row per class, -n images in each
        assert image.size == (2 + 34 * 3, 2 + 34 * 10)


def test_individual_files_are_named_by_class_and_a_walk_stays_in_one(conditional_run, tmp_path):
    sample(conditional_run.last_checkpoint, "--class", "7,2", "-n", 2, "--individual", tmp_path / "png")
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == \
        ["2-000000.png", "2-000001.png", "7-000000.png", "7-000001.png"]

    sample(conditional_run.last_checkpoint, "--seeds", "0,1", "--interpolate", 2, "--class", "4",
           "-o", tmp_path / "walk.png")
    assert (tmp_path / "walk.gif").is_file()
    result = invoke("sample", conditional_run.last_checkpoint, "--seeds", "0,1", "--interpolate", 2,
                    "-o", tmp_path / "w2.png", "--device", "cpu")
    assert result.exit_code == 1 and "give one --class" in result.output


def test_class_names_numbers_and_case_all_name_a_class():
    fashion = ("T-shirt/top", "Trouser", "Pullover")
    assert parse_classes("Trouser,0,pullover", fashion) == [1, 0, 2]
    assert parse_classes("all", fashion) == [0, 1, 2]
    with pytest.raises(ConfigError, match="'Dress' is not one of the checkpoint's 3 classes: T-shirt/top, Trouser"):
        parse_classes("Dress", fashion)


def test_a_class_on_an_unconditional_checkpoint_or_an_unknown_class_is_one_clear_line(tiny_run, conditional_run):
    result = invoke("sample", tiny_run.last_checkpoint, "--class", "7", "--device", "cpu")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "unconditional" in result.output and "Traceback" not in result.output
    result = invoke("sample", conditional_run.last_checkpoint, "--class", "11", "--device", "cpu")
    assert result.exit_code == 1 and "not one of the checkpoint's 10 classes" in result.output


def test_conditional_training_needs_labels_and_a_conditional_architecture(tmp_path, install_package):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (16, 16), (60 * i, 0, 0)).save(folder / f"{i}.png")
    result = invoke("train", "--data", f"folder:{folder}", "--image-size", 16, "--conditional", "--steps", 1,
                    "--batch-size", 2, "--device", "cpu", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "has no class labels" in result.output and "subfolder per class" in result.output

    install_package("plain-arch", {"gancli.architectures": {"plain": "plain_arch:plain"}}, modules={"plain_arch": """
from gancli.architectures.dcgan import DCGAN

class Plain(DCGAN):
    conditional = False

plain = Plain()
"""})
    result = invoke("train", "--arch", "plain", "--conditional", "--steps", 1, "--split", "test",
                    "--device", "cpu", "--out", tmp_path / "run2")
    assert result.exit_code == 1 and "arch plain is not class-conditional" in result.output
    assert "dcgan" in result.output  # it names the ones that are


def test_onnx_takes_a_latent_and_a_label(conditional_run, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    result = invoke("export", conditional_run.last_checkpoint, "-o", tmp_path / "g.onnx")
    assert result.exit_code == 0, result.output
    session = onnxruntime.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["latent", "label"]
    model = load_generator(conditional_run.last_checkpoint)
    latents = model.sample_latent(3, generator=torch.Generator().manual_seed(5))
    labels = torch.tensor([9, 0, 4])
    produced = session.run(["image"], {"latent": latents.numpy(), "label": labels.numpy()})[0]
    with torch.no_grad():
        assert np.abs(produced - model.generator(latents, labels).numpy()).max() < 1e-4


def test_a_conditional_run_resumes_bit_for_bit_and_cannot_drop_its_labels(tmp_path):
    settings = dict(batch_size=400, checkpoint_every=3, log_every=2, sample_every=0, conditional=True)
    straight = train(tiny_config(tmp_path / "straight", steps=6, **settings), reporter=Reporter())
    train(tiny_config(tmp_path / "resumed", steps=3, **settings), reporter=Reporter())
    resumed = train(tiny_config(tmp_path / "resumed", steps=6, **settings), reporter=Reporter(),
                    resume=tmp_path / "resumed")
    assert_same_tensors(straight.last_checkpoint, resumed.last_checkpoint)
    assert_same_tensors(*(run.out / "state" / "last.safetensors" for run in (straight, resumed)))

    unconditional = dict(settings, conditional=False)
    with pytest.raises(ConfigError, match="conditional was True, now False"):
        train(tiny_config(tmp_path / "resumed", steps=8, **unconditional), reporter=Reporter(),
              resume=tmp_path / "resumed")
