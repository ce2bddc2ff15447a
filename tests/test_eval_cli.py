"""`gancli eval` refuses what would only look like a score, in one line that says what to do."""

import json

from typer.testing import CliRunner

import gancli.metrics.weights as weights
from gancli.cli import app

runner = CliRunner()


def test_scores_against_data_of_another_shape_are_refused(tiny_run):
    # tiny_run's generator makes 3x32x32 digits; MNIST's are 1x28x28: refused before any image is read.
    result = runner.invoke(app, ["eval", str(tiny_run.out), "--data", "mnist", "--metrics", "classifier",
                                 "--num", "2", "--device", "cpu"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "makes 3x32x32 images and mnist's are 1x28x28" in result.output
    assert "--data synthetic" in result.output


def test_offline_without_the_fid_network_says_how_to_score_without_it(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(weights, "FID_WEIGHTS_URL", "http://127.0.0.1:9/pt_inception.pth")  # nothing listens there
    monkeypatch.setattr(weights, "installed_fid_helper_file", lambda: None)
    result = runner.invoke(app, ["eval", str(tiny_run.out), "--num", "2", "--device", "cpu"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("Error: --metrics auto scores fid, kid, pr with the FID network")
    assert "--metrics classifier scores labelled data without it" in result.output


def test_notes_go_to_stdout_as_trains_do_and_to_stderr_beside_json(tiny_run, tmp_path, monkeypatch):
    from gancli.metrics.classifier.training import ClassifierRecipe
    from gancli.metrics.evaluation import ClassifierJudge

    judge_of = ClassifierJudge.of  # a classifier of a few batches: this checks where words go, not accuracy
    monkeypatch.setattr(ClassifierJudge, "of", classmethod(
        lambda cls, *args, **kwargs: judge_of(*args, **kwargs, recipe=ClassifierRecipe(epochs=1, min_steps=0))))
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    args = ["eval", str(tiny_run.out), "--metrics", "classifier", "--num", "8", "--split", "test", "--device", "cpu"]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0 and shown.stderr == "", shown.output
    assert "training the reference classifier" in shown.stdout and "recognisable" in shown.stdout
    assert str(tmp_path / "cache" / "classifiers") in shown.stdout  # one line: a path is not broken to fit
    as_json = runner.invoke(app, [*args, "--json"])  # the classifier is cached now: no note
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["num_generated"] == 8
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "another cache"))
    retrained = runner.invoke(app, [*args, "--json"])
    assert json.loads(retrained.stdout)["num_generated"] == 8  # stdout is the JSON alone
    assert "training the reference classifier" in retrained.stderr
