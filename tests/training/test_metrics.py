from __future__ import annotations

import math

import pytest
import torch

from study.training.metrics import EvalAccumulator


def test_metrics_by_hand() -> None:
    # 2 samples, 6 classes. Sample 0: correct and confident; sample 1: label is 3rd choice.
    logits = torch.log(
        torch.tensor([[0.9, 0.02, 0.02, 0.02, 0.02, 0.02], [0.5, 0.3, 0.1, 0.05, 0.03, 0.02]])
    )
    labels = torch.tensor([0, 2])
    acc = EvalAccumulator(num_classes=6, device=torch.device("cpu"))
    acc.update(logits[:1], labels[:1])  # two updates: accumulation across batches
    acc.update(logits[1:], labels[1:])
    m = acc.compute()
    assert m["top1_error"] == pytest.approx(50.0)
    assert m["top5_error"] == pytest.approx(0.0)
    assert m["nll"] == pytest.approx((-math.log(0.9) - math.log(0.1)) / 2, rel=1e-5)
    # ECE: bin of 0.9 holds sample 0 (acc 1, conf 0.9); bin of 0.5 holds sample 1 (acc 0)
    assert m["ece"] == pytest.approx(100 * (0.5 * 0.1 + 0.5 * 0.5), rel=1e-5)
    brier0 = 0.1**2 + 5 * 0.02**2
    brier1 = 0.5**2 + 0.3**2 + 0.9**2 + 0.05**2 + 0.03**2 + 0.02**2
    assert m["brier"] == pytest.approx((brier0 + brier1) / 2, rel=1e-5)


def test_memorization_by_hand() -> None:
    from study.training.metrics import MemorizationAccumulator

    clean = torch.tensor([0, 1, 2, 3, 4, 0])
    noisy = torch.tensor([0, 1, 2, 1, 0, 2])  # samples 3, 4, 5 flipped
    pred = torch.tensor([0, 1, 0, 1, 4, 1])  # kept: 2 of 3 right; flipped: 3 memorised, 4 fixed
    acc = MemorizationAccumulator(torch.device("cpu"))
    acc.update(torch.nn.functional.one_hot(pred, 5).float(), noisy, clean)
    m = acc.compute()
    assert m["clean_acc"] == pytest.approx(200 / 3)
    assert m["noisy_memorized"] == pytest.approx(100 / 3)
    assert m["noisy_corrected"] == pytest.approx(100 / 3)


def test_memorization_without_noise_omits_noisy_shares() -> None:
    from study.training.metrics import MemorizationAccumulator

    labels = torch.tensor([0, 1])
    acc = MemorizationAccumulator(torch.device("cpu"))
    acc.update(torch.eye(2), labels, labels)
    assert acc.compute() == {"clean_acc": 100.0}
