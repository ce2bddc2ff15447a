"""Training health beyond NaN: a saturated discriminator, a collapsed generator, and what
`on_collapse` (warn, stop, rollback) then does.

The watch is tested on readings fed by hand; the trainer's use of it on real runs that saturate:
a discriminator learning at 1e-2 beside a generator at 1e-9 tells the tiny synthetic digits from
the fakes within a few dozen steps, and keeps doing so.
"""

import json
import re

import pytest
from conftest import TINY_MODEL, tiny_config
from typer.testing import CliRunner

from gancli.checkpoints.state import load_state
from gancli.cli import app
from gancli.config import TrainConfig
from gancli.errors import ConfigError, TrainingUnhealthy
from gancli.losses.standard import Hinge, NonSaturatingBCE, WassersteinGP
from gancli.training.reporting import Reporter
from gancli.training.run.best import RunScorer
from gancli.training.run.health import (COLLAPSED, RECOVERED, SATURATED, HealthWatch, SaturationBounds,
                                        recorded_scores, saturation_bounds)
from gancli.training.run.resume import find_resume_point
from gancli.training.run.trainer import train

runner = CliRunner()
BOUNDS = SaturationBounds(real_at_least=0.89, fake_at_most=0.01)
SATURATED_READING = (0.9, 0.001)
HEALTHY_READING = (0.85, 0.05)
# D learns a million times faster than G: saturated from about step 40, found 200 steps later.
SATURATING = dict(log_every=20, sample_every=0, checkpoint_every=100, ema_decay=0,
                  model=dict(TINY_MODEL, lr_g=1e-9, lr_d=1e-2))


class Listener(Reporter):
    def __init__(self):
        self.said = []

    def notify(self, text):
        self.said.append(text)


def kinds(findings):
    return [finding.kind for finding in findings]


def health_records(out):
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [record for record in records if "health" in record]


def found_at(line):
    return int(re.search(r"at step (\d+)", line).group(1))


# -- the watch, fed by hand ---------------------------------------------------------------

def test_saturation_is_found_after_the_window_of_steps_and_readings_never_on_one_reading():
    watch = HealthWatch(BOUNDS)
    assert [kinds(watch.interval(step, 50, *SATURATED_READING)) for step in (50, 100, 150)] == [[], [], []]
    (finding,) = watch.interval(200, 50, *SATURATED_READING)  # 200 steps, 4 readings
    assert finding.kind == SATURATED and finding.step == 200 and finding.trouble
    assert finding.line.startswith("Warning: the discriminator saturated at step 200: D(x) 0.9000, D(G(z)) 0.0010")
    assert [kinds(watch.interval(step, 50, *SATURATED_READING)) for step in (250, 300, 350)] == [[], [], []]  # once

    one_long_reading = HealthWatch(BOUNDS)
    assert one_long_reading.interval(1000, 1000, *SATURATED_READING) == []
    assert one_long_reading.interval(1010, 10, *SATURATED_READING) == []
    assert kinds(one_long_reading.interval(1020, 10, *SATURATED_READING)) == [SATURATED]  # the third reading


def test_a_healthy_reading_breaks_the_window_and_a_recovery_rearms_the_warning():
    watch = HealthWatch(BOUNDS)
    for step in (50, 100, 150):
        watch.interval(step, 50, *SATURATED_READING)
    assert watch.interval(200, 50, *HEALTHY_READING) == []  # nothing was found yet, so nothing recovers
    assert [kinds(watch.interval(step, 50, *SATURATED_READING)) for step in (250, 300, 350, 400)] == \
        [[], [], [], [SATURATED]]
    (recovered,) = watch.interval(450, 50, 0.9, 0.02)  # D(G(z)) no longer near 0
    assert recovered.kind == RECOVERED and not recovered.trouble
    assert recovered.line == "the discriminator no longer saturates at step 450: D(x) 0.9000, D(G(z)) 0.0200"
    assert [kinds(watch.interval(step, 50, *SATURATED_READING)) for step in (500, 550, 600, 650)] == \
        [[], [], [], [SATURATED]]  # a new episode is told again


def test_saturation_is_judged_where_d_outputs_are_probabilities_against_the_smoothed_target():
    assert saturation_bounds(NonSaturatingBCE(smooth=0.1)) == SaturationBounds(pytest.approx(0.89), 0.01)
    assert saturation_bounds(NonSaturatingBCE(smooth=0.0)) == SaturationBounds(pytest.approx(0.99), 0.01)
    assert saturation_bounds(Hinge()) is None and saturation_bounds(WassersteinGP()) is None
    unjudged = HealthWatch(None)
    assert all(unjudged.interval(step, 100, 10.0, -10.0) == [] for step in range(100, 1100, 100))


