"""Entry-point registries: discovery of plugins as small records, loading kept separate.

Built-ins and third-party plugins are found the same way, through the entry-point groups
`gancli.architectures`, `gancli.datasets`, `gancli.losses` and `gancli.loggers`. Discovery only
reads package metadata; a plugin's module is imported the first time its name is used, so one
broken plugin never stops the others (or gancli itself) from working.

`GANCLI_DISABLE_PLUGINS=1` (or `gancli --no-plugins`, through `builtins_only()`) keeps only the
entry points that gancli itself ships; `GANCLI_DISABLE_PLUGINS=pkg1,pkg2` leaves out those
packages only. `GANCLI_REQUIRE_PLUGINS=pkg1,pkg2` names packages whose every entry must load:
`gancli list --check` fails when one is missing or broken, so a CI job can insist on them.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import metadata
from typing import Generic, Iterable, Iterator, TypeVar

from gancli.errors import RegistryError

BUILTIN_PACKAGE = "gancli"
DISABLE_ENV = "GANCLI_DISABLE_PLUGINS"
REQUIRE_ENV = "GANCLI_REQUIRE_PLUGINS"
ALL = ("1", "true", "yes", "all")

T = TypeVar("T")


@dataclass(frozen=True)
class Plugin:
    """One entry point, as discovered: what it is called and which package ships it."""

    name: str
    package: str
    version: str
    entry_point: metadata.EntryPoint

    @property
    def builtin(self) -> bool:
        return self.package == BUILTIN_PACKAGE

    @property
    def qualified_name(self) -> str:
        return f"{self.package}:{self.name}"


_builtins_only: ContextVar[bool] = ContextVar("gancli_builtins_only", default=False)


def _packages_in(variable: str) -> set[str]:
    return {normalize_package(name) for name in os.environ.get(variable, "").split(",") if name.strip()}


def plugins_disabled() -> bool:
    """True when every plugin is off: `--no-plugins`, or GANCLI_DISABLE_PLUGINS=1."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() in ALL or _builtins_only.get()


def package_disabled(package: str) -> bool:
    """True when `package`'s entries are left out: every plugin is off, or it is named in
    GANCLI_DISABLE_PLUGINS. gancli's own entries are never left out."""
    name = normalize_package(package)
    if name == BUILTIN_PACKAGE:
        return False
    return plugins_disabled() or name in _packages_in(DISABLE_ENV)


def required_packages() -> list[str]:
    """The packages GANCLI_REQUIRE_PLUGINS names, whose every entry must load."""
    return sorted(_packages_in(REQUIRE_ENV))


@contextmanager
def builtins_only() -> Iterator[None]:
    """Within the block, every registry sees gancli's built-ins only (`gancli --no-plugins`)."""
    token = _builtins_only.set(True)
    try:
        yield
    finally:
        _builtins_only.reset(token)


