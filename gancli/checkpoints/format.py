"""The checkpoint format: networks' tensors in one `.safetensors` file, described by its metadata
(`metadata.CheckpointInfo`); reading, diagnosing and writing the files.

Tensors are stored under one prefix per network (`generator.`, `discriminator.`, batch-norm
buffers included). Metadata is a str->str map; gancli's keys are namespaced `gancli.*` and hold
JSON where a value is not a plain string. The file is enough to rebuild the generator: no flags,
no run folder and no pickle are needed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load, save_file
from torch import nn

from gancli.core.files import atomic_path
from gancli.checkpoints.metadata import PREFIX, CheckpointInfo
from gancli.errors import CheckpointError

@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        count = 1
        for side in self.shape:
            count *= side
        return count


def open_error(path: Path, err: BaseException) -> CheckpointError:
    what = diagnose(path) or "it is damaged or was never one"
    return CheckpointError(f"{path}: not a readable safetensors checkpoint: {what} ({type(err).__name__}: {err})")


def diagnose(path: Path) -> str | None:
    """What a file that safetensors refused looks like, in words, when that can be told."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            start = f.read(8)
    except OSError as err:
        return f"cannot be read: {err.strerror or err}"
    if size == 0:
        return "the file is empty"
    # A pickle opens with PROTO (0x80) and a protocol number; 0x80 alone can be a header length.
    if start[:1] == b"\x80" and start[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "it is a pickle (as torch.save writes); gancli never unpickles files"
    if start[:4] == b"PK\x03\x04":
        return "it is a zip archive (as torch.save writes)"
    if len(start) < 8:
        return f"it has {size} bytes, fewer than the 8 that start a safetensors file (truncated?)"
    claimed = int.from_bytes(start, "little")
    if claimed > size - 8:
        return f"its header claims {claimed:,} bytes but the file has {size:,} (truncated?)"
    return missing_data(path, claimed, size - 8 - claimed)


def missing_data(path: Path, header_size: int, data_size: int) -> str | None:
    """Whether the tensors a readable header describes end past the end of the file."""
    try:
        with open(path, "rb") as f:
            f.seek(8)
            header = json.loads(f.read(header_size))
        end = max((entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"), default=0)
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    if isinstance(end, int) and end > data_size:
        return f"its tensors need {end:,} bytes after the header but the file has {data_size:,} (truncated?)"
    return None


def _is_interrupt(err: BaseException) -> bool:
    # safetensors' Rust side can raise a PanicException, which derives from BaseException.
    return isinstance(err, (KeyboardInterrupt, SystemExit, GeneratorExit))


def read_header(path: Path) -> tuple[dict[str, str], list[TensorInfo]]:
    """Metadata and tensor descriptions, read from the header without loading any tensor."""
    path = _existing_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = []
            for name in f.keys():
                part = f.get_slice(name)
                tensors.append(TensorInfo(name, part.get_dtype(), tuple(part.get_shape())))
    except BaseException as err:  # safetensors raises its own error types for every kind of damage
        if _is_interrupt(err):
            raise
        raise open_error(path, err) from None
    return _checked_metadata(metadata, path), tensors


@dataclass
class StoredFile:
    """A safetensors file read once: its metadata and every tensor come from the same bytes, so
    a file replaced while it is being read can never mix two versions."""

    path: Path
    metadata: dict[str, str]
    tensors: dict[str, torch.Tensor]

    @classmethod
    def read(cls, path: Path, device: torch.device | str = "cpu") -> "StoredFile":
        path = _existing_file(path)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise CheckpointError(f"{path}: cannot be read: {err.strerror or err}") from None
        try:
            length = int.from_bytes(data[:8], "little")
            header = json.loads(data[8:8 + length]) if 8 + length <= len(data) else None
            tensors = load(data)
        except BaseException as err:
            if _is_interrupt(err):
                raise
            raise open_error(path, err) from None
        metadata = (header.get("__metadata__") or {}) if isinstance(header, dict) else {}
        if str(device) != "cpu":
            tensors = {name: value.to(device) for name, value in tensors.items()}
        return cls(path, _checked_metadata(metadata, path), tensors)

    @property
    def info(self) -> CheckpointInfo:
        return CheckpointInfo.from_metadata(self.metadata, self.path)

    def has(self, prefix: str) -> bool:
        return any(name.startswith(prefix + ".") for name in self.tensors)

    def under(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors stored under `prefix.`, with the prefix stripped; an error when none are."""
        found = under_prefix(self.tensors, prefix)
        if not found:
            raise CheckpointError(f"{self.path}: holds no tensors under '{prefix}.'")
        return found


def under_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    start = prefix + "."
    return {name[len(start):]: value for name, value in tensors.items() if name.startswith(start)}


def _existing_file(path: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}" if not path.exists() else f"not a file: {path}")
    return path


def _checked_metadata(metadata: Any, path: Path) -> dict[str, str]:
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{path}: the safetensors metadata is not a map of strings")
    return metadata


def read_info(path: Path) -> CheckpointInfo:
    metadata, _ = read_header(path)
    return CheckpointInfo.from_metadata(metadata, Path(path))


def read_tensors(path: Path, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Every tensor in `path`; damage is a `CheckpointError` naming the file."""
    return StoredFile.read(path, device).tensors


def load_tensors(path: Path, prefix: str, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors stored under `prefix.`, with the prefix stripped."""
    return StoredFile.read(path, device).under(prefix)


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write `tensors` (moved to the CPU) and `metadata` to `path`, atomically; a failed write is
    an OSError whatever safetensors raised."""
    tensors = {name: value.detach().to("cpu").contiguous() for name, value in tensors.items()}
    with atomic_path(Path(path)) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except OSError:
            raise
        except Exception as err:  # safetensors reports a failed write (a full disk) as its own type
            raise _os_error(err) from None


def _os_error(err: Exception) -> OSError:
    """safetensors' "I/O error: No space left on device (os error 28)" as the OSError it was."""
    code = re.search(r"\(os error (\d+)\)", str(err))
    return OSError(int(code[1]), os.strerror(int(code[1]))) if code else OSError(str(err))


def save_checkpoint(path: Path, networks: dict[str, nn.Module], info: CheckpointInfo) -> None:
    """Write `networks` (prefix -> module) and `info` to `path`, atomically."""
    tensors = {f"{prefix}.{name}": value for prefix, module in networks.items()
               for name, value in module.state_dict().items()}
    metadata = info.to_metadata()
    # Trainable parameters per network; the header alone cannot tell them from buffers.
    metadata[PREFIX + "parameters"] = json.dumps(
        {prefix: sum(p.numel() for p in module.parameters()) for prefix, module in networks.items()}
    )
    write_safetensors(path, tensors, metadata)


def load_into(module: nn.Module, tensors: dict[str, torch.Tensor], what: str, path: Path) -> None:
    """Load `tensors` into `module`, turning any mismatch into a message naming the tensor."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        detail = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(f"{path}: {what} tensors do not match the architecture ({detail})")
    for name, value in tensors.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{path}: {what}.{name} has shape {tuple(value.shape)}, "
                f"the architecture expects {tuple(expected[name].shape)}"
            )
    module.load_state_dict(tensors)
