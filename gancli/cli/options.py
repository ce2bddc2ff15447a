"""Parameter types shared by several commands, so each reads the same everywhere.

Options are Optional so that `train` can tell a flag not given (the config decides) from one
given; a command with no config passes its default, which `show_default` states for both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

CheckpointArg = Annotated[Path, typer.Argument(
    help="A gancli .safetensors checkpoint, or a run folder (its checkpoints/last.safetensors).", show_default=False)]
BestOpt = Annotated[bool, typer.Option("--best", help="With a run folder: its best.safetensors (lowest FID) instead of last.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed.", show_default="0")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.",
                                                  show_default="auto")]
PrecisionOpt = Annotated[Optional[str], typer.Option(
    "--precision", help="fp32, bf16, fp16 or auto (bf16 on CUDA, fp32 elsewhere).", show_default="auto")]
CudaGraphsOpt = Annotated[Optional[bool], typer.Option(
    "--cuda-graphs/--no-cuda-graphs", help="Replay the whole step as one CUDA graph; default: on for CUDA.",
    show_default=False)]
CompileOpt = Annotated[Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the networks.",
                                                    show_default=False)]
Tf32Opt = Annotated[Optional[bool], typer.Option("--tf32/--no-tf32", help="With fp32 on CUDA, use TF32 tensor cores.",
                                                  show_default="tf32")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
