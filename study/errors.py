"""Errors a user can cause. The CLI turns them into one clear line and exit code 2."""

from collections.abc import Iterator


class UserError(Exception):
    """Bad input from the user (YAML, names, values, missing data): reported, never a traceback."""


class ConfigError(UserError):
    """An invalid config value; the message names the dotted key, the value and what is allowed."""


def causes(exc: BaseException | None) -> Iterator[BaseException]:
    """`exc`, then what caused it, down its chain (`__cause__`, else `__context__`): Ray
    Tune re-raises a callback's or a trial's error wrapped in its own."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__
