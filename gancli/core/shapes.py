"""The shape of the images a GAN makes: channels, height, width."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageShape:
    channels: int
    height: int
    width: int

    def __post_init__(self):
        if min(self.channels, self.height, self.width) <= 0:
            raise ValueError(f"image shape must be positive, got {self.as_tuple()}")

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    def __str__(self) -> str:
        return f"{self.channels}x{self.height}x{self.width}"
