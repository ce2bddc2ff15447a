"""`gancli eval` end to end on a tiny run, and FID tracking with best.safetensors during training."""

import json

import pytest
import torch
from conftest import StandInFeatures, tiny_config
from typer.testing import CliRunner

from gancli.checkpoints.format import read_info
from gancli.cli import app
from gancli.metrics.evaluation import evaluate
from gancli.training.best import EVAL_SEED
from gancli.training.reporting import Reporter
from gancli.training.trainer import train

runner = CliRunner()


def test_eval_command_scores_a_checkpoint_and_reuses_real_features(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    network = tmp_path / "standin.pt"
    torch.jit.script(StandInFeatures()).save(str(network))
    args = ["eval", str(tiny_run.last_checkpoint), "--data", "synthetic", "--split", "test", "--num", "40",
            "--num-real", "40", "--inception", str(network), "--device", "cpu", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["num_generated"] == 40 and report["num_real"] == 40 and report["split"] == "test"
    assert report["fid"] > 0 and report["kid_std"] >= 0
    assert 0 <= report["precision"] <= 1 and 0 <= report["recall"] <= 1
    assert not report["real_features_cached"]

    again = runner.invoke(app, args[:-1] + ["--metrics", "fid"])
    assert again.exit_code == 0, again.output
    assert "real features from the cache" in again.output and "KID" not in again.output
    fid_line = next(line for line in again.output.splitlines() if line.strip().startswith("FID"))
    assert float(fid_line.split()[-1]) == float(f"{report['fid']:.6g}")  # same seed, same images, same score


def test_generated_images_are_scored_as_their_pngs_hold_them(tiny_run, standin_extractor, tmp_path):
    from gancli.checkpoints.generator import load_generator
    from gancli.metrics.evaluation import Scorer, generated_pixels
    from gancli.sampling import generate

    model = load_generator(tiny_run.last_checkpoint)
    pixels = generated_pixels(model.generator, model.sample_latent, 12, 3, "cpu")
    assert pixels.dtype == torch.uint8 and torch.equal(pixels, generate(model, 12, seed=3))
    scorer = Scorer(standin_extractor, "synthetic", "test", pixels, ("fid",), tmp_path)
    assert abs(scorer.score(pixels)["fid"]) < 1e-6  # the same images score zero


def test_eval_mistakes_are_one_line(tiny_run):
    cases = [(["--metrics", "fid,ssim"], "unknown metric 'ssim'"),
             (["--inception", "/nonexistent/weights.pth"], "FID network weights not found"),
             (["--data", "nosuch"], "unknown dataset 'nosuch'")]
    for extra, message in cases:
        result = runner.invoke(app, ["eval", str(tiny_run.last_checkpoint), "--num", "4", "--device", "cpu", *extra])
        assert result.exit_code != 0 and message in result.output, result.output
        assert "Traceback" not in result.output


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
             extractor=standin_extractor, cache_folder=tmp_path / "cache", progress=lambda *a: heard.append(a))
    finals = {stage: (done, total) for stage, done, total in heard}
    assert finals == {"real images' features": (130, 130), "generating": (150, 150),
                      "generated images' features": (150, 150)}
    assert [done for stage, done, _ in heard if stage == "generating"] == [64, 128, 150]  # one call a batch

    screen = io.StringIO()
    with StageBars(Console(file=screen, force_terminal=True, width=80)) as bars:
        bars("generating", 50, 100)
    assert "generating" in screen.getvalue() and "50/100" in screen.getvalue()
