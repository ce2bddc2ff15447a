"""Checked conversion of plain mappings (YAML, JSON, `--set`) into typed dataclasses.

Unknown keys and values of the wrong type are `ConfigError`s that name the key, so a typo in a
config file is caught before any work starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import reprlib
import types
import typing
from typing import Any, Mapping, TypeVar

from gancli.errors import ConfigError

D = TypeVar("D")

# YAML 1.1 reads "1e-3" (no dot in the mantissa) as a string; a float field takes it as the number.
_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _check(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check(value, option, key)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(value.strip()):
            number = float(value)
        if number is not None:
            if not math.isfinite(number):
                raise ConfigError(f"{key}: expected a finite number, got {number}")
            return number
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin is dict or annotation is dict:
        if isinstance(value, Mapping):
            return dict(value)
    elif origin in (list, tuple) or annotation in (list, tuple):
        if isinstance(value, (list, tuple)):
            container, args = origin or annotation, typing.get_args(annotation)
            if container is tuple and args and args[-1] is not Ellipsis:  # tuple[int, str]: one type a place
                if len(value) != len(args):
                    raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
                return tuple(_check(v, item, f"{key}[{i}]") for i, (v, item) in enumerate(zip(value, args)))
            item = args[0] if args else Any  # list[int], tuple[int, ...], or bare list and tuple
            return container(_check(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    else:
        raise ConfigError(f"{key}: its type {annotation!r} is not one gancli reads from a config "
                          f"(bool, int, float, str, list, tuple, dict, or Optional/Union of them)")
    wanted = getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"{key}: expected {wanted}, got {type(value).__name__} {shorten(value)}")


_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxlist, _BRIEF.maxtuple, _BRIEF.maxdict = 2, 4, 4, 4
_BRIEF.maxstring = _BRIEF.maxother = 40


def shorten(value: Any, limit: int = 60) -> str:
    """A repr of `value` that stays one short line, at a cost that does not grow with the value
    (a YAML bomb expands to billions of items)."""
    text = _BRIEF.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def from_mapping(cls: type[D], data: Mapping[str, Any] | None, where: str = "") -> D:
    """Build dataclass `cls` from `data`, checking every key and value type.

    `where` prefixes key names in messages (`model.` for an architecture's hyperparameters).
    """
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(str(key) for key in set(data) - fields)  # YAML keys need not be strings
    if unknown:
        close = difflib.get_close_matches(unknown[0], fields, n=1)
        hint = f"did you mean {where}{close[0]}?" if close else f"valid keys: {', '.join(sorted(fields))}"
        raise ConfigError(f"unknown key {where}{unknown[0][:60]}; {hint}")
    values = {name: _check(value, hints[name], f"{where}{name}") for name, value in data.items()}
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where.rstrip('.') or cls.__name__}: {err}") from err


def to_mapping(obj: Any) -> dict[str, Any]:
    """A dataclass as plain data (tuples become lists), ready for YAML or JSON."""
    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
