from __future__ import annotations

import torch

from study.training.attacks import fgsm, pgd


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))


def test_fgsm_moves_each_pixel_by_eps_within_the_image_range() -> None:
    model = _model()
    x = torch.full((4, 3, 2, 2), 0.5)
    y = torch.tensor([0, 1, 2, 0])
    adv = fgsm(model, x, y, torch.zeros(3, 2, 2), eps=8 / 255)
    assert torch.allclose((adv - x).abs(), torch.full_like(x, 8 / 255))
    clipped = fgsm(model, torch.ones(4, 3, 2, 2), y, torch.zeros(3, 2, 2), eps=0.1)
    assert clipped.max() <= 1.0


def test_pgd_stays_in_the_ball_and_increases_the_loss() -> None:
    model = _model()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 2, 2, generator=gen)
    y = torch.randint(0, 3, (16,), generator=gen)
    mean = torch.zeros(3, 2, 2)
    adv = pgd(model, x, y, mean, eps=8 / 255, step=2 / 255, steps=10, gen=gen)
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    ce = torch.nn.functional.cross_entropy
    assert ce(model(adv), y) > ce(model(x), y)
