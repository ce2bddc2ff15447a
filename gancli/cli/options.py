"""Parameter types shared by several commands, and options made from a config's fields.

Options are Optional so that `train` can tell a flag not given (the config decides) from one
given; a command with no config passes its default, which the option's help states for both.
Every option names its value (`N`, `PATH`, `auto|fp32|bf16|fp16`) rather than a Python type, and
a switch names none.
"""

from __future__ import annotations

import inspect
import types
import typing
from copy import copy
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Mapping, Optional

import typer

from gancli.config import MAX_SEED, ON_NAN, PRECISIONS
from gancli.config.schema import ON_COLLAPSE
from gancli.errors import CheckpointError, ConfigError

CheckpointArg = Annotated[Path, typer.Argument(
    help="A gancli .safetensors checkpoint, or a run folder (its checkpoints/last.safetensors).", metavar="CHECKPOINT",
    show_default=False)]
BestOpt = Annotated[bool, typer.Option("--best", metavar="",
                                       help="With a run folder: its best.safetensors (lowest FID) instead of last.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", metavar="N", help="Random seed. Default: 0.",
                                                show_default=False, min=0, max=MAX_SEED)]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", metavar="DEVICE",
                                                  help="auto, cpu, cuda, cuda:N or mps. Default: auto.",
                                                  show_default=False)]
# Choices as enums, so a wrong one is refused by name; the metavar lists them ([auto|fp32|bf16|fp16]).
Precision = Enum("Precision", {name: name for name in PRECISIONS}, type=str)
OnNan = Enum("OnNan", {name: name for name in ON_NAN}, type=str)
OnCollapse = Enum("OnCollapse", {name: name for name in ON_COLLAPSE}, type=str)

PrecisionOpt = Annotated[Optional[Precision], typer.Option(
    "--precision", metavar="|".join(PRECISIONS), show_default=False,
    help="auto: bf16 on CUDA and on CPUs with bf16 instructions (AVX512-BF16, AMX), else fp32. Default: auto.")]
OnNanOpt = Annotated[Optional[OnNan], typer.Option(
    "--on-nan", metavar="|".join(ON_NAN), show_default=False,
    help="When a loss or weight goes non-finite: stop, or roll back to the last checkpoint with a lower learning "
         "rate. Default: stop.")]
OnCollapseOpt = Annotated[Optional[OnCollapse], typer.Option(
    "--on-collapse", metavar="|".join(ON_COLLAPSE), show_default=False,
    help="When the discriminator saturates (bce: tells real from fake almost perfectly for 200+ steps) or the "
         "generator collapses (classes covered or diversity falling at evaluations): warn, stop with a checkpoint, "
         "or roll back as --on-nan does. Default: warn.")]
CudaGraphsOpt = Annotated[Optional[bool], typer.Option(
    "--cuda-graphs/--no-cuda-graphs", metavar="", show_default=False,
    help="Replay the whole step as one CUDA graph. Default: on for CUDA.")]
CompileOpt = Annotated[Optional[bool], typer.Option("--compile/--no-compile", metavar="", show_default=False,
                                                    help="torch.compile the networks. Default: --no-compile.")]
Tf32Opt = Annotated[Optional[bool], typer.Option("--tf32/--no-tf32", metavar="", show_default=False,
                                                  help="With fp32 on CUDA, use TF32 tensor cores. Default: --tf32.")]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Print JSON instead of a table.")]


def existing_checkpoint(path: Path, best: bool = False) -> Path:
    """The checkpoint file a command's CHECKPOINT means, refused at once when it is not there:
    before torch loads, so a mistyped path costs no seconds."""
    from gancli.checkpoints.locate import checkpoint_in

    checkpoint = checkpoint_in(path, best)
    if not checkpoint.is_file():
        raise CheckpointError(f"checkpoint not found: {checkpoint}" if not checkpoint.exists()
                              else f"not a file: {checkpoint}")
    return checkpoint


def choice(value: Enum | None) -> str | None:
    """A choice option's value as the config spells it."""
    return None if value is None else value.value


def name_list(flag: str, text: str | None) -> list[str] | None:
    """A comma-separated flag's names: None when not given, none at all for '' (as `--augment ''`
    turns off what a config file asked for), and an empty name between commas refused as a typo."""
    if text is None:
        return None
    if not text.strip():
        return []
    names = [part.strip() for part in text.split(",")]
    if "" in names:
        raise ConfigError(f"{flag} {text!r} has an empty name between commas; separate names with single "
                          f"commas, or give {flag} '' for none")
    return names


