"""Loggers: metrics.jsonl always, TensorBoard when asked, read back by TensorBoard's own reader."""

import json

import pytest
from conftest import tiny_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from gancli.cli import app
from gancli.errors import GancliError
from gancli.training.reporting import Reporter
from gancli.training.run.trainer import train


def events(run):
    accumulator = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_gets_the_losses_the_grids_and_the_config(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--split", "test", "--steps", "4", "--batch-size", "8", "--device", "cpu",
                                      "--out", str(out), "--logger", "tensorboard", "--log-every", "2",
                                      "--sample-every", "2", "--set", "model.g_channels=16",
                                      "--set", "model.d_channels=4"])
    assert result.exit_code == 0, result.output
    logged = events(out)
    tags = logged.Tags()
    assert {"loss_d", "loss_g", "d_real", "d_fake", "images_per_s"} <= set(tags["scalars"])
    assert [event.step for event in logged.Scalars("loss_d")] == [2, 4]
    jsonl = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [event.value for event in logged.Scalars("d_real")] == pytest.approx([r["d_real"] for r in jsonl])
    grids = logged.Images("samples")
    assert [image.step for image in grids] == [2, 4] and grids[0].width == grids[0].height > 8 * 16
    assert "config/text_summary" in tags["tensors"]  # the resolved config, as text


def test_a_resume_purges_what_was_logged_past_its_checkpoint(tmp_path):
    out = tmp_path / "run"
    config = tiny_config(out, steps=4, log_every=1, checkpoint_every=2, sample_every=0, loggers=["tensorboard"])
    train(config, reporter=Reporter())
    (out / "checkpoints" / "last.safetensors").unlink()  # the run goes back to its step-2 checkpoint
    (out / "state" / "last.safetensors").unlink()
    (out / "checkpoints" / "step-0000004.safetensors").unlink()
    train(config, reporter=Reporter(), resume=out)
    assert [event.step for event in events(out).Scalars("loss_d")] == [1, 2, 3, 4]  # not 1, 2, 3, 4, 3, 4


def test_an_unknown_or_missing_logger_is_one_line_before_the_run_starts(tmp_path, monkeypatch):
    with pytest.raises(GancliError, match="unknown logger 'wandb'; available: jsonl, tensorboard"):
        train(tiny_config(tmp_path / "a", loggers=["wandb"]), reporter=Reporter())
    assert not (tmp_path / "a").exists()
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(GancliError, match=r'needs the tensorboard package: pip install "gancli\[tensorboard\]"'):
        train(tiny_config(tmp_path / "b", loggers=["tensorboard"]), reporter=Reporter())


RECORDING_LOGGER = """
from gancli.loggers import Logger

RECEIVED = []

class Recording(Logger):
    description = "remembers what it is given"
    def scalars(self, step, values):
        RECEIVED.append((step, dict(values)))
"""


def test_only_metrics_jsonl_gets_values_that_are_not_numbers(install_package, tmp_path):
    from gancli.loggers import Loggers

    install_package("recording-log", {"gancli.loggers": {"recording": "recording_log:Recording"}},
                    modules={"recording_log": RECORDING_LOGGER})
    import recording_log

    logs = Loggers(["recording"]).open(tmp_path, {}, 0)
    logs.scalars(10, {"fid": 12.5, "classes": 10, "protocol": {"eval_num": 16}, "health": "saturated"})
    logs.scalars(20, {"health": "collapsed", "message": "the generator collapsed at step 20"})  # nothing numeric
    logs.close()
    assert recording_log.RECEIVED == [(10, {"fid": 12.5, "classes": 10})]
    jsonl = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert jsonl == [{"step": 10, "fid": 12.5, "classes": 10, "protocol": {"eval_num": 16}, "health": "saturated"},
                     {"step": 20, "health": "collapsed", "message": "the generator collapsed at step 20"}]


def test_tensorboard_gets_the_scores_but_not_how_they_were_measured(tmp_path, standin_extractor):
    out = tmp_path / "run"
    train(tiny_config(out, steps=2, eval_every=2, eval_num=16, loggers=["tensorboard"]), reporter=Reporter(),
          feature_extractor=standin_extractor)
    jsonl = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    (scores,) = [record for record in jsonl if "fid" in record]
    assert isinstance(scores["protocol"], dict)  # metrics.jsonl keeps it
    tags = set(events(out).Tags()["scalars"])
    assert {"fid", "loss_d"} <= tags
    assert not any(tag.startswith("protocol") for tag in tags)
