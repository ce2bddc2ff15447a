"""What a checkpoint holds, read from its header alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gancli.checkpoint import PREFIX, read_header


def describe_checkpoint(path: Path) -> dict[str, Any]:
    """Metadata (JSON values decoded), tensors, and parameter counts per network."""
    metadata, tensors = read_header(path)
    decoded: dict[str, Any] = {}
    for key, value in sorted(metadata.items()):
        name = key[len(PREFIX):] if key.startswith(PREFIX) else key
        try:
            decoded[name] = json.loads(value) if value[:1] in "[{" else value
        except json.JSONDecodeError:
            decoded[name] = value
    networks: dict[str, int] = {}
    for tensor in tensors:
        network = tensor.name.split(".", 1)[0]
        networks[network] = networks.get(network, 0) + tensor.numel
    return {
        "path": str(path),
        "metadata": decoded,
        "networks": networks,
        "tensors": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "numel": t.numel}
                    for t in sorted(tensors, key=lambda t: t.name)],
    }
