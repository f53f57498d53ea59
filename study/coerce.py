"""Values from YAML into typed configs: nested mappings as dotted keys (`flatten`,
`set_dotted`) and a value checked against a type hint (`coerce`), with the one-line error
`key: invalid value X (allowed: ...)`."""

from __future__ import annotations

import contextlib
import math
import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from study.errors import ConfigError


def flatten(nested: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in nested.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def set_dotted(nested: dict[str, Any], key: str, value: Any) -> None:
    """Set `a.b.c` in a nested dict; a mapping value replaces the whole section."""
    parts = key.split(".")
    node = nested
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if not isinstance(child, dict):
            if child is None and part not in node:
                raise ConfigError(f"unknown key {'.'.join(parts[: i + 1])!r} in override {key!r}")
            raise ConfigError(f"{'.'.join(parts[: i + 1])!r} is not a section (override {key!r})")
        node = child
    node[parts[-1]] = dict(value) if isinstance(value, Mapping) else value


def coerce(value: Any, hint: Any, key: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        inner = [o for o in options if o is not type(None)]
        errors = []
        for option in inner:  # the first type that accepts the value (int | str: 3 or "trial")
            try:
                return coerce(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc).rsplit("(allowed: ", 1)[-1].rstrip(")"))
        raise ConfigError(f"{key}: invalid value {value!r} (allowed: {' or '.join(errors)})")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: invalid value {value!r} (allowed: true or false)")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: invalid value {value!r} (allowed: an integer)")
    if hint is float:
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            # PyYAML (YAML 1.1) reads `5e-4` as a string; accept what float() accepts.
            with contextlib.suppress(ValueError):
                number = float(value)
        if number is not None and math.isfinite(number):  # `.inf` and `.nan` are YAML floats
            return number
        raise ConfigError(f"{key}: invalid value {value!r} (allowed: a finite number)")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: invalid value {value!r} (allowed: a string)")
    raise ConfigError(f"{key}: unsupported type {hint!r}")
