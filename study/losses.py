"""Classification losses behind one registry: `create_loss(name, **params)`, `list_losses()`.

Notation: z logits (N×K), q = softmax(z), c the (possibly noisy) label. Every loss is an
`nn.Module` whose `forward(logits, target)` returns the mean over the batch, computed from
`log_softmax` (never `log(softmax)`), so loss and gradient stay finite for logits up to ±1e4.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
import torch.nn.functional as F
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
    """Build a registered loss; unknown names or parameters are a `ConfigError`."""
    cls = LOSSES.get(name, "loss.name")
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in params:
        if key not in allowed:
            raise ConfigError(
                f"loss.{key}: unknown parameter for loss {name!r} "
                f"(allowed: {', '.join(allowed) or 'none'})"
            )
    return cls(**params)


def _true_class_log_prob(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log q_c per sample, in float32 at least (bf16 logits are upcast first)."""
    logp = F.log_softmax(logits.float(), dim=1)
    return logp.gather(1, target.view(-1, 1)).squeeze(1)


@register_loss("ce")
class CrossEntropy(nn.Module):
    """Cross entropy: L = −log q_c. The reference every other loss is compared with."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), target)


@register_loss("lace")
class LinearlyAdaptiveCE(nn.Module):
    """Linearly adaptive cross entropy: L = −(1 − q_c)·log q_c.

    Source: Shim 2025, "Linearly adaptive cross entropy", arXiv 2507.10574 (the paper under
    test). The factor (1 − q_c) is *not* detached: the gradient w.r.t. the logits is cross
    entropy's, (q − y), scaled by g(q_c) = (1 − q_c) − q_c·log q_c. It is exactly focal loss
    with γ = 1; it never equals cross entropy (no hyperparameter).
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_qc = _true_class_log_prob(logits, target)
        # 1 − q_c as −expm1(log q_c): exact when q_c → 1, where 1 − exp() would cancel.
        return (torch.expm1(log_qc) * log_qc).mean()
