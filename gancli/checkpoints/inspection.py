"""What a checkpoint holds, read from its header alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gancli.checkpoints.format import PREFIX, read_header


def describe_checkpoint(path: Path) -> dict[str, Any]:
    """Metadata (JSON values decoded), tensors, and per network its trainable parameters
    and all its stored elements (batch-norm statistics included)."""
    metadata, tensors = read_header(path)
    decoded: dict[str, Any] = {}
    for key, value in sorted(metadata.items()):
        name = key[len(PREFIX):] if key.startswith(PREFIX) else key
        try:
            decoded[name] = json.loads(value) if value[:1] in "[{" else value
        except json.JSONDecodeError:
            decoded[name] = value
    elements: dict[str, int] = {}
    for tensor in tensors:
        network = tensor.name.split(".", 1)[0]
        elements[network] = elements.get(network, 0) + tensor.numel
    parameters = decoded.pop("parameters", None)
    networks = {name: {"parameters": parameters.get(name) if isinstance(parameters, dict) else None,
                       "elements": count}
                for name, count in elements.items()}
    return {
        "path": str(path),
        "gancli": any(key.startswith(PREFIX) for key in metadata),  # made by gancli, or some other tool
        "metadata": decoded,
        "networks": networks,
        "tensors": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "numel": t.numel}
                    for t in sorted(tensors, key=lambda t: t.name)],
    }
