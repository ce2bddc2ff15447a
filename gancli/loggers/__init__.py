"""Loggers: where a run's readings go (metrics.jsonl always, TensorBoard on request), and the
registry that finds built-ins and plugins alike under `gancli.loggers`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch

from gancli.core.registry import Registry
from gancli.errors import RegistryError
from gancli.loggers.base import Logger

loggers: Registry[type[Logger]] = Registry("gancli.loggers", "logger", type)
ALWAYS = ("jsonl",)


class Loggers:
    """Every logger of one run, called together; the ones asked for plus those always on."""

    def __init__(self, names: Iterable[str] = ()):
        self.opened = False
        self.members: list[Logger] = []
        for name in dict.fromkeys([*ALWAYS, *names]):
            logger_class = loggers.get(name)
            if not (isinstance(logger_class, type) and issubclass(logger_class, Logger)):
                raise RegistryError(f"logger '{name}' is not a Logger subclass")
            self.members.append(logger_class())

    def open(self, run_dir: Path, config: dict[str, Any], first_step: int = 0) -> "Loggers":
        for member in self.members:
            member.open(run_dir, config, first_step)
        self.opened = True
        return self

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for member in self.members:
            member.scalars(step, values)

    def image(self, step: int, name: str, grid: torch.Tensor) -> None:
        for member in self.members:
            member.image(step, name, grid)

    def close(self) -> None:
        """Close every member once, however many times a run ends; `open` may start them again."""
        if self.opened:
            self.opened = False
            for member in self.members:
                member.close()


__all__ = ["ALWAYS", "Logger", "Loggers", "loggers"]
