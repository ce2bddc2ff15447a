from pathlib import Path

import pytest

from gancli.architectures import architectures
from gancli.config import TrainConfig, resolve_config
from gancli.errors import ConfigError
from gancli.training.step.assembly import resolve_model


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_precedence_is_defaults_then_file_then_set_then_flags(tmp_path):
    path = write(tmp_path, "batch_size: 32\nseed: 5\nlr: 0.001\nmodel:\n  latent_dim: 64\n")
    config = resolve_config(path, ["seed=6", "lr=0.002", "model.g_channels=256"], {"lr": 0.003, "steps": None})
    assert config.batch_size == 32          # file over default
    assert config.seed == 6                 # --set over file
    assert config.lr == 0.003               # flag over --set
    assert config.steps is None             # a flag not given changes nothing
    assert config.epochs == TrainConfig().epochs
    assert config.model == {"latent_dim": 64, "g_channels": 256}


def test_unknown_keys_are_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown key bacth_size"):
        resolve_config(write(tmp_path, "bacth_size: 3\n"), [], {})
    with pytest.raises(ConfigError, match="unknown key lrr"):
        resolve_config(None, ["lrr=1"], {})


def test_wrong_types_are_named(tmp_path):
    with pytest.raises(ConfigError, match="batch_size: expected int, got str 'many'"):
        resolve_config(write(tmp_path, "batch_size: many\n"), [], {})
    with pytest.raises(ConfigError, match="steps: expected int, got bool"):
        resolve_config(None, ["steps=true"], {})


def test_exponent_floats_without_a_dot_are_numbers(tmp_path):
    # YAML 1.1 reads 1e-3 as a string; users write learning rates that way.
    config = resolve_config(write(tmp_path, "lr: 1e-3\nmodel:\n  lr_g: 5E-4\n"), ["ema_decay=9.99e-1"], {})
    assert config.lr == 0.001 and config.ema_decay == 0.999
    assert architectures.get("dcgan").make_config(config.model).lr_g == 0.0005
    with pytest.raises(ConfigError, match="lr: expected float, got str '1e'"):
        resolve_config(None, ["lr=1e"], {})
    with pytest.raises(ConfigError, match="batch_size: expected int, got str '1e3'"):
        resolve_config(None, ["batch_size=1e3"], {})


def test_invalid_values_are_named():
    with pytest.raises(ConfigError, match="batch_size must be positive"):
        TrainConfig(batch_size=0)
    with pytest.raises(ConfigError, match="device must be one of"):
        TrainConfig(device="tpu")


def test_model_keys_are_checked_against_the_architecture():
    dcgan = architectures.get("dcgan")
    assert dcgan.make_config({"latent_dim": 64}).latent_dim == 64
    with pytest.raises(ConfigError, match="unknown key model.depth"):
        dcgan.make_config({"depth": 3})
    with pytest.raises(ConfigError, match="model.latent_dim: expected int"):
        dcgan.make_config({"latent_dim": "big"})


def test_a_config_that_is_not_yaml_or_not_a_mapping_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve_config(write(tmp_path, "batch_size: [1, 2\n"), [], {})
    with pytest.raises(ConfigError, match="must hold a mapping"):
        resolve_config(write(tmp_path, "- 1\n- 2\n"), [], {})
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_config(tmp_path / "absent.yaml", [], {})


def test_the_resolved_config_round_trips_through_yaml():
    import yaml

    config = TrainConfig(steps=7, model={"latent_dim": 8})
    assert TrainConfig.from_dict(yaml.safe_load(config.to_yaml())) == config


def test_data_loading_keys_are_checked():
    with pytest.raises(ConfigError, match="data_budget_mb"):
        TrainConfig(data_budget_mb=-1)
    with pytest.raises(ConfigError, match="data_workers"):
        resolve_config(None, ["data_workers=-2"], {})
    with pytest.raises(ConfigError, match="download"):
        resolve_config(None, ["download=maybe"], {})
    assert resolve_config(None, [], {"download": False}).download is False


EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("recipe", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_every_shipped_recipe_resolves_with_its_architectures_settings(recipe):
    config = resolve_config(recipe, [], {})
    model = resolve_model(config)  # refuses a key or value the architecture does not take
    assert config.data in ("mnist", "svhn", "synthetic") and model.hparams()
