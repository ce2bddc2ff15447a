"""Everything a plugin (or a script) may import from gancli, in one module that stays put.

    from gancli.plugin import Architecture, ArchConfig, ImageShape, GANLoss, check_architecture

gancli's rooms may move between releases; the names here do not. A name that leaves this list
keeps working, with a DeprecationWarning naming its replacement, through the next minor release
(docs/plugins.md has the rule). Built-in and third-party entries are found alike through the
entry-point groups `gancli.architectures`, `gancli.datasets`, `gancli.losses` and `gancli.loggers`.
"""

from gancli.architectures import (ArchConfig, Architecture, ClassBatchNorm2d, LabelledLatent, LabelledSequential,
                                  Projection, architectures, projection_logits)
from gancli.architectures.conditioning import label_dim
from gancli.checkpoints.generator import LoadedGenerator, load_generator
from gancli.config import TrainConfig
from gancli.core.shapes import ImageShape
from gancli.datasets import DataRequest, DatasetSource, Images, datasets
from gancli.errors import CheckpointError, ConfigError, GancliError, RegistryError
from gancli.loggers import Logger, loggers
from gancli.losses import R1, GANLoss, Penalty, input_gradients, losses, takes_scale
from gancli.sampling import generate, sample_grid
from gancli.testing import ConformanceError, check_architecture, check_dataset, check_logger, check_loss
from gancli.training import Reporter, RunResult, Trainer, train

__all__ = [
    # architectures
    "ArchConfig", "Architecture", "ClassBatchNorm2d", "ImageShape", "LabelledLatent", "LabelledSequential",
    "Projection", "architectures", "label_dim", "projection_logits",
    # datasets
    "DataRequest", "DatasetSource", "Images", "datasets",
    # losses
    "GANLoss", "Penalty", "R1", "input_gradients", "losses", "takes_scale",
    # loggers
    "Logger", "loggers",
    # training, sampling, checkpoints
    "Reporter", "RunResult", "TrainConfig", "Trainer", "train", "LoadedGenerator", "generate", "load_generator",
    "sample_grid",
    # errors
    "CheckpointError", "ConfigError", "GancliError", "RegistryError",
    # conformance kits
    "ConformanceError", "check_architecture", "check_dataset", "check_logger", "check_loss",
]
