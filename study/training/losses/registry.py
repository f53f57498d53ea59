"""The loss registry: `register_loss`, `check_loss(name, params)`, `create_loss(name, **params)`,
`list_losses()`, and the helpers the loss modules share. The conventions every loss follows are in
`study.training.losses`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

import torch
from torch import nn

from study.errors import ConfigError
from study.registry import Registry

LOSSES: Registry[type[nn.Module]] = Registry("loss")


def register_loss(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make a loss selectable by `name` from a config."""
    return LOSSES.register(name)


def list_losses() -> list[str]:
    return LOSSES.names()


# A loss's hyperparameter ranges: name → (what is allowed, in words; the test)
Ranges = dict[str, tuple[str, Callable[[float], bool]]]


def check_loss(name: str, params: Mapping[str, float]) -> None:
    """A loss's name and hyperparameters, without building it: the parameters its constructor
    takes, each within the class's `RANGES`; else `ConfigError` naming `loss.<key>`."""
    cls = LOSSES.get(name, "loss.name")
    signature = inspect.signature(cls.__init__)
    allowed = [p for p in signature.parameters if p != "self"]
    for key in params:
        if key not in allowed:
            raise ConfigError(
                f"loss.{key}: unknown parameter for loss {name!r} "
                f"(allowed: {', '.join(allowed) or 'none'})"
            )
    defaults = {k: p.default for k, p in signature.parameters.items() if k != "self"}
    for key, (words, ok) in getattr(cls, "RANGES", {}).items():
        value = params.get(key, defaults[key])
        if not ok(value):
            raise ConfigError(f"loss.{key}: invalid value {value!r} (allowed: {words})")


def create_loss(name: str, **params: float) -> nn.Module:
    """Build a registered loss (checked by `check_loss` first)."""
    check_loss(name, params)
    return LOSSES.get(name, "loss.name")(**params)


def _upcast(logits: torch.Tensor) -> torch.Tensor:
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
