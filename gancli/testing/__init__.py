"""Conformance kits for plugin authors, one per kind of entry, run in a package's own tests:
`check_architecture(name)`, `check_loss(name)` and `check_dataset(name, root=...)`."""

from gancli.testing.architecture import check_architecture
from gancli.testing.conformance import ConformanceError
from gancli.testing.dataset import check_dataset
from gancli.testing.loss import check_loss

__all__ = ["ConformanceError", "check_architecture", "check_dataset", "check_loss"]
