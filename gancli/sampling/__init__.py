"""Images from a trained generator: latents, generation, the files `gancli sample` writes, export."""

from gancli.sampling.generate import generate, sample_grid

__all__ = ["generate", "sample_grid"]
