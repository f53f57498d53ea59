"""The gain model and the replication table (analysis/effects.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.effects import gain_model, paired_differences, replication

from .stats_data import trials as _trials


def test_gain_model_recovers_a_dependence_on_noise_rate() -> None:
    rng = np.random.default_rng(3)
    frames = []
    for rate in (0.0, 0.2, 0.4, 0.6):
        ref = rng.normal(10, 1, 8)
        cand = ref - (1.0 * rate) + rng.normal(0, 0.05, 8)  # gain grows with the rate
        frames.append(
            _trials(list(ref), list(cand), {"noise.rate": rate, "noise.kind": "symmetric"})
        )
    trials = pd.concat(frames)
    pairs = paired_differences(trials, "top5_error", cell_keys=["noise.kind", "noise.rate"])
    assert len(pairs) == 32
    model = gain_model(pairs, ["noise.kind", "noise.rate"])
    slope = model[model["term"] == "noise_rate"].iloc[0]
    assert slope["coef"] == pytest.approx(1.0, abs=0.1) and slope["p"] < 1e-6


def test_replication_table() -> None:
    trials = _trials([6.7, 6.8, 6.6, 6.7, 6.7], [6.2, 6.3, 6.1, 6.25, 6.2]).rename(
        columns={"top5_error": "final_paper_top5_error"}
    )
    table = replication(trials).set_index("loss")
    assert table.loc["ce", "n"] == 5 and table.loc["ce", "mean"] == pytest.approx(6.7)
    assert bool(table.loc["ce", "published_in_ci"]) and bool(table.loc["lace", "published_in_ci"])
