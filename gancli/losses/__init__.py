"""GAN losses: the contract, gancli's own losses, and the registry that finds built-ins and plugins alike."""

from gancli.losses.standard import GANLoss, Hinge, NonSaturatingBCE, Penalty, WassersteinGP, losses, make_loss

__all__ = ["GANLoss", "Hinge", "NonSaturatingBCE", "Penalty", "WassersteinGP", "losses", "make_loss"]
