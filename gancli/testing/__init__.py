"""Conformance kits for plugin authors: `check_architecture(name)` in a package's tests."""

from gancli.testing.architecture import ConformanceError, check_architecture

__all__ = ["ConformanceError", "check_architecture"]
