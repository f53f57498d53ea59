"""The model registry: name → factory(num_classes, width, in_channels) → nn.Module."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from study.registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


def create_model(name: str, num_classes: int, width: int, in_channels: int) -> nn.Module:
    return MODELS.get(name, "model.name")(
        num_classes=num_classes, width=width, in_channels=in_channels
    )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