@dataclass(frozen=True)
class ConfigFlag:
    """A config field as a command-line option. Unless said here, the option is `--field-name`
    (`--field-name/--no-field-name` for a bool), takes the field's type and shows its default."""

    help: str
    names: tuple[str, ...] = ()  # instead of --field-name, e.g. ("--out", "-o", "--output")
    path: bool = False           # a str field given as a path, so that a shell completes file names
    commas: bool = False         # a list field given as one comma-separated value, '' for none
    metavar: str = ""            # what --help calls the value; default: N for a number, NAME, PATH or NAMES


class ConfigFlags:
    """The fields of a config dataclass that a command takes as flags, by --help panel.

    A panel maps field names to a `ConfigFlag`, or to an option type several commands share
    (`SeedOpt`). `command` adds the flags to a command's parameters, received by its `**`
    parameter; `values` turns them into config values, None for a flag not given.
    """

    def __init__(self, config_type: type, panels: Mapping[str, Mapping[str, ConfigFlag | Any]]):
        hints = typing.get_type_hints(config_type)
        defaults = config_type()
        self.parameters: list[inspect.Parameter] = []
        self._commas: dict[str, str] = {}  # field -> its flag, which name_list's messages name
        for panel, rows in panels.items():
            for name, row in rows.items():
                if isinstance(row, ConfigFlag):
                    kind = _without_none(hints[name])
                    dashed = name.replace("_", "-")
                    names = row.names or (f"--{dashed}/--no-{dashed}" if kind is bool else f"--{dashed}",)
                    metavar = row.metavar or _metavar(kind, row)
                    kind = Path if row.path else str if row.commas else kind
                    option = Annotated[Optional[kind], typer.Option(
                        *names, help=_with_default(row.help, _shown(getattr(defaults, name), names[0])),
                        metavar=metavar, show_default=False, rich_help_panel=panel)]
                    if row.commas:
                        self._commas[name] = names[0]
                else:
                    option = _in_panel(row, panel)
                self.parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                                         annotation=option))

    @property
    def fields(self) -> list[str]:
        return [parameter.name for parameter in self.parameters]

    def command(self, function: Callable) -> Callable:
        """`function` taking the flags, ahead of its own parameters; they arrive in its `**flags`."""
        own = [parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
               for parameter in inspect.signature(function, eval_str=True).parameters.values()
               if parameter.kind is not inspect.Parameter.VAR_KEYWORD]
        function.__signature__ = inspect.Signature(self.parameters + own)
        return function

    def values(self, flags: Mapping[str, Any]) -> dict[str, Any]:
        """The flags' values as the config spells them: paths as str, choices by name, comma lists split."""
        values = {}
        for name in self.fields:
            value = flags.get(name)
            if name in self._commas:
                value = name_list(self._commas[name], value)
            elif isinstance(value, Enum):
                value = value.value
            elif isinstance(value, Path):
                value = str(value)
            values[name] = value
        return values


def _without_none(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = [option for option in typing.get_args(hint) if option is not type(None)]
    return hint


def _metavar(kind: Any, row: ConfigFlag) -> str:
    """What --help calls a flag's value: nothing for a switch, else by its type."""
    if kind is bool:
        return ""
    if row.path:
        return "PATH"
    if row.commas:
        return "NAMES"
    return {int: "N", float: "X"}.get(kind, "NAME")


def _with_default(text: str, shown: str | None) -> str:
    """Help with the default at its end, in the sentence, where it takes no line of its own."""
    return f"{text} Default: {shown}." if shown else text


def _shown(default: Any, name: str) -> str | None:
    """The config's default as --help shows it: a bool by the flag that gives it."""
    if default is None or default == []:
        return None
    if isinstance(default, bool):
        on, _, off = name.partition("/")
        return on if default else off.strip()
    if isinstance(default, list):
        return ",".join(default)
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


def _in_panel(option: Any, panel: str) -> Any:
    """A shared option type such as SeedOpt, listed under `panel` in this command's --help only."""
    kind, info = typing.get_args(option)
    info = copy(info)
    info.rich_help_panel = panel
    return Annotated[kind, info]
