"""Conformance kits for plugin authors, one per kind of entry, run in a package's own tests:
`check_architecture(name)`, `check_loss(name)`, `check_dataset(name, root=...)` and
`check_logger(name, run_dir)`. Name the entry as `package:name`, so that another package's entry
of the same name, installed beside yours, never answers for it."""

from gancli.testing.architecture import check_architecture
from gancli.testing.conformance import ConformanceError
from gancli.testing.dataset import check_dataset
from gancli.testing.logger import check_logger
from gancli.testing.loss import check_loss

__all__ = ["ConformanceError", "check_architecture", "check_dataset", "check_logger", "check_loss"]
