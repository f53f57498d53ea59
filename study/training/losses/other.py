"""Losses of the whole distribution q (autograd): label smoothing, MIN-ENT, NCE+RCE."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from study.training.losses.registry import Ranges, _upcast, register_loss
from study.training.losses.true_class import _RCE_LOG_FLOOR, _one_minus_q


@register_loss("label_smoothing")
class LabelSmoothing(nn.Module):
    """Label smoothing: L = (1 − ε)·(−log q_c) + ε·mean_k(−log q_k).

    Source: Szegedy et al. 2016, "Rethinking the Inception architecture". ε = 0 is cross
    entropy; ε must lie in [0, 1); default ε = 0.1.
    """

    RANGES: ClassVar[Ranges] = {
        "epsilon": ("in [0, 1)", lambda epsilon: 0 <= epsilon < 1),
    }

    def __init__(self, epsilon: float = 0.1) -> None:
        super().__init__()
        self.epsilon = float(epsilon)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # PyTorch's label_smoothing is exactly this mixture with the uniform distribution.
        return F.cross_entropy(_upcast(logits), target, label_smoothing=self.epsilon)


@register_loss("minent")
class MinEnt(nn.Module):
    """MIN-ENT: L = −log q_c + λ·H(q), H(q) = −Σ_k q_k·log q_k.

    Source: Ibraheem 2025, arXiv 2501.13709. λ = 0 is cross entropy; default λ = 0.1.
    """

    RANGES: ClassVar[Ranges] = {
        "lam": (">= 0", lambda lam: lam >= 0),
    }

    def __init__(self, lam: float = 0.1) -> None:
        super().__init__()
        self.lam = float(lam)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(_upcast(logits), dim=1)
        nll = -logp.gather(1, target[:, None]).squeeze(1)
        entropy = -(logp.exp() * logp).sum(dim=1)
        return (nll + self.lam * entropy).mean()


@register_loss("nce_rce")
class NCEandRCE(nn.Module):
    """Active-passive loss NCE+RCE: L = α·(−log q_c)/(−Σ_k log q_k) + β·RCE,
    RCE = −log(1e-4)·(1 − q_c) as in `sce`.

    Source: Ma et al. 2020, "Normalized loss functions for deep learning with noisy labels"
    (ICML). Never equals cross entropy. Defaults α = 10, β = 0.1 (their CIFAR-100 setting).
    """

    RANGES: ClassVar[Ranges] = {
        "alpha": (">= 0", lambda alpha: alpha >= 0),
        "beta": (">= 0", lambda beta: beta >= 0),
    }

    def __init__(self, alpha: float = 10.0, beta: float = 0.1) -> None:
        super().__init__()
        self.alpha, self.beta = float(alpha), float(beta)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(_upcast(logits), dim=1)
        ell = logp.gather(1, target[:, None]).squeeze(1)
        nce = ell / logp.sum(dim=1)  # (−log q_c)/(−Σ_k log q_k)
        rce = _RCE_LOG_FLOOR * _one_minus_q(ell)
        return (self.alpha * nce + self.beta * rce).mean()
