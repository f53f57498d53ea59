"""Every registered loss against an independent float64 reference of its published formula."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from study.errors import ConfigError
from study.training.losses import create_loss, list_losses

T = torch.Tensor


def _parts(logits: T, target: T) -> tuple[T, T, T]:
    z = logits.double()
    q = torch.exp(z - torch.logsumexp(z, 1, keepdim=True))
    y = F.one_hot(target, z.shape[1]).double()
    return q, y, (q * y).sum(1)


def ref_ce(z: T, t: T) -> T:
    _, _, qc = _parts(z, t)
    return -qc.log()


def ref_focal(z: T, t: T, gamma: float = 2.0) -> T:
    _, _, qc = _parts(z, t)
    return -((1 - qc) ** gamma) * qc.log()


def ref_lace(z: T, t: T) -> T:
    _, _, qc = _parts(z, t)
    return -(1 - qc) * qc.log()


def ref_poly1(z: T, t: T, epsilon: float = 2.0) -> T:
    _, _, qc = _parts(z, t)
    return -qc.log() + epsilon * (1 - qc)


def ref_label_smoothing(z: T, t: T, epsilon: float = 0.1) -> T:
    q, _, qc = _parts(z, t)
    return (1 - epsilon) * -qc.log() + epsilon * (-q.log()).mean(1)


def ref_minent(z: T, t: T, lam: float = 0.1) -> T:
    q, _, qc = _parts(z, t)
    return -qc.log() + lam * -(q * q.log()).sum(1)


def ref_mixent(z: T, t: T, lam: float = 1.0, eta: float = 1e-6) -> T:
    q, y, qc = _parts(z, t)
    return -qc.log() + lam * -(q * torch.clamp(y, min=eta).log()).sum(1)


def ref_gce(z: T, t: T, q: float = 0.7) -> T:
    _, _, qc = _parts(z, t)
    return (1 - qc**q) / q


def _rce(z: T, t: T) -> T:
    q, y, _ = _parts(z, t)
    return -(q * torch.clamp(y, min=1e-4).log()).sum(1)


def ref_sce(z: T, t: T, alpha: float = 6.0, beta: float = 0.1) -> T:
    _, _, qc = _parts(z, t)
    return alpha * -qc.log() + beta * _rce(z, t)


def ref_nce_rce(z: T, t: T, alpha: float = 10.0, beta: float = 0.1) -> T:
    q, _, qc = _parts(z, t)
    return alpha * qc.log() / q.log().sum(1) + beta * _rce(z, t)


REFERENCES: dict[str, Callable[..., T]] = {
    "ce": ref_ce, "lace": ref_lace, "focal": ref_focal, "poly1": ref_poly1,
    "label_smoothing": ref_label_smoothing, "minent": ref_minent, "mixent": ref_mixent,
    "gce": ref_gce, "sce": ref_sce, "nce_rce": ref_nce_rce,
}  # fmt: skip
OTHER_SETTINGS: dict[str, dict[str, float]] = {
    "focal": {"gamma": 0.5}, "poly1": {"epsilon": -0.5}, "label_smoothing": {"epsilon": 0.3},
    "minent": {"lam": 0.7}, "mixent": {"lam": 0.3, "eta": 1e-3}, "gce": {"q": 0.3},
    "sce": {"alpha": 0.1, "beta": 1.0}, "nce_rce": {"alpha": 1.0, "beta": 1.0},
}  # fmt: skip
CASES = [(n, {}) for n in REFERENCES] + list(OTHER_SETTINGS.items())
IDS = [f"{n}-{'-'.join(f'{k}{v}' for k, v in p.items()) or 'default'}" for n, p in CASES]


def _batch(n: int = 16, k: int = 10, seed: int = 0, scale: float = 3.0) -> tuple[T, T]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=gen, dtype=torch.float64) * scale, torch.randint(
        0, k, (n,), generator=gen
    )


def test_registry_has_exactly_the_family() -> None:
    assert set(list_losses()) == set(REFERENCES)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_value_and_gradient_match_the_formula(name: str, params: dict[str, float]) -> None:
    logits, target = _batch()
    mine = logits.clone().float().requires_grad_()
    loss = create_loss(name, **params)(mine, target)
    loss.backward()
    ref_in = logits.clone().requires_grad_()
    ref = REFERENCES[name](ref_in, target, **params).mean()
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-6)
    assert mine.grad is not None and ref_in.grad is not None
    assert torch.allclose(mine.grad.double(), ref_in.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_gradcheck_float64(name: str, params: dict[str, float]) -> None:
    logits, target = _batch(n=4, k=5, seed=1, scale=1.0)
    loss_fn = create_loss(name, **params)
    assert torch.autograd.gradcheck(
        lambda z: loss_fn(z, target), (logits.requires_grad_(),), eps=1e-6, atol=1e-5
    )


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_invariant_to_a_constant_added_to_the_logits(name: str) -> None:
    logits, target = _batch()
    loss_fn = create_loss(name)
    assert loss_fn(logits + 7.5, target).item() == pytest.approx(
        loss_fn(logits, target).item(), rel=1e-9
    )


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("focal", {"gamma": 0.0}),
        ("poly1", {"epsilon": 0.0}),
        ("label_smoothing", {"epsilon": 0.0}),
        ("minent", {"lam": 0.0}),
        ("mixent", {"lam": 0.0}),
        ("sce", {"alpha": 1.0, "beta": 0.0}),
    ],
)
def test_settings_that_equal_cross_entropy(name: str, params: dict[str, float]) -> None:
    logits, target = _batch()
    a, b = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    la, lb = create_loss(name, **params)(a, target), create_loss("ce")(b, target)
    la.backward()
    lb.backward()
    assert la.item() == pytest.approx(lb.item(), rel=1e-12)
    assert a.grad is not None and b.grad is not None and torch.allclose(a.grad, b.grad)


def test_focal_gamma_one_is_lace() -> None:
    logits, target = _batch()
    a, b = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    la, lb = create_loss("focal", gamma=1.0)(a, target), create_loss("lace")(b, target)
    la.backward()
    lb.backward()
    assert la.item() == pytest.approx(lb.item(), rel=1e-12)
    assert a.grad is not None and b.grad is not None and torch.allclose(a.grad, b.grad)


def test_gce_small_q_approaches_ce() -> None:
    logits, target = _batch()
    gce = create_loss("gce", q=1e-6)(logits, target).item()
    assert gce == pytest.approx(create_loss("ce")(logits, target).item(), rel=1e-4)


def test_lace_gradient_is_ce_gradient_scaled_by_g() -> None:
    logits, target = _batch(n=8)
    logits.requires_grad_()
    create_loss("lace")(logits, target).backward()
    q = torch.softmax(logits.detach(), 1)
    qc = q[torch.arange(8), target]
    g = (1 - qc) - qc * qc.log()
    expected = g[:, None] * (q - F.one_hot(target, 10)) / 8
    assert logits.grad is not None and torch.allclose(logits.grad, expected, atol=1e-12)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_finite_at_extreme_logits(name: str, params: dict[str, float], dtype: torch.dtype) -> None:
    logits = torch.zeros(6, 10)
    logits[:, 3] = 1e4  # q_c → 1 for target 3, q_c → 0 for the others
    logits[4] = -1e4
    logits[5, 7] = 1e4  # ties at the top
    logits = logits.to(dtype).requires_grad_()
    target = torch.tensor([3, 3, 0, 7, 1, 7])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        loss = create_loss(name, **params)(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and logits.grad is not None
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize(
    ("name", "params", "key"),
    [
        ("focal", {"gamma": -1.0}, "gamma"),
        ("gce", {"q": 0.0}, "q"),
        ("gce", {"q": 1.5}, "q"),
        ("label_smoothing", {"epsilon": 1.0}, "epsilon"),
        ("label_smoothing", {"epsilon": -0.1}, "epsilon"),
        ("sce", {"beta": -0.1}, "beta"),
        ("nce_rce", {"alpha": -1.0}, "alpha"),
        ("minent", {"lam": -0.1}, "lam"),
        ("mixent", {"eta": 0.0}, "eta"),
        ("poly1", {"epsilon": -2.0}, "epsilon"),
    ],
)
def test_invalid_hyperparameters_are_rejected(name: str, params: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"loss\.{key}: invalid value"):
        create_loss(name, **params)


def test_unknown_loss_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"known: .*ce.*lace"):
        create_loss("adaptive")


def test_mixent_weight_is_minus_log_eta() -> None:
    logits, target = _batch()
    ce = create_loss("ce")(logits, target)
    mix = create_loss("mixent", lam=1.0, eta=math.exp(-2.0))(logits, target)
    _, _, qc = _parts(logits, target)
    assert (mix - ce).item() == pytest.approx(2.0 * (1 - qc).mean().item(), rel=1e-9)


def test_lace_upweights_examples_below_one_over_e() -> None:
    # Two samples of K = 2 with q_c = 0.2 (< 1/e) and q_c = 0.6 (> 1/e).
    qc = torch.tensor([0.2, 0.6], dtype=torch.float64)
    logits = torch.stack([torch.zeros(2), torch.log((1 - qc) / qc)], 1)  # target class 0
    target = torch.zeros(2, dtype=torch.long)
    grads = []
    for name in ("ce", "lace"):
        z = logits.clone().requires_grad_()
        create_loss(name)(z, target).backward()
        assert z.grad is not None
        grads.append(z.grad.abs()[:, 0])
    ratio = grads[1] / grads[0]
    expected = (1 - qc) - qc * qc.log()
    assert torch.allclose(ratio, expected) and ratio[0] > 1 > ratio[1]
