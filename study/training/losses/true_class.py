"""Losses of the true-class log-probability ℓ = log q_c, L = f(ℓ): cross entropy, the paper's
linearly adaptive CE, focal, Poly-1, MixEnt's CE part, GCE and SCE. `_TrueClassFn` evaluates f
and its analytic gradient dL/dz = f'(ℓ)·(y − q) in one fused pass (exact, as cheap as CE).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from study.training.losses.registry import Ranges, _upcast, register_loss


class _TrueClassFn(torch.autograd.Function):
    """mean_i f(ℓ_i) with the analytic gradient dL/dz_i = f'(ℓ_i)·(y_i − q_i) / N."""

    @staticmethod
    def forward(
        ctx: Any, logits: torch.Tensor, target: torch.Tensor, loss: TrueClassLoss
    ) -> torch.Tensor:
        z = _upcast(logits)
        logp = torch.log_softmax(z, dim=1)
        ell = logp.gather(1, target[:, None]).squeeze(1)
        ctx.save_for_backward(logp, ell, target)
        ctx.loss, ctx.in_dtype = loss, logits.dtype
        return loss.value(ell).mean()

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        logp, ell, target = ctx.saved_tensors
        scale = ctx.loss.slope(ell) * (grad_out / ell.numel())  # f'(ℓ)/N per sample
        grad = torch.exp(logp)  # q
        grad.scatter_add_(1, target[:, None], grad.new_full((ell.numel(), 1), -1.0))  # q − y
        grad.mul_(-scale[:, None])  # f'(ℓ)·(y − q)
        return grad.to(ctx.in_dtype), None, None


