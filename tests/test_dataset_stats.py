"""`gancli datasets stats`: the reference statistics computed ahead of training are the very ones
the evaluation during training and `gancli eval` then find in the cache."""

from __future__ import annotations

import json

import torch
from conftest import StandInFeatures
from dataset_folders import class_folder, smooth_image
from typer.testing import CliRunner

from gancli.cli import app
from gancli.datasets.loading import load_images
from gancli.datasets.packing import make_pack
from gancli.metrics.classifier import ClassifierRecipe
from gancli.metrics.evaluation import ClassifierJudge, Scorer
from gancli.metrics.features import FeatureExtractor
from gancli.metrics.real_stats import reference_statistics

runner = CliRunner()
QUICK_RECIPE = ClassifierRecipe(epochs=1, min_steps=0)  # the default trains for minutes on two cores


def standin() -> FeatureExtractor:
    return FeatureExtractor(StandInFeatures(), "standin-0", input_size=32)


def test_stats_of_a_pack_are_what_training_then_reads_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    make_pack(str(class_folder(tmp_path / "pets", {"cat": 20, "dog": 20})), tmp_path / "pets.safetensors", 16)
    told = []
    stats = reference_statistics("pets.safetensors", num=30, extractor=standin, notify=told.append,
                                 recipe=QUICK_RECIPE)
    assert stats.features.is_file() and not stats.features_cached and stats.images == 30
    assert stats.classifier.is_file() and not stats.classifier_cached and 0 <= stats.classifier_accuracy <= 1
    assert "standin-0: 12-d features of 30 uint8 images 3x16x16" in stats.feature_protocol
    assert any("training the reference classifier" in line for line in told)
    # What training builds for `--eval-every` with `--eval-num 30`, from the same file by another path.
    images = load_images("./pets.safetensors")
    assert Scorer(standin(), "./pets.safetensors", "train", images.pixels[:30]).real_cached
    assert ClassifierJudge.of(images, recipe=QUICK_RECIPE).reference.cached
    again = reference_statistics("pets.safetensors", num=30, extractor=standin, recipe=QUICK_RECIPE)
    assert again.features_cached and again.classifier_cached and again.features == stats.features


def test_the_command_prints_where_they_live_and_refuses_what_it_cannot_make(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    network = tmp_path / "standin.pt"
    torch.jit.script(StandInFeatures()).save(str(network))
    make_pack(str(class_folder(tmp_path / "pets", {"cat": 4, "dog": 4})), tmp_path / "pets.safetensors", 16)
    result = runner.invoke(app, ["datasets", "stats", str(tmp_path / "pets.safetensors"), "--inception", str(network),
                                 "--metrics", "fid", "--num", "all", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "FID features of 8 real images, computed now: " + str(tmp_path / "cache" / "real-features") in result.output
    assert "protocol: inception-ts-" in result.output and "gancli eval (every real image)" in result.output
    as_json = runner.invoke(app, ["datasets", "stats", str(tmp_path / "pets.safetensors"), "--inception",
                                  str(network), "--metrics", "fid", "--num", "all", "--device", "cpu", "--json"])
    assert json.loads(as_json.stdout)["features_cached"] is True
    flat = tmp_path / "flat"
    flat.mkdir()
    for index in range(3):
        smooth_image(index).save(flat / f"{index}.png")
    make_pack(str(flat), tmp_path / "flat.safetensors", 16)
    for args, named in (([str(tmp_path / "flat.safetensors"), "--metrics", "classifier"],
                         "the classifier needs class labels"),
                        (["synthetic", "--metrics", "nothing"], "--metrics: expected fid, classifier or auto"),
                        (["synthetic", "--num", "1"], "--num must be at least 2"),
                        (["synthetic", "--num", "many"], "--num: expected a number of images or all")):
        refused = runner.invoke(app, ["datasets", "stats", *args])
        assert refused.exit_code == 1 and named in refused.output.strip().splitlines()[-1], refused.output
