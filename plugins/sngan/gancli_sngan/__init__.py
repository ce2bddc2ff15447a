"""SNGAN's standard CNN for gancli; gancli finds it through the `gancli.architectures` entry point."""

from gancli_sngan.standard_cnn import SNGAN, SNGANConfig, sngan

__all__ = ["SNGAN", "SNGANConfig", "sngan"]
