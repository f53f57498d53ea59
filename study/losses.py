"""Classification losses behind one registry: `create_loss(name, **params)`, `list_losses()`.

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
import math
from collections.abc import Callable
from typing import Any

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


# --- losses of the true-class log-probability ℓ = log q_c ---------------------------------------


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

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        _require(gamma >= 0, "gamma", gamma, ">= 0")
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

    def __init__(self, epsilon: float = 2.0) -> None:
        super().__init__()
        _require(epsilon >= -1, "epsilon", epsilon, ">= -1")
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

    def __init__(self, lam: float = 1.0, eta: float = 1e-6) -> None:
        super().__init__()
        _require(lam >= 0, "lam", lam, ">= 0")
        _require(0 < eta < 1, "eta", eta, "in (0, 1)")
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

    def __init__(self, q: float = 0.7) -> None:
        super().__init__()
        _require(0 < q <= 1, "q", q, "in (0, 1]")
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

    def __init__(self, alpha: float = 6.0, beta: float = 0.1) -> None:
        super().__init__()
        _require(alpha >= 0, "alpha", alpha, ">= 0")
        _require(beta >= 0, "beta", beta, ">= 0")
        self.alpha, self.beta = float(alpha), float(beta)

    def value(self, ell: torch.Tensor) -> torch.Tensor:
        return -self.alpha * ell + self.beta * _RCE_LOG_FLOOR * _one_minus_q(ell)

    def slope(self, ell: torch.Tensor) -> torch.Tensor:
        return -self.alpha - self.beta * _RCE_LOG_FLOOR * torch.exp(ell)


# --- losses of the whole distribution q -----------------------------------------------------------


@register_loss("label_smoothing")
class LabelSmoothing(nn.Module):
    """Label smoothing: L = (1 − ε)·(−log q_c) + ε·mean_k(−log q_k).

    Source: Szegedy et al. 2016, "Rethinking the Inception architecture". ε = 0 is cross
    entropy; ε must lie in [0, 1); default ε = 0.1.
    """

    def __init__(self, epsilon: float = 0.1) -> None:
        super().__init__()
        _require(0 <= epsilon < 1, "epsilon", epsilon, "in [0, 1)")
        self.epsilon = float(epsilon)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # PyTorch's label_smoothing is exactly this mixture with the uniform distribution.
        return F.cross_entropy(_upcast(logits), target, label_smoothing=self.epsilon)


@register_loss("minent")
class MinEnt(nn.Module):
    """MIN-ENT: L = −log q_c + λ·H(q), H(q) = −Σ_k q_k·log q_k.

    Source: Ibraheem 2025, arXiv 2501.13709. λ = 0 is cross entropy; default λ = 0.1.
    """

    def __init__(self, lam: float = 0.1) -> None:
        super().__init__()
        _require(lam >= 0, "lam", lam, ">= 0")
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

    def __init__(self, alpha: float = 10.0, beta: float = 0.1) -> None:
        super().__init__()
        _require(alpha >= 0, "alpha", alpha, ">= 0")
        _require(beta >= 0, "beta", beta, ">= 0")
        self.alpha, self.beta = float(alpha), float(beta)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(_upcast(logits), dim=1)
        ell = logp.gather(1, target[:, None]).squeeze(1)
        nce = ell / logp.sum(dim=1)  # (−log q_c)/(−Σ_k log q_k)
        rce = _RCE_LOG_FLOOR * _one_minus_q(ell)
        return (self.alpha * nce + self.beta * rce).mean()
