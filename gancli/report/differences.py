"""How several runs' configs differ, and the runs that differ only in their seed gathered in groups
whose scores read as mean ± std over the seeds, for `gancli report RUN1 RUN2 ...`."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from typing import Any

from gancli.report.scores import score_of, shown

# Where a run was written always differs, and the run's name already says it: no difference.
PLACE_KEYS = {"out"}
SEED_KEY = "seed"
MISSING = "(not set)"  # a key one config has and another lacks (written by another gancli version)
MOST_DIGITS = 6  # a spread of 1e-12 is no reason to print twelve decimals


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A config's values by dotted key: `model.g_channels`, not a nested mapping."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flat_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def value_text(value: Any) -> str:
    """A config value as config.yaml reads: 0.0002, null, [fid, kid], dcgan."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(value_text, value)) + "]"
    return json.dumps(value)


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """The dotted keys whose values are not the same in every config (or protocol), `out` aside,
    in the order the first mapping to hold each one writes them."""
    flats = [flat_config(config) for config in configs]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    return [key for key in keys if key not in PLACE_KEYS
            and len({json.dumps(flat.get(key, MISSING), sort_keys=True, default=str) for flat in flats}) > 1]


def values_at(config: dict[str, Any], keys: list[str]) -> list[str]:
    """The config's values at the dotted `keys`, as text."""
    flat = flat_config(config)
    return [value_text(flat[key]) if key in flat else MISSING for key in keys]


@dataclass(frozen=True)
class SeedGroup:
    """Runs whose configs are the same but for `seed` (and `out`): their places in the list
    compared, their seeds, and the setting that tells the group from the others."""

    members: tuple[int, ...]
    seeds: tuple[str, ...]
    setting: str


def seed_groups(configs: list[dict[str, Any]]) -> list[SeedGroup]:
    """The configs gathered by everything but their seed, in the order of each group's first run;
    a group's setting names its values of the keys that differ between groups ('lr: 0.0004'),
    or says that every run shares one config."""
    setting_keys = [key for key in differing_keys(configs) if key != SEED_KEY]
    gathered: dict[str, list[int]] = {}
    for index, config in enumerate(configs):
        rest = {key: value for key, value in flat_config(config).items() if key not in PLACE_KEYS | {SEED_KEY}}
        gathered.setdefault(json.dumps(rest, sort_keys=True, default=str), []).append(index)
    groups = []
    for members in gathered.values():
        values = values_at(configs[members[0]], setting_keys)
        setting = ", ".join(f"{key}: {value}" for key, value in zip(setting_keys, values)) or "one config"
        seeds = tuple(value_text(flat_config(configs[index]).get(SEED_KEY, MISSING)) for index in members)
        groups.append(SeedGroup(tuple(members), seeds, setting))
    return groups


def mean_and_spread(key: str, values: list[float]) -> str:
    """Values of one score over seeds as mean ± sample std, at the decimals that show the std to
    two significant figures and never fewer than the score's own: '23.45 ± 1.20', '85.0% ± 2.5%'.
    One value reads as the score alone, without ±."""
    if len(values) == 1:
        return shown(key, values[0])
    score = score_of(key)
    scale, unit = (100, "%") if score.percent else (1, "")
    mean, spread = statistics.mean(values) * scale, statistics.stdev(values) * scale
    digits = 1 if score.percent else score.digits
    if spread > 0:
        digits = min(MOST_DIGITS, max(digits, 1 - math.floor(math.log10(spread))))
    return f"{mean:.{digits}f}{unit} ± {spread:.{digits}f}{unit}"
