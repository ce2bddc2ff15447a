"""gancli: train generative adversarial networks, sample from them and inspect their checkpoints."""

__version__ = "0.1.0"