def normalize_package(name: str) -> str:
    """A distribution name as pip compares them: `Gancli_SNGAN` and `gancli-sngan` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def discover(group: str) -> list[Plugin]:
    """Every entry point of `group` in the installed distributions, as `Plugin` records."""
    found = []
    seen = set()
    for dist in metadata.distributions():
        package = dist.metadata["Name"] or "unknown"
        for ep in dist.entry_points:
            # A package installed twice on sys.path (an editable install beside a copy) would
            # otherwise look like two packages claiming the same name.
            if ep.group != group or (package, ep.name) in seen:
                continue
            seen.add((package, ep.name))
            found.append(Plugin(ep.name, package, dist.version or "unknown", ep))
    return found


class Registry(Generic[T]):
    """Names of one kind (architectures, datasets or losses) and the objects behind them.

    `plugins` may be given directly (tests build `EntryPoint` objects by hand); otherwise the
    entry-point group is read on first use.
    """

    def __init__(self, group: str, kind: str, expected: type, plugins: Iterable[Plugin] | None = None):
        self.group = group
        self.kind = kind
        self.expected = expected
        self._given = list(plugins) if plugins is not None else None
        self._plugins = self._given
        self._loaded: dict[Plugin, T] = {}

    def refresh(self) -> None:
        """Forget what was discovered and loaded, so newly installed packages are seen."""
        self._plugins = self._given
        self._loaded = {}

    # -- discovery -----------------------------------------------------------------------

    def plugins(self) -> list[Plugin]:
        if self._plugins is None:
            self._plugins = discover(self.group)
        return [p for p in self._plugins if not package_disabled(p.package)]

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names, sorted; `pattern` may use shell wildcards (`dc*`)."""
        return sorted({p.name for p in self.plugins() if fnmatch.fnmatchcase(p.name, pattern)})

    def find(self, name: str, prefer_package: str | None = None) -> Plugin:
        """The record behind `name` (or `package:name`); errors list what is available.

        A bare name several packages register goes to `prefer_package` when that is one of them
        (an architecture's own package, for its default loss), else to gancli's built-in: a
        plugin never takes a built-in's name away, and its own entry stays reachable as
        `package:name`. Between plugins alone, a bare name is ambiguous.
        """
        package, _, short = name.rpartition(":")
        matches = [p for p in self.plugins() if p.name == short
                   and (not package or normalize_package(p.package) == normalize_package(package))]
        if not matches:
            available = ", ".join(self.names()) or "none"
            close = difflib.get_close_matches(short, self.names(), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise RegistryError(f"unknown {self.kind} '{name}'{hint} available: {available}"
                                if hint else f"unknown {self.kind} '{name}'; available: {available}")
        for wanted in (prefer_package, BUILTIN_PACKAGE):
            chosen = [p for p in matches if wanted and normalize_package(p.package) == normalize_package(wanted)]
            if len(matches) > 1 and len(chosen) == 1:
                return chosen[0]
        if len(matches) > 1:
            matches.sort(key=lambda p: p.package)  # one message whatever the order on sys.path
            owners = " and ".join(p.package for p in matches)
            choices = ", ".join(p.qualified_name for p in matches)
            raise RegistryError(
                f"{self.kind} '{short}' is registered by both {owners}; pick one with {choices}"
            )
        return matches[0]

    # -- loading -------------------------------------------------------------------------

    def load(self, plugin: Plugin) -> T:
        if plugin not in self._loaded:
            what = f"{self.kind} '{plugin.name}' from package {plugin.package} {plugin.version}"
            try:
                obj = plugin.entry_point.load()
            except Exception as err:  # a plugin's import may fail in any way at all
                raise RegistryError(f"{what} failed to load: {type(err).__name__}: {err}") from err
            if isinstance(obj, type) and issubclass(obj, self.expected):
                try:
                    obj = obj()
                except Exception as err:  # so may its constructor
                    raise RegistryError(f"{what} failed to construct: {type(err).__name__}: {err}") from err
            if not isinstance(obj, self.expected):
                raise RegistryError(
                    f"{self.kind} '{plugin.name}' from package {plugin.package} is a "
                    f"{type(obj).__name__}, not a {self.expected.__name__}"
                )
            self._loaded[plugin] = obj
        return self._loaded[plugin]

    def get(self, name: str, prefer_package: str | None = None) -> T:
        return self.load(self.find(name, prefer_package))

    def shadowed_by(self, plugin: Plugin) -> Plugin | None:
        """The entry a bare `plugin.name` resolves to instead of `plugin`, if any."""
        try:
            chosen = self.find(plugin.name)
        except RegistryError:
            return None  # ambiguous between plugins: each needs its package:name
        return chosen if chosen != plugin else None

    def survey(self, name: str | None = None, package: str | None = None) -> list[tuple[Plugin, T | None, str | None]]:
        """Every plugin (or those called `name`, from `package`) with its loaded object, or None
        and the error that stopped it."""
        rows = []
        for plugin in sorted(self.plugins(), key=lambda p: (p.name, p.package)):
            if name is not None and plugin.name != name or \
                    package is not None and normalize_package(plugin.package) != normalize_package(package):
                continue
            try:
                rows.append((plugin, self.load(plugin), None))
            except RegistryError as err:
                rows.append((plugin, None, str(err.__cause__ or err)))
        return rows
