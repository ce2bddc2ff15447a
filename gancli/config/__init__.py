"""The run's configuration: the typed `TrainConfig`, YAML in and out, and checked conversion."""

from gancli.config.schema import (DEVICES, MAX_SEED, ON_NAN, PRECISIONS, TrainConfig, apply_overrides, read_yaml,
                                  resolve_config)

__all__ = ["DEVICES", "MAX_SEED", "ON_NAN", "PRECISIONS", "TrainConfig", "apply_overrides", "read_yaml", "resolve_config"]
