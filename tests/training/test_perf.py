"""The fast path against the reference path, on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from study.tools.bench import count_macs
from study.tools.cli import main
from study.training.augment import reference_batches, train_batches
from study.training.config import DataConfig, TrialConfig
from study.training.models import resnet18
from study.training.runtime import Runtime
from study.training.trial import run_trial
from tests.conftest import tiny_dict


def test_both_paths_draw_the_same_batches() -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (250, 3, 8, 8), generator=gen, dtype=torch.uint8)
    labels = torch.arange(250)
    mean = torch.rand(3, 8, 8)
    data = DataConfig(crop_padding=2, flip=True, rotation=10.0, perspective=0.5)
    fast = list(train_batches(images, labels, 64, torch.Generator().manual_seed(5), mean, data))
    ref = list(
        reference_batches(
            images, labels, 64, torch.Generator().manual_seed(5), mean, data, torch.device("cpu")
        )
    )
    assert len(fast) == len(ref) == 4
    for (xf, yf), (xr, yr) in zip(fast, ref, strict=True):
        assert torch.equal(yf, yr) and torch.equal(xf, xr)


def test_short_runs_train_identically_on_the_cpu(fake_cifar_root: Path) -> None:
    metrics = {}
    for path in ("fast", "reference"):
        cfg = TrialConfig.from_dict(tiny_dict(fake_cifar_root, perf={"path": path}))
        metrics[path] = run_trial(cfg, lambda m, s, a: None)
    assert metrics["fast"] == metrics["reference"]


def test_runtime_defaults_on_the_cpu() -> None:
    rt = Runtime.from_config(TrialConfig.from_dict({"device": "cpu"}))
    assert rt.fast and not rt.amp and not rt.channels_last
    assert Runtime.from_config(TrialConfig.from_dict({"perf": {"path": "reference"}})).fast is False
    forced = Runtime.from_config(TrialConfig.from_dict({"device": "cpu", "perf": {"amp": "bf16"}}))
    assert forced.amp


def test_bf16_channels_last_path_trains_on_the_cpu(fake_cifar_root: Path) -> None:
    cfg = TrialConfig.from_dict(
        tiny_dict(fake_cifar_root, perf={"amp": "bf16", "channels_last": "on"})
    )
    final = run_trial(cfg, lambda m, s, a: None)
    assert final["final_train_loss"] == final["final_train_loss"]  # finite, not NaN


def test_mac_count_of_the_paper_model() -> None:
    assert count_macs(resnet18(100, 64), (3, 32, 32)) == pytest.approx(0.5555e9, rel=1e-3)


@pytest.mark.e2e
def test_bench_train_quick_on_the_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "train", "--device", "cpu", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "| reference |" in out and "| fast |" in out and "matmul peak" in out
    assert "| 2 |" in out  # two trials packed
