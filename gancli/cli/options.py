"""Parameter types shared by several commands, so each reads the same everywhere.

Options are Optional so that `train` can tell a flag not given (the config decides) from one
given; a command with no config passes its default, which `show_default` states for both.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from gancli.config import ON_NAN, PRECISIONS
from gancli.errors import ConfigError

CheckpointArg = Annotated[Path, typer.Argument(
    help="A gancli .safetensors checkpoint, or a run folder (its checkpoints/last.safetensors).", show_default=False)]
BestOpt = Annotated[bool, typer.Option("--best", help="With a run folder: its best.safetensors (lowest FID) instead of last.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed.", show_default="0")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.",
                                                  show_default="auto")]
# Choices as enums, so --help lists them ([auto|fp32|bf16|fp16]) and a wrong one is refused by name.
Precision = Enum("Precision", {name: name for name in PRECISIONS}, type=str)
OnNan = Enum("OnNan", {name: name for name in ON_NAN}, type=str)

PrecisionOpt = Annotated[Optional[Precision], typer.Option(
    "--precision", help="auto: bf16 on CUDA and on CPUs with bf16 instructions (AVX512-BF16, AMX), else fp32.",
    show_default="auto")]
OnNanOpt = Annotated[Optional[OnNan], typer.Option(
    "--on-nan", help="When a loss or weight goes non-finite: stop, or roll back to the last checkpoint with a "
                     "lower learning rate.", show_default="stop")]
CudaGraphsOpt = Annotated[Optional[bool], typer.Option(
    "--cuda-graphs/--no-cuda-graphs", help="Replay the whole step as one CUDA graph; default: on for CUDA.",
    show_default=False)]
CompileOpt = Annotated[Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the networks.",
                                                    show_default=False)]
Tf32Opt = Annotated[Optional[bool], typer.Option("--tf32/--no-tf32", help="With fp32 on CUDA, use TF32 tensor cores.",
                                                  show_default="tf32")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


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
