"""Tiny dataset files in the official formats and layouts, written by the tests themselves."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """An IDX file (big-endian dims after a magic of 0x08 = uint8 and the number of dims)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)


def write_mnist(root: Path, folder: str = "MNIST", split: str = "test", count: int = 12, seed: int = 0,
                compress: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    prefix = "t10k" if split == "test" else "train"
    raw = root / folder / "raw"
    write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compress)
    write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, size=count, dtype=np.uint8), compress)
    return images


def write_svhn(path: Path, count: int = 10, seed: int = 0) -> np.ndarray:
    """An SVHN .mat: X is (32, 32, 3, N) uint8, y is (N, 1) with 10 standing for the digit 0."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(1, 11, size=(count, 1), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), {"X": images.transpose(1, 2, 3, 0), "y": labels})
    return images


def write_cifar10(root: Path, per_batch: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """The python version's layout: pickled dicts of "data" (N, 3072) rows and "labels" (protocol 2, as upstream)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, size=(per_batch, 3, 32, 32), dtype=np.uint8)
        batch = {"data": images.reshape(per_batch, -1), "labels": rng.integers(0, 10, per_batch).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = images
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                             "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written
