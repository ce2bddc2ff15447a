"""A least-squares GAN loss and a procedural shapes dataset, found by gancli through entry points."""

from gancli_extras.least_squares import LeastSquares
from gancli_extras.shapes import Shapes, shapes

__all__ = ["LeastSquares", "Shapes", "shapes"]
