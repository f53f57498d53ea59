"""A tiny name → factory registry shared by every family (losses, datasets, noise models, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from study.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to entries; an unknown name is an error that lists the known ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return decorator

    def get(self, name: str, key: str | None = None) -> T:
        if name not in self._entries:
            where = f"{key}: " if key else ""
            raise ConfigError(
                f"{where}unknown {self.kind} {name!r} (known: {', '.join(self.names())})"
            )
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
