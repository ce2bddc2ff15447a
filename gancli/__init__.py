"""gancli: train generative adversarial networks, sample from them and inspect their checkpoints."""

__version__ = "0.1.0"

from gancli.core.moved import install as _keep_moved_names  # noqa: E402  (old module names, with a warning)

_keep_moved_names()
