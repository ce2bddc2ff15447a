"""When the device runs out of memory, sampling, evaluation and the evaluation inside training halve
their batch and go on, with one notice, down to one image; only then they fail, in one line naming
the batch they tried. The device's error is played on the CPU by networks that raise PyTorch's own
`torch.OutOfMemoryError` for batches above a limit.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import StandInFeatures
from typer.testing import CliRunner

from gancli.checkpoints.generator import load_generator
from gancli.cli import app
from gancli.datasets.loading import load_images
from gancli.errors import GancliError
from gancli.metrics.evaluation import evaluate
from gancli.metrics.features import FeatureExtractor
from gancli.sampling.generate import images_from_latents
from gancli.training.run.best import RunScorer

runner = CliRunner()


class FitsUpTo(torch.nn.Module):
    """`network`, but a call on more than `limit` images raises as a full device does."""

    def __init__(self, network: torch.nn.Module, limit: int):
        super().__init__()
        self.network, self.limit, self.calls = network, limit, []

    def forward(self, x, *rest):
        self.calls.append(x.shape[0])
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {x.shape[0]} images' worth")
        return self.network(x, *rest)


def with_limit(model, limit: int):
    return dataclasses.replace(model, generator=FitsUpTo(model.generator, limit))


def test_generating_halves_the_batch_until_it_fits_and_makes_the_same_images(tiny_run):
    model = load_generator(tiny_run.last_checkpoint)
    latents = model.sample_latent(40, generator=torch.Generator().manual_seed(0))
    expected = torch.cat(list(images_from_latents(model.generator, latents, "cpu", batch_size=64)))
    limited, told = FitsUpTo(model.generator, 10), []
    images = torch.cat(list(images_from_latents(limited, latents, "cpu", batch_size=64, notify=told.append)))
    assert (images.int() - expected.int()).abs().max() <= 1  # a batch's size may round a pixel differently
    assert limited.calls == [40, 20, 10, 10, 10, 10]  # 64 asks for all 40 at once; then half of what failed
    assert len(told) == 1 and "out of memory on cpu at a batch of 40" in told[0]


def test_at_a_batch_of_one_it_fails_in_one_line_naming_the_batch(tiny_run):
    model = load_generator(tiny_run.last_checkpoint)
    latents = model.sample_latent(5)
    with pytest.raises(GancliError, match=r"out of memory on cpu at a batch of 1 image, halved from 8"):
        list(images_from_latents(FitsUpTo(model.generator, 0), latents, "cpu", batch_size=8))


def test_features_halve_their_batch_and_keep_it_for_the_next_call():
    pixels = torch.randint(0, 256, (50, 3, 32, 32), dtype=torch.uint8)
    expected = FeatureExtractor(StandInFeatures(), "standin", 32, batch_size=64)(pixels)
    network, told = FitsUpTo(StandInFeatures(), 16), []
    extractor = FeatureExtractor(network, "standin", 32, batch_size=64)
    features = extractor(pixels, notify=told.append)
    assert torch.allclose(features, expected, atol=1e-5)
    assert network.calls[:3] == [50, 25, 12]
    assert len(told) == 1 and "computing image features" in told[0] and extractor.batch_size == 12
    network.calls.clear()
    extractor(pixels[:20])
    assert network.calls == [12, 8]  # no second try at 64


def test_eval_backs_off_in_generating_and_in_features(tiny_run, monkeypatch):
    import gancli.metrics.evaluation as evaluation

    monkeypatch.setattr(evaluation, "load_generator", lambda path, device: with_limit(load_generator(path, device), 4))
    told = []
    extractor = FeatureExtractor(FitsUpTo(StandInFeatures(), 8), "standin", 32, batch_size=32)
    report = evaluate(tiny_run.last_checkpoint, num=20, num_real=40, metrics=("fid",), device="cpu",
                      batch_size=32, extractor=extractor, cache_folder=tiny_run.out / "no-cache", notify=told.append)
    assert report["fid"] >= 0
    assert [line.split(":")[0] for line in told] == ["generating images", "computing image features"]


def test_the_evaluation_inside_training_backs_off(tiny_run):
    model = with_limit(load_generator(tiny_run.last_checkpoint), 4)
    images = load_images("synthetic", "test")
    told = []
    scorer = RunScorer(images, "synthetic", "test", 12, conditional=False,
                       extractor=lambda: FeatureExtractor(FitsUpTo(StandInFeatures(), 8), "standin", 32),
                       cache_folder=tiny_run.out / "no-cache", notify=told.append)
    scores = scorer.score(model.generator, model.sample_latent, torch.device("cpu")).scores
    # The real features back off (and the fakes' keep their batch), then the generator does.
    assert scores["fid"] >= 0 and [line.split(":")[0] for line in told] == ["computing image features",
                                                                           "generating images"]


def test_sample_says_it_backed_off_and_fails_in_one_line_at_the_floor(tiny_run, tmp_path, monkeypatch):
    import gancli.sampling.output as output

    limit = {"images": 4}
    real_loader = output.load_generator
    monkeypatch.setattr(output, "load_generator",
                        lambda path, device, ema=True: with_limit(real_loader(path, device, ema=ema), limit["images"]))
    result = runner.invoke(app, ["sample", str(tiny_run.last_checkpoint), "-n", "16", "--device", "cpu",
                                 "-o", str(tmp_path / "grid.png")])
    assert result.exit_code == 0, result.output
    assert "out of memory on cpu at a batch of 16" in result.output and (tmp_path / "grid.png").is_file()

    limit["images"] = 0
    result = runner.invoke(app, ["sample", str(tiny_run.last_checkpoint), "-n", "16", "--device", "cpu",
                                 "--batch-size", "8", "-o", str(tmp_path / "none.png")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Error: generating images: out of memory on cpu at a batch of 1 image, halved from 8" in result.output
    assert not (tmp_path / "none.png").exists()