def test_collapse_from_classes_covered_is_a_fall_from_the_runs_best():
    watch = HealthWatch(BOUNDS)
    covered = lambda step, n: kinds(watch.evaluation(step, {"classes_covered": n, "classes": 10.0}))  # noqa: E731
    assert [covered(1000, 3), covered(2000, 9), covered(3000, 8)] == [[], [], []]  # one class lost is noise
    (finding,) = watch.evaluation(4000, {"classes_covered": 7.0, "classes": 10.0})
    assert finding.kind == COLLAPSED
    assert finding.message == "the generator collapsed at step 4000: its samples cover 7 of 10 classes, " \
                              "down from 9 at step 2000"
    assert covered(5000, 6) == []  # still the same episode
    assert covered(6000, 9) == [RECOVERED]
    assert covered(7000, 7) == [COLLAPSED]

    young = HealthWatch(BOUNDS)  # never covered half the classes: losing one is no collapse
    assert [kinds(young.evaluation(step, {"classes_covered": n, "classes": 10.0}))
            for step, n in ((1000, 4), (2000, 3))] == [[], []]
    halved = HealthWatch(BOUNDS)  # covered half, then fewer than half
    assert [kinds(halved.evaluation(step, {"classes_covered": n, "classes": 10.0}))
            for step, n in ((1000, 5), (2000, 4))] == [[], [COLLAPSED]]


def test_collapse_from_diversity_is_below_half_its_best_once_the_generator_had_learned_to_vary():
    watch = HealthWatch(None)
    diverse = lambda step, value: kinds(watch.evaluation(step, {"diversity": value, "fid": 80.0}))  # noqa: E731
    # A young generator varies little: 0.15 then 0.05 is no collapse.
    assert [diverse(1000, 0.15), diverse(2000, 0.05), diverse(3000, 0.6), diverse(4000, 0.31)] == [[], [], [], []]
    (finding,) = watch.evaluation(5000, {"diversity": 0.29})
    assert finding.message == "the generator collapsed at step 5000: their diversity is 0.29 of the real images', " \
                              "down from 0.6 at step 3000"
    assert [diverse(6000, 0.1), diverse(7000, 0.5)] == [[], [RECOVERED]]
    assert watch.evaluation(8000, {"fid": 30.0, "diversity": float("nan")}) == []  # what it cannot read is not judged


def test_a_restarted_watch_remembers_the_bests_the_run_recorded(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps({"step": 100, "loss_d": 1.0}) + "\n"
                       + json.dumps({"step": 200, "classes_covered": 9.0, "classes": 10.0, "diversity": 0.7}) + "\n"
                       + '{"step": 300, "classes_cov')  # a line cut short by a kill
    watch = HealthWatch(BOUNDS)
    watch.restart(recorded_scores(metrics))
    (finding,) = watch.evaluation(400, {"classes_covered": 9.0, "classes": 10.0, "diversity": 0.3})
    assert finding.message.endswith("their diversity is 0.3 of the real images', down from 0.7 at step 200")
    watch.restart()
    assert watch.evaluation(500, {"diversity": 0.3}) == []
    assert recorded_scores(tmp_path / "absent.jsonl") == []


def test_on_collapse_is_checked_by_name():
    assert TrainConfig().on_collapse == "warn"
    with pytest.raises(ConfigError, match="on_collapse must be one of warn, stop, rollback, got 'halt'"):
        TrainConfig(on_collapse="halt")


# -- the trainer, on runs that saturate -----------------------------------------------------

