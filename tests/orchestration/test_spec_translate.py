"""The translation to Optuna: the paper's point first, and seeded, reproducible suggestions."""

from __future__ import annotations

from typing import Any

import pytest

from study.orchestration.spec import spec_from_dict
from study.orchestration.spec.translate import build_search, default_point

RAW: dict[str, Any] = {
    "name": "s",
    "base": {"data": {"name": "digits", "val_fraction": 0.2}, "loss": {"name": "focal"}},
    "grid": {"seed": [0]},
    "search": {
        "params": {
            "optim.lr": {"type": "logfloat", "low": 0.01, "high": 0.5},
            "optim.momentum": {"type": "float", "low": 0.8, "high": 0.95},
            "schedule.batch_size": {"type": "categorical", "choices": [50, 100, 200]},
        },
        "per_loss": {"focal": {"loss.gamma": {"type": "float", "low": 0.0, "high": 5.0}}},
        "sampler": {"name": "tpe", "seed": 3},
        "num_samples": 8,
    },
}


def _suggestions(seed: int, n: int = 8) -> list[dict[str, Any]]:
    """Ask, then tell a deterministic objective, one trial at a time."""
    raw = {**RAW, "search": {**RAW["search"], "sampler": {"name": "tpe", "seed": seed}}}
    spec = spec_from_dict(raw)
    assert spec.search is not None
    searcher = build_search(spec.search, spec.base)
    out = []
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        out.append(config)
        value = abs(config["optim.lr"] - 0.07) + abs(config["loss.gamma"] - 1.0) / 10
        searcher.on_trial_complete(f"t{i}", {"val_top1_error": value})
    return out


def test_first_trial_is_the_base_configuration() -> None:
    first = _suggestions(0, n=1)[0]
    assert first == {
        "optim.lr": 0.1,
        "optim.momentum": 0.9,
        "schedule.batch_size": 100,
        "loss.gamma": 2.0,  # focal's own default: the base sets no gamma
    }


def test_same_sampler_seed_same_suggestions() -> None:
    assert _suggestions(3) == _suggestions(3)
    assert _suggestions(3)[1:] != _suggestions(4)[1:]


def test_default_point_reads_loss_defaults() -> None:
    spec = spec_from_dict(RAW)
    assert default_point(spec.base, ["loss.gamma", "optim.lr"]) == {
        "loss.gamma": 2.0,
        "optim.lr": 0.1,
    }


def test_explicit_points_to_evaluate() -> None:
    raw = {**RAW, "search": {**RAW["search"], "points_to_evaluate": [{"optim.lr": 0.2}]}}
    spec = spec_from_dict(raw)
    assert spec.search is not None
    first = build_search(spec.search, spec.base).suggest("t0")
    assert first["optim.lr"] == pytest.approx(0.2)
