"""What a score was measured under, carried with every score gancli writes.

Two FIDs compare only when they were measured alike: the same number of generated and real
images, the same reference images, the same feature network and weights, the same resize, the
same generator (EMA or not) and precision. Five thousand samples against fifty thousand alone
moves FID by several points. A `Protocol` records all of it; `differences` says what keeps two
scores apart, in words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from gancli import __version__

# Fields that say nothing about how a number came out: told, not compared.
NOT_COMPARED = ("gancli",)


@dataclass(frozen=True)
class Protocol:
    metrics: tuple[str, ...]   # the scores measured under it
    generated: int             # images generated
    real: int                  # real images scored against
    reference: str             # dataset/split of the real images
    reference_hash: str        # sha256 of the real images' pixels, first 16 hex digits
    network: str               # the feature network and a hash of its weights ("" without one)
    resize: str                # how images reach the feature network
    generator: str             # "EMA" or "raw": which of the checkpoint's generators made the images
    precision: str             # the arithmetic the images and features were computed in
    seed: int                  # the latents' (and requested classes') seed
    classifier: str = ""       # the reference classifier's fingerprint, for the classifier measures
    gancli: str = __version__

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["metrics"] = list(self.metrics)
        return values

    @classmethod
    def from_dict(cls, values: Any) -> "Protocol | None":
        """A protocol read back from metrics.jsonl or a checkpoint; None for anything else."""
        if not isinstance(values, dict):
            return None
        names = {f.name for f in fields(cls)}
        try:
            known = {key: value for key, value in values.items() if key in names}
            known["metrics"] = tuple(known.get("metrics", ()))
            return cls(**known)
        except TypeError:  # a field missing: written by something else
            return None

    def line(self) -> str:
        """One short line, as the eval table prints it under the scores."""
        network = f"{self.network}, {self.resize}" if self.network else self.resize
        classifier = f"; classifier {self.classifier[:12]}" if self.classifier else ""
        return (f"protocol: {self.generated:,} {self.generator} samples (seed {self.seed}, {self.precision}) vs "
                f"{self.real:,} real {self.reference} #{self.reference_hash[:8]}; {network}{classifier}; "
                f"gancli {self.gancli}")

    def differences(self, other: "Protocol") -> list[str]:
        """What differs between two protocols, as 'generated 2,000 -> 5,000'; empty when their
        scores compare."""
        found = []
        for name in (f.name for f in fields(self)):
            if name in NOT_COMPARED or name == "metrics":
                continue
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                shown = (lambda v: f"{v:,}") if isinstance(mine, int) else str
                found.append(f"{name} {shown(mine)} -> {shown(theirs)}")
        return found


def feature_precision(device) -> str:
    """What the feature network's convolutions compute in on `device`: TF32 where CUDA allows it."""
    import torch

    if torch.device(device).type == "cuda" and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "fp32"


def resize_of(input_size: int | None) -> str:
    return f"bilinear to {input_size}x{input_size}" if input_size else "native size"