def test_a_saturating_run_warns_once_and_records_it_in_metrics_only(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    reporter = Listener()
    result = train(tiny_config(out, steps=300, loggers=["tensorboard"], **SATURATING), reporter=reporter)
    assert result.steps == 300  # warn: the run goes on
    (warning,) = [line for line in reporter.said if "saturated" in line]
    assert warning.startswith("Warning: the discriminator saturated at step ")
    step = found_at(warning)
    assert 200 <= step < 300
    assert health_records(out) == [{"step": step, "health": "saturated", "message": warning[len("Warning: "):],
                                    "action": "warned"}]
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert "loss_d" in events.Tags()["scalars"]
    assert not {"health", "message", "action"} & set(events.Tags()["scalars"])


def test_on_collapse_stop_ends_the_run_in_one_line_with_a_checkpoint_to_resume(tmp_path):
    out = tmp_path / "run"
    flags = ["--data", "synthetic", "--split", "test", "--batch-size", "8", "--device", "cpu", "--out", str(out),
             "--log-every", "20", "--sample-every", "0", "--checkpoint-every", "100", "--ema-decay", "0",
             *[f"--set=model.{key}={value}" for key, value in SATURATING["model"].items()]]
    result = runner.invoke(app, ["train", *flags, "--steps", "300", "--on-collapse", "stop"])
    assert result.exit_code == 4, result.output
    last_line = result.output.strip().splitlines()[-1]
    assert last_line.startswith("Error: training stopped: the discriminator saturated at step "), last_line
    step = found_at(last_line)
    assert f"checkpoint: {out / 'checkpoints' / 'last.safetensors'}" in last_line
    assert f"Train on regardless: gancli train --resume {out} --on-collapse warn; or resume with a lower " \
           f"discriminator learning rate" in last_line
    assert "Traceback" not in result.output
    assert find_resume_point(out).state.step == step  # written as on SIGTERM: nothing is lost
    assert json.loads((out / "status.json").read_text())["state"] == "unhealthy"
    assert [record["action"] for record in health_records(out)] == ["stopped"]

    again = runner.invoke(app, ["train", "--resume", str(out), "--on-collapse", "warn", "--steps", str(step + 20)])
    assert again.exit_code == 0, again.output
    assert find_resume_point(out).state.step == step + 20


def test_on_collapse_rollback_goes_back_with_lower_rates_then_stops_when_rollbacks_run_out(tmp_path):
    out = tmp_path / "run"
    reporter = Listener()
    config = tiny_config(out, steps=600, on_collapse="rollback", max_rollbacks=1, **SATURATING)
    with pytest.raises(TrainingUnhealthy, match=r"training stopped \(no rollback left: 1 of 1 made\): "
                                                r"the discriminator saturated at step"):
        train(config, reporter=reporter)
    found = [found_at(line) for line in reporter.said if line.startswith("Warning: the discriminator saturated")]
    assert len(found) == 2
    checkpoint = found[0] // 100 * 100
    assert f"the discriminator saturated; rolled back to step {checkpoint} with learning rates lr_g 5e-10, " \
           f"lr_d 0.005 (rollback 1 of 1)" in reporter.said
    assert found[1] >= checkpoint + 200  # the window starts again from the checkpoint
    assert [(record["step"], record["action"]) for record in health_records(out)] == \
        [(checkpoint, f"rolled back to step {checkpoint} (rollback 1 of 1)"), (found[1], "stopped")]
    state = load_state(out / "state" / "last.safetensors")
    assert state.step == found[1] and state.values["rollbacks"] == 1
    assert state.values["opt_d"]["param_groups"][0]["lr"] == pytest.approx(5e-3)


def test_a_loss_whose_saturation_is_not_judged_says_so_when_on_collapse_would_act(tmp_path):
    reporter = Listener()
    train(tiny_config(tmp_path / "run", loss="hinge", on_collapse="stop"), reporter=reporter)
    assert "on_collapse stop: saturation is not judged under loss hinge (D's outputs are scores, not " \
           "probabilities); collapse is judged only at evaluations, and none run (eval_every 0)" in reporter.said


# -- the trainer, on evaluations that collapse ----------------------------------------------

@pytest.fixture
def scripted_diversity(monkeypatch):
    """Evaluations score as they do, but report `diversity` from a script, one value per call."""
    script = []
    score = RunScorer.score

    def scripted(self, *args, **kwargs):
        evaluation = score(self, *args, **kwargs)
        evaluation.scores["diversity"] = script.pop(0)
        return evaluation

    monkeypatch.setattr(RunScorer, "score", scripted)
    return script


def test_a_collapse_at_an_evaluation_stops_the_run_with_a_checkpoint(tmp_path, scripted_diversity,
                                                                     standin_extractor):
    out = tmp_path / "run"
    scripted_diversity.extend([0.8, 0.7, 0.3, 0.8])
    config = tiny_config(out, steps=8, eval_every=2, eval_num=16, on_collapse="stop")
    with pytest.raises(TrainingUnhealthy, match="training stopped: the generator collapsed at step 6: their diversity "
                                                "is 0.3 of the real images', down from 0.8 at step 2; checkpoint: "):
        train(config, reporter=Reporter(), feature_extractor=standin_extractor)
    assert find_resume_point(out).state.step == 6
    assert [(r["step"], r["health"], r["action"]) for r in health_records(out)] == [(6, "collapsed", "stopped")]


def test_a_collapse_at_an_evaluation_rolls_back_and_the_run_trains_on(tmp_path, scripted_diversity,
                                                                      standin_extractor):
    out = tmp_path / "run"
    scripted_diversity.extend([0.8, 0.7, 0.3, 0.7, 0.8])  # steps 2, 4, 6; after the rollback to 4: 6, 8
    reporter = Listener()
    config = tiny_config(out, steps=8, eval_every=2, eval_num=16, checkpoint_every=2, on_collapse="rollback")
    result = train(config, reporter=reporter, feature_extractor=standin_extractor)
    assert result.steps == 8 and not scripted_diversity
    assert [line for line in reporter.said if "collapsed" in line] == [
        "Warning: the generator collapsed at step 6: their diversity is 0.3 of the real images', down from 0.8 at "
        "step 2",
        "the generator collapsed; rolled back to step 4 with learning rates lr_g 0.0001, lr_d 0.0001 (rollback 1 of 3)"]
    assert [(r["step"], r["action"]) for r in health_records(out)] == [(4, "rolled back to step 4 (rollback 1 of 3)")]
