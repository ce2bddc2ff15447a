"""Exporting a checkpoint's generator to ONNX, checked against PyTorch on random latents.

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
    example = model.sample_latent(2, generator=torch.Generator().manual_seed(seed))
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            torch.onnx.export(model.generator, (example,), str(tmp), input_names=["latent"], output_names=["image"],
                              dynamic_axes={"latent": {0: "batch"}, "image": {0: "batch"}}, opset_version=OPSET,
                              dynamo=False)
            latents = model.sample_latent(check_count, generator=torch.Generator().manual_seed(seed + 1))
            with torch.no_grad():
                expected = model.generator(latents).numpy()
            session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            produced = session.run(["image"], {"latent": latents.numpy()})[0]
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
