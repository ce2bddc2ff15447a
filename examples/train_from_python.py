"""Everything the CLI does is a library call: train a small DCGAN, then sample from it.

    python examples/train_from_python.py
"""

from gancli.cli.progress import PlainReporter
from gancli.config import TrainConfig
from gancli.sampling import sample_grid
from gancli.training import train

config = TrainConfig(arch="dcgan", data="synthetic", steps=100, device="auto",
                     out="runs/from-python", model={"g_channels": 256})
result = train(config, PlainReporter(), overwrite=True)  # the library itself prints nothing
print("grid:", sample_grid(result.last_checkpoint, result.out / "grid.png", n=64))
