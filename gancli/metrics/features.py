"""Feature extraction: uint8 images in, one feature vector per image out.

The preprocessing is the FID standard: grayscale repeated to three channels, a bilinear resize
to the network's input size (299 x 299 for Inception), and TensorFlow's scaling (x - 128) / 128.
Any network that maps such a batch to (N, D) features can stand in, so the scores can be
computed with a small network where the real one is absent (tests) or another one is wanted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gancli.metrics.inception import FIDInceptionV3
from gancli.metrics.weights import find_fid_weights, load_network
from gancli.sampling.generate import BatchBackoff

INCEPTION_SIZE = 299


@dataclass
class FeatureExtractor:
    network: nn.Module
    key: str                     # names the network and its weights; part of the stats cache key
    input_size: int | None = INCEPTION_SIZE
    device: torch.device | str = "cpu"
    batch_size: int = 64

    def __post_init__(self):
        self.network = self.network.to(self.device).eval()

    def preprocess(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.to(self.device).float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.input_size is not None and tuple(x.shape[2:]) != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return (x - 128) / 128

    @torch.no_grad()
    def __call__(self, pixels: torch.Tensor, progress: Callable[[int, int], None] | None = None,
                 notify: Callable[[str], None] | None = None) -> torch.Tensor:
        """uint8 images (N, C, H, W) -> float32 features (N, D) on the CPU; `progress(done, total)`
        hears of each batch. When the device runs out of memory the batch halves (for later calls
        too), said once through `notify`."""
        if pixels.dtype != torch.uint8:
            raise TypeError(f"features are computed from uint8 images, got {pixels.dtype}")
        backoff = BatchBackoff(self.batch_size, "computing image features", self.device, notify)

        def features(start: int, stop: int) -> torch.Tensor:
            batch = pixels[start:stop]
            return self.network(self.preprocess(batch)).reshape(batch.shape[0], -1).float().cpu()

        chunks, done = [], 0
        for chunk in backoff.run(pixels.shape[0], features):
            chunks.append(chunk)
            done += chunk.shape[0]
            if progress is not None:
                progress(done, pixels.shape[0])
        self.batch_size = backoff.size
        return torch.cat(chunks)


def inception_extractor(weights: Path | None = None, device: torch.device | str = "cpu",
                        batch_size: int = 64, download: bool = True) -> FeatureExtractor:
    """The standard FID feature extractor, its weights found as `gancli.metrics.weights` says."""
    loaded = load_network(find_fid_weights(weights, download=download), FIDInceptionV3,
                          lambda module, state: module.load_fid_state_dict(state))
    return FeatureExtractor(loaded.network, f"inception-{loaded.key}", INCEPTION_SIZE, device, batch_size)
