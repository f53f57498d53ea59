"""L∞ adversarial attacks for the optional final robustness metrics.

Attacks act in pixel space x ∈ [0, 1] (before per-pixel mean subtraction), as in Madry et al.
2018: FGSM (Goodfellow et al. 2015) x' = clip(x + ε·sign(∇ₓCE)); PGD: a uniform random start
in the ε-ball, then `steps` steps of size `step` with projection onto the ball and [0, 1].
The attacked loss is cross entropy against the clean test label, whatever loss trained the
model, so the figure is comparable across losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _grad_sign(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor
) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x - mean), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad.sign()


def fgsm(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, eps: float
) -> torch.Tensor:
    return (x + eps * _grad_sign(model, x, y, mean)).clamp(0.0, 1.0).detach()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    mean: torch.Tensor,
    eps: float,
    step: float,
    steps: int,
    gen: torch.Generator,
) -> torch.Tensor:
    noise = torch.rand(x.shape, generator=gen, device=gen.device).to(x.device)
    adv = (x + (2 * noise - 1) * eps).clamp(0.0, 1.0)
    for _ in range(steps):
        adv = adv + step * _grad_sign(model, adv, y, mean)
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0.0, 1.0).detach()
    return adv


def adversarial_errors(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    mean: torch.Tensor,
    n_images: int,
    seed: int,
    batch_size: int,
    eps: float = 8 / 255,
    step: float = 2 / 255,
    steps: int = 10,
) -> dict[str, float]:
    """Top-1 error (percent) under FGSM and PGD on a seeded subset of `n_images` test images."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(labels), generator=gen)[: min(n_images, len(labels))]
    pick = pick.to(images.device)
    wrong = {
        "fgsm": torch.zeros((), device=images.device),
        "pgd": torch.zeros((), device=images.device),
    }
    for start in range(0, len(pick), batch_size):
        idx = pick[start : start + batch_size]
        x, y = images[idx].float() / 255.0, labels[idx]
        attacked = {
            "fgsm": fgsm(model, x, y, mean, eps),
            "pgd": pgd(model, x, y, mean, eps, step, steps, gen),
        }
        with torch.no_grad():
            for name, adv in attacked.items():
                wrong[name] += (model(adv - mean).argmax(1) != y).sum()
    return {f"{k}_top1_error": 100.0 * float(v) / len(pick) for k, v in wrong.items()}
