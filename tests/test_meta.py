"""Random-effects pooling over cells (analysis/meta.py), by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.meta import meta_analysis
from analysis.stats import compare_losses

from .stats_data import trials as _trials


def test_meta_analysis_by_hand() -> None:
    """DerSimonian–Laird on three cells, computed from the textbook formulas."""
    gains, var = np.array([1.0, 2.0, 0.5]), np.array([0.1, 0.2, 0.1])
    comparisons = pd.DataFrame(
        {
            "candidate": "lace", "gain": gains, "se": np.sqrt(var),
            "ci_low": [0.1, -0.1, 0.2], "ci_high": [2.0, 3.0, 1.0], "paired": True,
            "prob_improvement": [0.8, 0.6, 1.0], "n_pairs": 5,
        }
    )  # fmt: skip
    row = meta_analysis(comparisons).iloc[0]
    w = 1 / var  # 10, 5, 10: fixed-effect mean 1.0, Q = 5·1² + 10·0.5² = 7.5
    q = float(np.sum(w * (gains - np.sum(w * gains) / w.sum()) ** 2))
    tau2 = (q - 2) / (w.sum() - np.sum(w**2) / w.sum())  # (7.5 − 2) / 16
    w_re = 1 / (var + tau2)
    mu, se = np.sum(w_re * gains) / w_re.sum(), 1 / math.sqrt(w_re.sum())
    assert q == pytest.approx(7.5) and tau2 == pytest.approx(0.34375)
    assert row["tau2"] == pytest.approx(tau2) and row["i2"] == pytest.approx(5.5 / 7.5)
    assert row["gain"] == pytest.approx(mu) and row["se"] == pytest.approx(se)
    half = stats.t.ppf(0.975, 1) * math.sqrt(tau2 + se**2)  # prediction: t with k − 2 df
    assert (row["pred_low"], row["pred_high"]) == pytest.approx((mu - half, mu + half))
    hksj = math.sqrt(np.sum(w_re * (gains - mu) ** 2) / (2 * w_re.sum()))
    assert row["ci_high"] - row["gain"] == pytest.approx(stats.t.ppf(0.975, 2) * hksj)
    assert row["k_cells"] == 3 and row["share_cells_ci_above_0"] == pytest.approx(2 / 3)
    assert row["n_pairs"] == 15 and row["prob_improvement"] == pytest.approx(12 / 15)
    assert row["prob_low"] < 0.8 < row["prob_high"]


def test_meta_analysis_of_one_cell_and_of_identical_cells() -> None:
    one = compare_losses(_trials([1, 2, 3, 4], [0.5, 1.4, 2.6, 3.5]), "top5_error")
    row = meta_analysis(one).iloc[0]
    assert row["k_cells"] == 1 and row["gain"] == pytest.approx(one.iloc[0]["gain"])
    assert math.isnan(row["tau2"]) and math.isnan(row["pred_low"])
    frames = [_trials([1, 2, 3, 4], [0.5, 1.4, 2.6, 3.5], {"noise.rate": r}) for r in (0.2, 0.4)]
    two = compare_losses(pd.concat(frames), "top5_error", cell_keys=["noise.rate"])
    row = meta_analysis(two).iloc[0]  # two identical cells: no heterogeneity
    assert row["tau2"] == 0.0 and row["i2"] == 0.0 and row["gain"] == pytest.approx(0.5)