class TrueClassLoss(nn.Module):
    """Base for losses L = f(ℓ); subclasses give f (`value`) and f' (`slope`)."""

    def value(self, ell: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def slope(self, ell: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = _TrueClassFn.apply(logits, target, self)
        return out


def _one_minus_q(ell: torch.Tensor) -> torch.Tensor:
    """1 − q_c as −expm1(ℓ): exact as q_c → 1, where 1 − exp(ℓ) cancels."""
    return -torch.expm1(ell)


@register_loss("ce")
class CrossEntropy(TrueClassLoss):
    """Cross entropy: L = −log q_c. The reference every other loss is compared with."""

    def value(self, ell: torch.Tensor) -> torch.Tensor:
        return -ell

    def slope(self, ell: torch.Tensor) -> torch.Tensor:
        return torch.full_like(ell, -1.0)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(_upcast(logits), target)  # PyTorch's fused kernel


@register_loss("lace")
class LinearlyAdaptiveCE(TrueClassLoss):
    """Linearly adaptive cross entropy: L = −(1 − q_c)·log q_c.

    Source: Shim 2025, arXiv 2507.10574 (the paper under test). The factor (1 − q_c) is *not*
    detached: dL/dz = g(q_c)·(q − y) with g(q_c) = (1 − q_c) − q_c·log q_c, cross entropy's
    gradient scaled by g (> 1 for q_c < 1/e). Exactly focal loss with γ = 1; it has no
    hyperparameter and never equals cross entropy.
    """

    def value(self, ell: torch.Tensor) -> torch.Tensor:
        return -_one_minus_q(ell) * ell

    def slope(self, ell: torch.Tensor) -> torch.Tensor:
        # f(ℓ) = (e^ℓ − 1)·ℓ  →  f'(ℓ) = e^ℓ·ℓ + e^ℓ − 1 = −g
        return torch.exp(ell) * ell - _one_minus_q(ell)


@register_loss("focal")
class FocalLoss(TrueClassLoss):
    """Focal loss: L = −(1 − q_c)^γ·log q_c, full gradient (the factor is not detached).

    Source: Lin et al. 2017, "Focal loss for dense object detection". γ = 0 is cross entropy;
    γ = 1 is the paper's `lace`. Default γ = 2.
    """

    RANGES: ClassVar[Ranges] = {
        "gamma": (">= 0", lambda gamma: gamma >= 0),
    }

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        self.gamma = float(gamma)

    def value(self, ell: torch.Tensor) -> torch.Tensor:
        return -_one_minus_q(ell).pow(self.gamma) * ell

    def slope(self, ell: torch.Tensor) -> torch.Tensor:
        # f'(ℓ) = γ(1−q)^(γ−1)·q·ℓ − (1−q)^γ; the first term → 0 as q → 1 (ℓ ≈ −(1−q)),
        # so it is set to 0 where 1 − q underflows to 0 (avoids 0·∞ for γ < 1).
        one_minus = _one_minus_q(ell)
        safe = torch.where(one_minus > 0, one_minus, torch.ones_like(one_minus))
        first = self.gamma * safe.pow(self.gamma - 1) * torch.exp(ell) * ell
        first = torch.where(one_minus > 0, first, torch.zeros_like(first))
        return first - one_minus.pow(self.gamma)


@register_loss("poly1")
class Poly1(TrueClassLoss):
    """Poly-1: L = −log q_c + ε·(1 − q_c).

    Source: Leng et al. 2022, "PolyLoss" (ICLR). ε = 0 is cross entropy. Default ε = 2;
    ε ≥ −1 keeps the loss decreasing in q_c.
    """

    RANGES: ClassVar[Ranges] = {
        "epsilon": (">= -1", lambda epsilon: epsilon >= -1),
    }

    def __init__(self, epsilon: float = 2.0) -> None:
        super().__init__()
        self.epsilon = float(epsilon)

    def value(self, ell: torch.Tensor) -> torch.Tensor:
        return -ell + self.epsilon * _one_minus_q(ell)

    def slope(self, ell: torch.Tensor) -> torch.Tensor:
        return -1.0 - self.epsilon * torch.exp(ell)


@register_loss("mixent")
class MixEnt(TrueClassLoss):
    """MIX-ENT: L = −log q_c + λ·(−Σ_k q_k·log max(y_k, η)) = −log q_c + λ·(−log η)·(1 − q_c).

    Source: Ibraheem 2025, arXiv 2501.13709 (abstract). The author's code is not public: this
    is the abstract's formula with log 0 replaced by log η. λ = 0 is cross entropy.
    Defaults λ = 1, η = 1e-6.
    """

    RANGES: ClassVar[Ranges] = {
        "lam": (">= 0", lambda lam: lam >= 0),
        "eta": ("in (0, 1)", lambda eta: 0 < eta < 1),
    }

    def __init__(self, lam: float = 1.0, eta: float = 1e-6) -> None:
        super().__init__()
        self.weight = float(lam) * -math.log(eta)

    def value(self, ell: torch.Tensor) -> torch.Tensor:
        return -ell + self.weight * _one_minus_q(ell)

    def slope(self, ell: torch.Tensor) -> torch.Tensor:
        return -1.0 - self.weight * torch.exp(ell)


@register_loss("gce")
class GeneralizedCE(TrueClassLoss):
    """Generalised cross entropy: L = (1 − q_c^q)/q.

    Source: Zhang & Sabuncu 2018 (NeurIPS). The limit q → 0 is cross entropy; q = 1 is MAE's
    1 − q_c. q must lie in (0, 1]; default q = 0.7.
    """

    RANGES: ClassVar[Ranges] = {
        "q": ("in (0, 1]", lambda q: 0 < q <= 1),
    }

    def __init__(self, q: float = 0.7) -> None:
        super().__init__()
        self.q = float(q)

    def value(self, ell: torch.Tensor) -> torch.Tensor:
        return -torch.expm1(self.q * ell) / self.q

    def slope(self, ell: torch.Tensor) -> torch.Tensor:
        return -torch.exp(self.q * ell)


_RCE_LOG_FLOOR = -math.log(1e-4)  # −log max(y_k, 1e-4) for y_k = 0, as in the SCE/APL code


@register_loss("sce")
class SymmetricCE(TrueClassLoss):
    """Symmetric cross entropy: L = α·(−log q_c) + β·RCE, with the reverse cross entropy
    RCE = −Σ_k q_k·log max(y_k, 1e-4) = −log(1e-4)·(1 − q_c).

    Source: Wang et al. 2019 (ICCV). α = 1, β = 0 is cross entropy. Defaults α = 6.0,
    β = 0.1 (their CIFAR-100 setting).
    """

    RANGES: ClassVar[Ranges] = {
        "alpha": (">= 0", lambda alpha: alpha >= 0),
        "beta": (">= 0", lambda beta: beta >= 0),
    }

    def __init__(self, alpha: float = 6.0, beta: float = 0.1) -> None:
        super().__init__()
        self.alpha, self.beta = float(alpha), float(beta)

    def value(self, ell: torch.Tensor) -> torch.Tensor:
        return -self.alpha * ell + self.beta * _RCE_LOG_FLOOR * _one_minus_q(ell)

    def slope(self, ell: torch.Tensor) -> torch.Tensor:
        return -self.alpha - self.beta * _RCE_LOG_FLOOR * torch.exp(ell)
