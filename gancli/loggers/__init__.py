"""Loggers: where a run's readings go (metrics.jsonl always, TensorBoard on request), and the
registry that finds built-ins and plugins alike under `gancli.loggers`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from gancli.core.registry import Plugin, Registry
from gancli.errors import RegistryError
from gancli.loggers.base import Logger

loggers: Registry[type[Logger]] = Registry("gancli.loggers", "logger", type)
ALWAYS = ("jsonl",)
#: Built-in loggers given a record's every value (metrics.jsonl: a health warning's text, the
#: protocol an evaluation was measured under); every other logger gets its numbers only.
EVERY_VALUE = ("jsonl",)


class Loggers:
    """Every logger of one run, called together; the ones asked for plus those always on.

    A plugin's logger that raises is let go with one line naming it, and the run goes on
    without it: a dashboard that fails must not cost a run. gancli's own loggers raise, so a
    full disk under metrics.jsonl stops the run as any failed write does.
    """

    def __init__(self, names: Iterable[str] = (), notify: Callable[[str], None] | None = None):
        self.opened = False
        self.notify = notify or (lambda text: None)
        self.members: list[tuple[Plugin, Logger]] = []
        for name in dict.fromkeys([*ALWAYS, *names]):
            plugin = loggers.find(name)
            logger_class = loggers.load(plugin)
            if not (isinstance(logger_class, type) and issubclass(logger_class, Logger)):
                raise RegistryError(f"logger '{name}' is not a Logger subclass")
            try:
                self.members.append((plugin, logger_class()))
            except Exception as err:
                if plugin.builtin:
                    raise
                self._let_go(plugin, "start", err)

    def _call(self, what: str, call: Callable[[Logger], None]) -> None:
        for plugin, member in list(self.members):
            self._call_one(plugin, member, what, call)

    def _call_one(self, plugin: Plugin, member: Logger, what: str, call: Callable[[Logger], None]) -> None:
        try:
            call(member)
        except Exception as err:
            if plugin.builtin:
                raise
            self.members = [(p, m) for p, m in self.members if m is not member]
            self._let_go(plugin, what, err)

    def _let_go(self, plugin: Plugin, what: str, err: Exception) -> None:
        self.notify(f"logger {plugin.qualified_name} {plugin.version} failed to {what} "
                    f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); the run goes on without it")

    def open(self, run_dir: Path, config: dict[str, Any], first_step: int = 0) -> "Loggers":
        self._call("open", lambda member: member.open(run_dir, config, first_step))
        self.opened = True
        return self

    def scalars(self, step: int, values: dict[str, Any]) -> None:
        """Log `values` at `step`. Only metrics.jsonl takes values that are not numbers; the
        others get the numbers alone, and nothing when there are none."""
        numbers = {name: value for name, value in values.items() if isinstance(value, (int, float))}
        for plugin, member in list(self.members):
            given = values if plugin.builtin and plugin.name in EVERY_VALUE else numbers
            if given:
                self._call_one(plugin, member, "log scalars", lambda member: member.scalars(step, given))

    def image(self, step: int, name: str, grid: torch.Tensor) -> None:
        self._call("log an image", lambda member: member.image(step, name, grid))

    def close(self) -> None:
        """Close every member once, however many times a run ends; `open` may start them again."""
        if self.opened:
            self.opened = False
            self._call("close", lambda member: member.close())


__all__ = ["ALWAYS", "EVERY_VALUE", "Logger", "Loggers", "loggers"]
