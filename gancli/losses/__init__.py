"""Losses: the contract, and the registry that finds built-ins and plugins alike."""

from gancli.core.registry import Registry
from gancli.errors import RegistryError
from gancli.losses.base import GANLoss, Penalty, input_gradients, takes_scale
from gancli.losses.standard import R1, Hinge, NonSaturatingBCE, WassersteinGP

losses: Registry[type[GANLoss]] = Registry("gancli.losses", "loss", type)


def make_loss(name: str, smooth: float, prefer_package: str | None = None) -> GANLoss:
    """The loss `name` with label smoothing `smooth`; a bare name several packages register goes
    to `prefer_package` first (an architecture's own, for its default loss)."""
    loss_class = losses.get(name, prefer_package)
    if not (isinstance(loss_class, type) and issubclass(loss_class, GANLoss)):
        raise RegistryError(f"loss '{name}' is not a GANLoss subclass")
    return loss_class(smooth=smooth)


__all__ = ["GANLoss", "Hinge", "NonSaturatingBCE", "Penalty", "R1", "WassersteinGP", "input_gradients", "losses", "make_loss",
           "takes_scale"]
