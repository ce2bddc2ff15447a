"""The classifier measures' network: a small CNN of digit images, and how images are fed to it."""

from __future__ import annotations

import torch
from torch import nn

from gancli.errors import GancliError


def block(inputs: int, outputs: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU())


class DigitClassifier(nn.Module):
    """Five 3x3 conv blocks and a global average pool: any side from 16 to 64, 1 or 3 channels."""

    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.channels, self.classes = channels, classes
        self.features = nn.Sequential(
            block(channels, 16),      # 16 x S x S: narrow, as full-size layers cost the most
            block(16, 32, stride=2),  # 32 x S/2 x S/2
            block(32, 32),            # 32 x S/2 x S/2
            block(32, 64, stride=2),  # 64 x S/4 x S/4
            block(64, 64),            # 64 x S/4 x S/4
        )
        self.head = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))  # (N, classes) logits


def to_unit(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.float() / 127.5 - 1


def check_images(pixels: torch.Tensor, labels: torch.Tensor | None = None, classes: int | None = None) -> None:
    if pixels.dtype != torch.uint8 or pixels.dim() != 4 or pixels.shape[1] not in (1, 3):
        raise ValueError(f"images must be uint8 (N, 1 or 3, H, W), got {pixels.dtype} {tuple(pixels.shape)}")
    if labels is None:
        return
    if labels.shape != (pixels.shape[0],):
        raise ValueError(f"{pixels.shape[0]} images need {pixels.shape[0]} labels, got shape {tuple(labels.shape)}")
    if classes is not None and labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < classes:
        raise GancliError(f"labels must lie in 0..{classes - 1}, found {int(labels.min())}..{int(labels.max())}")


@torch.no_grad()
def logits_of(network: DigitClassifier, pixels: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    check_images(pixels)
    if pixels.shape[1] != network.channels:
        raise ValueError(f"the classifier reads {network.channels}-channel images, got {pixels.shape[1]}")
    network.eval()
    chunks = [network(to_unit(chunk.cpu()).contiguous(memory_format=torch.channels_last))
              for chunk in pixels.split(batch_size)]
    return torch.cat(chunks) if chunks else torch.empty(0, network.classes)


def accuracy(network: DigitClassifier, pixels: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    """The share of `pixels` whose predicted class is their label."""
    check_images(pixels, labels)
    if not len(labels):
        raise ValueError("accuracy needs at least one image")
    return float((logits_of(network, pixels, batch_size).argmax(1) == labels.cpu().long()).double().mean())
