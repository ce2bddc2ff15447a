"""What every conformance kit shares: the error a broken promise raises."""

from __future__ import annotations


class ConformanceError(AssertionError):
    """A plugin entry that does not keep gancli's contract; the message says which promise."""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise ConformanceError(what)
