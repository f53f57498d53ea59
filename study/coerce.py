"""Values from YAML into typed configs, the one validation machinery of trial configs and
study spec sections alike (standard library only).

* `build(cls, raw, prefix)`: a frozen dataclass from a mapping. Keys are its fields; each value
  is checked against the field's type hint (`coerce`); unknown keys and missing required ones
  are refused; then the dataclass's own `__post_init__` checks ranges and cross-field rules,
  raising `ConfigError` with keys relative to the dataclass, which `build` prefixes with where
  it sits (`sequential.` + `alpha: invalid value 1.5 ...`).
* `coerce(value, hint, key)`: bool, int, float (finite; YAML 1.1's `5e-4` strings too), str,
  `X | None` and other unions (the first type that accepts), `tuple[X, ...]` from a list,
  `Mapping[str, X]`, nested dataclasses, `Any`.
* `check(ok, key, value, allowed)`: the one-line error `key: invalid value X (allowed: ...)`.
* `flatten` / `set_dotted`: nested mappings as dotted keys.
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import math
import re
import types
from collections.abc import Mapping
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

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


T = TypeVar("T")


def check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: invalid value {value!r} (allowed: {allowed})")


def build(cls: type[T], raw: Any, prefix: str = "") -> T:
    """`cls` (a dataclass) from the mapping `raw` found at `prefix` (`""` or `"section."`).
    A dataclass with a `from_raw(raw, prefix)` classmethod fills itself (a loss's free-form
    hyperparameters)."""
    section = prefix.rstrip(".") or "config"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{section}: expected a mapping, got {raw!r}")
    from_raw = getattr(cls, "from_raw", None)
    if from_raw is not None:
        return from_raw(raw, prefix)
    fields = [f for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    names = [f.name for f in fields]
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise ConfigError(
            f"{prefix}{unknown[0]}: unknown key (allowed in {section}: {', '.join(names)})"
        )
    missing = [
        f.name for f in fields
        if f.name not in raw and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]  # fmt: skip
    if missing:
        raise ConfigError(f"{prefix}{missing[0]}: missing (required in {section})")
    hints = get_type_hints(cls)
    kwargs = {name: coerce(value, hints[name], f"{prefix}{name}") for name, value in raw.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        # the dataclass's own checks name its keys relative to it (`alpha: invalid value`);
        # a rule over several keys speaks of the section (`sequential: ...`)
        message = str(exc)
        head = re.match(r"(\w+)[:.\[]", message)
        if prefix and (head is None or head.group(1) not in names):
            raise ConfigError(f"{section}: {message}") from None
        raise ConfigError(f"{prefix}{message}") from None


def coerce(value: Any, hint: Any, key: str) -> Any:
    if hint is Any:
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build(hint, {} if value is None else value, f"{key}.")
    origin = get_origin(hint)
    if origin is tuple:
        return _coerce_tuple(value, get_args(hint), key)
    if origin in (Mapping, collections.abc.Mapping, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: invalid value {value!r} (allowed: a mapping)")
        inner = get_args(hint)[1] if get_args(hint) else Any
        return {str(k): coerce(v, inner, f"{key}.{k}") for k, v in value.items()}
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


def _coerce_tuple(value: Any, args: tuple[Any, ...], key: str) -> tuple[Any, ...]:
    """`tuple[X, ...]` from a YAML list."""
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{key}: invalid value {value!r} (allowed: a list)")
    inner = args[0] if args else Any
    return tuple(coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value))
