from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from study.errors import ConfigError
from study.losses import create_loss, list_losses


def _reference(name: str, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Float64 formulas, written independently of the implementation."""
    q = torch.softmax(logits.double(), dim=1)
    qc = q[torch.arange(len(target)), target]
    if name == "ce":
        return (-qc.log()).mean()
    if name == "lace":
        return (-(1 - qc) * qc.log()).mean()
    raise KeyError(name)


def test_registry_lists_the_paper_pair() -> None:
    assert {"ce", "lace"} <= set(list_losses())


@pytest.mark.parametrize("name", ["ce", "lace"])
def test_value_matches_float64_reference(name: str) -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 100, generator=gen) * 3
    target = torch.randint(0, 100, (64,), generator=gen)
    got = create_loss(name)(logits, target)
    assert got.item() == pytest.approx(_reference(name, logits, target).item(), rel=1e-5)


def test_lace_gradient_is_ce_gradient_scaled_by_g() -> None:
    gen = torch.Generator().manual_seed(1)
    logits = (torch.randn(8, 10, generator=gen, dtype=torch.float64) * 2).requires_grad_()
    target = torch.randint(0, 10, (8,), generator=gen)
    create_loss("lace")(logits, target).backward()
    q = torch.softmax(logits.detach(), 1)
    qc = q[torch.arange(8), target]
    g = (1 - qc) - qc * qc.log()
    expected = g[:, None] * (q - F.one_hot(target, 10)) / 8
    assert logits.grad is not None
    assert torch.allclose(logits.grad, expected, atol=1e-6)


@pytest.mark.parametrize("name", ["ce", "lace"])
@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_finite_at_extreme_logits(name: str, scale: float) -> None:
    logits = torch.zeros(4, 10)
    logits[:, 3] = scale  # q_c → 1 for target 3, q_c → 0 for the others
    logits.requires_grad_()
    loss = create_loss(name)(logits, torch.tensor([3, 3, 0, 7]))
    loss.backward()
    assert torch.isfinite(loss) and logits.grad is not None and torch.isfinite(logits.grad).all()


def test_unknown_loss_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"known: .*ce.*lace"):
        create_loss("adaptive")
