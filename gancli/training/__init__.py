"""Training a GAN: the trainer's loop, the step and how it executes, and the run folder it writes.

    from gancli.config import TrainConfig
    from gancli.training import train
    result = train(TrainConfig(arch="dcgan", data="synthetic", steps=200, device="cpu"))
"""

from gancli.training.trainer import RunResult, Trainer, train

__all__ = ["RunResult", "Trainer", "train"]
