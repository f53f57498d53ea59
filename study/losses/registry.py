"""The loss registry: `create_loss(name, **params)`, `list_losses()`; helpers the loss modules
share. Conventions of every loss (`study.losses`):

Notation: z logits (N×K), q = softmax(z), c the (possibly noisy) label, ℓ = log q_c, y one-hot.
Every loss is an `nn.Module` whose `forward(logits, target)` returns the mean over the batch,
computed from `log_softmax` (never `log(softmax)`), in float32 at least (bf16/fp16 logits are
upcast), so loss and gradient stay finite for logits up to ±1e4.

Most losses of the family depend on the logits only through ℓ = log q_c: L = f(ℓ). For those,
`_TrueClassFn` evaluates f and its analytic gradient dL/dz = f'(ℓ)·(y − q) in one fused pass;
this keeps `lace` as cheap as cross entropy (a composition of log_softmax, exp and gather costs
about 1.2× here) and exact. The others (label smoothing, MIN-ENT, NCE+RCE) use autograd.
"""

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
