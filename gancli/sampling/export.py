"""Exporting a checkpoint's generator to ONNX, checked against PyTorch on random latents.

The ONNX graph takes `latent` (batch, latent_dim) float32 and, for a conditional generator,
`label` (batch,) int64, the class of each image; it gives `image` (batch, C, H, W) in [-1, 1].

Needs the optional extra: pip install "gancli[onnx]" (onnx and onnxruntime).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from gancli.checkpoints.generator import load_generator
from gancli.core.files import atomic_path
from gancli.errors import ConfigError, GancliError

FORMATS = ("onnx",)
OPSET = 17


@dataclass
class ExportResult:
    path: Path
    max_abs_difference: float  # largest pixel difference from PyTorch on the check latents
    network: str


def require_onnx() -> None:
    missing = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise GancliError(f"ONNX export needs {' and '.join(missing)}: pip install \"gancli[onnx]\"")


def export_onnx(checkpoint: Path, out: Path, check_count: int = 8, tolerance: float = 1e-4, seed: int = 0) -> ExportResult:
    """Write the generator as ONNX (a dynamic batch axis) and compare onnxruntime with PyTorch."""
    require_onnx()
    import onnxruntime

    model = load_generator(checkpoint, "cpu")
    classes = len(model.classes)

    def inputs(count: int, draw_seed: int) -> dict[str, torch.Tensor]:
        rng = torch.Generator().manual_seed(draw_seed)
        values = {"latent": model.sample_latent(count, generator=rng)}
        if classes:
            values["label"] = torch.randint(classes, (count,), generator=rng)
        return values

    example = inputs(2, seed)
    axes = {name: {0: "batch"} for name in (*example, "image")}
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            torch.onnx.export(model.generator, tuple(example.values()), str(tmp), input_names=list(example),
                              output_names=["image"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
            check = inputs(check_count, seed + 1)
            with torch.no_grad():
                expected = model.generator(*check.values()).numpy()
            session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            produced = session.run(["image"], {name: value.numpy() for name, value in check.items()})[0]
            difference = float(abs(produced - expected).max())
            if not difference <= tolerance:
                raise GancliError(f"the ONNX generator differs from PyTorch by {difference:.3g} (> {tolerance}); "
                                  f"{out} was not written")
    except OSError as err:
        raise GancliError(f"cannot write {out}: {err.strerror or err}") from None
    return ExportResult(out, difference, model.network)


def export(checkpoint: Path, out: Path, fmt: str = "onnx") -> ExportResult:
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return export_onnx(checkpoint, out)
