"""Training a GAN, in two rooms: the step (`step/`: everything one training step needs, on any
device) and the run (`run/`: the loop over steps and everything it writes).

    from gancli.config import TrainConfig
    from gancli.training import train
    result = train(TrainConfig(arch="dcgan", data="synthetic", steps=200, device="cpu"))
"""

from gancli.training.reporting import Reporter
from gancli.training.run.trainer import RunResult, Trainer, train

__all__ = ["Reporter", "RunResult", "Trainer", "train"]
