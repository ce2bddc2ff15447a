"""`gancli eval` end to end on a tiny run, and FID tracking with best.safetensors during training."""

import json

import pytest
import torch
from conftest import StandInFeatures, tiny_config
from typer.testing import CliRunner

from gancli.checkpoints.format import read_info
from gancli.cli import app
from gancli.metrics.classifier import ClassifierRecipe
from gancli.metrics.evaluation import ClassifierJudge, evaluate
from gancli.training.reporting import Reporter
from gancli.training.run.best import EVAL_SEED
from gancli.training.run.trainer import train

runner = CliRunner()


def test_eval_command_scores_a_checkpoint_and_reuses_real_features(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    network = tmp_path / "standin.pt"
    torch.jit.script(StandInFeatures()).save(str(network))
    args = ["eval", str(tiny_run.last_checkpoint), "--data", "synthetic", "--split", "test", "--num", "40",
            "--num-real", "40", "--metrics", "fid,kid,pr", "--inception", str(network), "--device", "cpu", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["num_generated"] == 40 and report["num_real"] == 40 and report["split"] == "test"
    assert report["fid"] > 0 and report["kid_std"] >= 0
    assert 0 <= report["precision"] <= 1 and 0 <= report["recall"] <= 1
    assert not report["real_features_cached"]

    again = runner.invoke(app, [a if a != "fid,kid,pr" else "fid" for a in args[:-1]])
    assert again.exit_code == 0, again.output
    assert "real features from the cache" in again.output and "KID" not in again.output
    fid_line = next(line for line in again.output.splitlines() if line.strip().startswith("FID"))
    assert float(fid_line.split()[1]) == float(f"{report['fid']:.6g}")  # same seed, same images, same score


def test_generated_images_are_scored_as_their_pngs_hold_them(tiny_run, standin_extractor, tmp_path):
    from gancli.checkpoints.generator import load_generator
    from gancli.metrics.evaluation import Scorer, generated_pixels
    from gancli.sampling import generate

    model = load_generator(tiny_run.last_checkpoint)
    pixels = generated_pixels(model.generator, model.sample_latent, 12, 3, "cpu")
    assert pixels.dtype == torch.uint8 and torch.equal(pixels, generate(model, 12, seed=3))
    scorer = Scorer(standin_extractor, "synthetic", "test", pixels, ("fid",), tmp_path)
    assert abs(scorer.score(pixels)["fid"]) < 1e-6  # the same images score zero


def test_eval_mistakes_are_one_line_and_come_before_any_slow_work(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    cases = [(["--metrics", "fid,ssim"], "unknown metric 'ssim'"),
             (["--inception", "/nonexistent/weights.pth"], "FID network weights not found"),
             (["--data", "nosuch"], "unknown dataset 'nosuch'")]
    for extra, message in cases:
        result = runner.invoke(app, ["eval", str(tiny_run.last_checkpoint), "--num", "4", "--device", "cpu", *extra])
        assert result.exit_code != 0 and message in result.output, result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "cache").exists()  # no reference classifier was trained, no features computed


def test_training_tracks_fid_and_keeps_the_best_checkpoint(tmp_path, standin_extractor, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    config = tiny_config(tmp_path / "run", steps=6, eval_every=2, eval_num=24, checkpoint_every=0)
    result = train(config, reporter=Reporter(), feature_extractor=standin_extractor)
    records = [json.loads(line) for line in (result.out / "metrics.jsonl").read_text().splitlines()]
    scores = [r for r in records if "fid" in r]
    assert [r["step"] for r in scores] == [2, 4, 6]
    best = min(scores, key=lambda r: r["fid"])
    assert scores[-1]["best_fid"] == best["fid"]
    best_path = result.out / "checkpoints" / "best.safetensors"
    assert read_info(best_path).step == best["step"]
    # Scoring best.safetensors afterwards with the same latents reproduces the recorded score.
    report = evaluate(best_path, split="test", num=24, num_real=24, metrics=("fid",), device="cpu",
                      seed=EVAL_SEED, extractor=standin_extractor)
    assert report["fid"] == pytest.approx(best["fid"], rel=1e-6)


def test_train_command_scores_during_training_with_the_given_network(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    network = tmp_path / "standin.pt"
    torch.jit.script(StandInFeatures()).save(str(network))
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--data", "synthetic", "--split", "test", "--steps", "2", "--batch-size", "8",
                                 "--device", "cpu", "--out", str(out), "--set", "model.g_channels=32",
                                 "--set", "model.d_channels=8", "--eval-every", "1", "--eval-num", "16",
                                 "--inception", str(network)])
    assert result.exit_code == 0, result.output
    assert "FID" in result.output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "fid" in r] == [1, 2]
    assert (out / "checkpoints" / "best.safetensors").is_file()
    assert "eval_every: 1" in (out / "config.yaml").read_text()


def test_a_resumed_run_keeps_the_best_score_it_recorded(tmp_path, standin_extractor, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    train(tiny_config(out, steps=2, eval_every=2, eval_num=16), reporter=Reporter(), feature_extractor=standin_extractor)
    first = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"fid"' in line]
    train(tiny_config(out, steps=4, eval_every=2, eval_num=16), reporter=Reporter(), resume=out,
          feature_extractor=standin_extractor)
    scores = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"fid"' in line]
    assert [r["step"] for r in scores] == [2, 4]
    assert scores[1]["best_fid"] == min(first[0]["fid"], scores[1]["fid"])
    assert read_info(out / "checkpoints" / "best.safetensors").step == min(scores, key=lambda r: r["fid"])["step"]


def test_eval_reports_its_progress_stage_by_stage_and_the_cli_draws_bars(tiny_run, tmp_path, standin_extractor):
    import io

    from rich.console import Console

    from gancli.cli.progress import StageBars

    heard = []
    evaluate(tiny_run.last_checkpoint, data="synthetic", split="test", num=150, num_real=130, batch_size=64,
             metrics=("fid", "kid", "pr"), extractor=standin_extractor, cache_folder=tmp_path / "cache",
             progress=lambda *a: heard.append(a))
    finals = {stage: (done, total) for stage, done, total in heard}
    assert finals == {"real images' features": (130, 130), "generating": (150, 150),
                      "generated images' features": (150, 150)}
    assert [done for stage, done, _ in heard if stage == "generating"] == [64, 128, 150]  # one call a batch

    screen = io.StringIO()
    with StageBars(Console(file=screen, force_terminal=True, width=80)) as bars:
        bars("generating", 50, 100)
    assert "generating" in screen.getvalue() and "50/100" in screen.getvalue()


QUICK_RECIPE = ClassifierRecipe(epochs=1, min_steps=0)


@pytest.fixture
def quick_classifier(monkeypatch):
    """Classifiers trained for a few batches only: these tests check plumbing, not accuracy.
    `gancli eval` and the trainer make their judge with the default recipe and take no other, so
    every judge is made here with QUICK_RECIPE."""
    judge_of = ClassifierJudge.of
    monkeypatch.setattr(ClassifierJudge, "of",
                        classmethod(lambda cls, *args, **kwargs: judge_of(*args, **kwargs, recipe=QUICK_RECIPE)))


def test_eval_auto_adds_the_classifier_measures_and_cas_for_a_conditional_checkpoint(
        conditional_run, tmp_path, standin_extractor, quick_classifier):
    heard = []
    report = evaluate(conditional_run.last_checkpoint, split="test", num=60, device="cpu", extractor=standin_extractor,
                      cache_folder=tmp_path / "cache", progress=lambda *a: heard.append(a))
    assert report["metrics"] == ["fid", "kid", "pr", "classifier", "cas"]
    for key in ("fid", "recognisable", "classes_covered", "class_kl", "conditional_accuracy", "classifier_accuracy",
                "cas", "cas_real", "cas_ratio"):
        assert key in report, key
    assert report["classes"] == 10 and 0 <= report["conditional_accuracy"] <= 1
    assert report["classifier_heldout"] == 200 and not report["classifier_cached"]  # a tenth of the 2,000 images
    stages = {stage for stage, _, _ in heard}
    assert {"training the classifier", "training on generated images", "generating"} <= stages

    result = runner.invoke(app, ["eval", str(conditional_run.last_checkpoint), "--split", "test", "--num", "60",
                                 "--metrics", "classifier", "--device", "cpu"],
                           env={"GANCLI_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    assert "classes covered" in result.output and "conditional accuracy" in result.output
    assert "held-out real images it never trained on" in result.output and "FID" not in result.output


def test_classifier_measures_need_labels_and_cas_needs_a_conditional_checkpoint(tiny_run, tmp_path):
    result = runner.invoke(app, ["eval", str(tiny_run.last_checkpoint), "--split", "test", "--num", "8",
                                 "--metrics", "cas", "--device", "cpu"])
    assert result.exit_code == 1 and "cas trains on generated images of known classes" in result.output
    folder = tmp_path / "plain"
    folder.mkdir()
    from PIL import Image
    for i in range(3):
        Image.new("RGB", (32, 32), (80 * i, 10, 10)).save(folder / f"{i}.png")
    result = runner.invoke(app, ["eval", str(tiny_run.last_checkpoint), "--data", f"folder:{folder}", "--num", "8",
                                 "--metrics", "classifier", "--device", "cpu"])
    assert result.exit_code == 1 and "need class labels" in result.output and "Traceback" not in result.output


def test_training_can_score_with_the_classifier_alone(tmp_path, monkeypatch, quick_classifier):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    config = tiny_config(tmp_path / "run", steps=4, eval_every=2, eval_num=40, conditional=True,
                         eval_metrics=["classifier"])
    result = train(config, reporter=Reporter())
    scores = [json.loads(line) for line in (result.out / "metrics.jsonl").read_text().splitlines()
              if '"recognisable"' in line]
    assert [r["step"] for r in scores] == [2, 4]
    assert all("conditional_accuracy" in r and "fid" not in r for r in scores)
    assert not (result.out / "checkpoints" / "best.safetensors").exists()  # kept by FID only
