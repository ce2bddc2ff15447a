"""`gancli train`'s flags are TrainConfig's fields: each field is a flag or config-only, and a flag's
value lands in the config, converted as the config spells it."""

import dataclasses

import pytest
import typer
from typer.testing import CliRunner

from gancli.cli import app
import gancli.cli.train as train_module
from gancli.config import TrainConfig, resolve_config

runner = CliRunner()

# Set with --config or --set only: tuning that rarely changes from run to run.
CONFIG_ONLY = {"data_budget_mb", "data_workers", "smooth", "ema_start", "rollback_lr_factor", "max_rollbacks", "model"}
RENAMED = {"loggers": "--logger"}  # given once per logger


def train_options() -> dict:
    return {param.name: param for param in typer.main.get_command(app).commands["train"].params}


class Resolved(Exception):
    """Stops `gancli train` once its config is resolved, before any training."""


def resolved(monkeypatch, *args) -> TrainConfig:
    """The config `gancli train ARGS` resolves, as the real command builds it."""
    def resolve_and_stop(*arguments):
        raise Resolved(resolve_config(*arguments))

    monkeypatch.setattr(train_module, "resolve_config", resolve_and_stop)
    result = runner.invoke(app, ["train", *map(str, args)])
    assert isinstance(result.exception, Resolved), result.output
    return result.exception.args[0]


def test_every_config_field_is_a_flag_by_its_own_name_unless_config_only():
    options = train_options()
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    missing = sorted(fields - CONFIG_ONLY - set(options))
    assert not missing, f"TrainConfig fields with no flag: {missing}; add them to FLAGS in gancli/cli/train.py"
    assert not CONFIG_ONLY & set(options)
    for name in fields - CONFIG_ONLY:
        flag = RENAMED.get(name, "--" + name.replace("_", "-"))
        assert flag in options[name].opts, (name, options[name].opts)
    assert set(train_module.FLAGS.fields) == fields - CONFIG_ONLY


def test_aliases_and_boolean_pairs_are_kept():
    options = train_options()
    assert options["out"].opts == ["--out", "-o", "--output"]
    assert options["download"].secondary_opts == ["--no-download"]
    assert options["conditional"].opts == ["--conditional"]
    assert options["conditional"].secondary_opts == ["--unconditional"]


def test_flag_values_reach_the_config_as_it_spells_them(monkeypatch, tmp_path):
    config = resolved(monkeypatch, "-o", tmp_path / "run", "--inception", tmp_path / "net.pth",
                      "--augment", "color, cutout", "--eval-metrics", "fid,classifier", "--precision", "bf16",
                      "--on-nan", "rollback", "--on-collapse", "stop", "--no-download", "--conditional",
                      "--logger", "tensorboard", "--r1", "0.5", "--steps", 3)
    assert config.out == str(tmp_path / "run") and config.inception == str(tmp_path / "net.pth")
    assert config.augment == ["color", "cutout"] and config.eval_metrics == ["fid", "classifier"]
    assert config.precision == "bf16" and config.on_nan == "rollback" and config.on_collapse == "stop"
    assert config.download is False and config.conditional is True
    assert config.loggers == ["tensorboard"] and config.r1 == 0.5 and config.steps == 3


def test_a_flag_not_given_leaves_the_config_file_and_set_values(monkeypatch, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("batch_size: 32\nloggers: [tensorboard]\naugment: [color]\ndownload: false\n")
    config = resolved(monkeypatch, "--config", path, "--set", "epochs=7", "--epochs", 9)
    assert config.batch_size == 32 and config.loggers == ["tensorboard"] and config.augment == ["color"]
    assert config.download is False and config.epochs == 9  # a flag wins over --set
    assert resolved(monkeypatch, "--config", path, "--augment", "").augment == []  # '' turns it off


@pytest.mark.parametrize("args, message", [
    (("--augment", "colour"), "augment must list some of color, translation, cutout"),
    (("--eval-metrics", "fid,,classifier"), "--eval-metrics 'fid,,classifier' has an empty name between commas"),
    (("--keep-last", "-1"), "keep_last must be 0 or positive, got -1"),
])
def test_a_bad_flag_value_is_one_line_naming_it_before_training(args, message):
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and message in result.output, result.output
    assert result.output.count("\n") == 1


def test_on_collapse_is_a_choice_in_the_schedule_panel_refused_by_name():
    option = train_options()["on_collapse"]
    assert option.opts == ["--on-collapse"] and option.metavar == "warn|stop|rollback"
    assert option.rich_help_panel == "Schedule" and "Default: warn." in option.help
    result = runner.invoke(app, ["train", "--on-collapse", "halt"])
    assert result.exit_code == 2 and "'halt' is not one of 'warn', 'stop', 'rollback'" in result.output, result.output
