"""The loss registry: `register_loss`, `create_loss(name, **params)`, `list_losses()`, and the
helpers the loss modules share. The conventions every loss follows are in
`study.training.losses`."""

from __future__ import annotations

import inspect
from collections.abc import Callable

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


def create_loss(name: str, **params: float) -> nn.Module:
    """Build a registered loss; unknown names, unknown or invalid parameters: `ConfigError`."""
    cls = LOSSES.get(name, "loss.name")
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in params:
        if key not in allowed:
            raise ConfigError(
                f"loss.{key}: unknown parameter for loss {name!r} "
                f"(allowed: {', '.join(allowed) or 'none'})"
            )
    return cls(**params)


def _require(ok: bool, key: str, value: float, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"loss.{key}: invalid value {value!r} (allowed: {allowed})")


def _upcast(logits: torch.Tensor) -> torch.Tensor:
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
