"""Random-effects pooling over exchangeable cells (analysis/meta.py), by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.meta import meta_analysis, pool
from analysis.stats import compare_losses
from tests.stats_data import trials as _trials


def _comparisons(gains: np.ndarray, var: np.ndarray, candidate: str = "lace") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "candidate": candidate, "gain": gains, "se": np.sqrt(var),
            "ci_low": [0.1, -0.1, 0.2][: len(gains)], "ci_high": 3.0, "paired": True,
            "prob_improvement": [0.8, 0.6, 1.0][: len(gains)], "n_pairs": 5,
        }
    )  # fmt: skip


def test_meta_analysis_by_hand() -> None:
    """DerSimonian–Laird on three cells, HKSJ with max(1, q), and the prediction interval
    with the HKSJ variance, from the textbook formulas."""
    gains, var = np.array([1.0, 2.0, 0.5]), np.array([0.1, 0.2, 0.1])
    row = meta_analysis(_comparisons(gains, var)).iloc[0]
    w = 1 / var  # 10, 5, 10: fixed-effect mean 1.0, Q = 5·1² + 10·0.5² = 7.5
    q = float(np.sum(w * (gains - np.sum(w * gains) / w.sum()) ** 2))
    tau2 = (q - 2) / (w.sum() - np.sum(w**2) / w.sum())  # (7.5 − 2) / 16
    w_re = 1 / (var + tau2)
    mu = np.sum(w_re * gains) / w_re.sum()
    q_hksj = np.sum(w_re * (gains - mu) ** 2) / 2
    var_mu = max(1.0, q_hksj) / w_re.sum()
    assert q == pytest.approx(7.5) and tau2 == pytest.approx(0.34375)
    assert row["tau2"] == pytest.approx(tau2) and row["i2"] == pytest.approx(5.5 / 7.5)
    assert row["gain"] == pytest.approx(mu) and row["se"] == pytest.approx(math.sqrt(var_mu))
    half = stats.t.ppf(0.975, 2) * math.sqrt(var_mu)  # one candidate: no adjustment
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((mu - half, mu + half))
    half = stats.t.ppf(0.975, 1) * math.sqrt(tau2 + var_mu)  # prediction: t with k − 2 df
    assert (row["pred_low"], row["pred_high"]) == pytest.approx((mu - half, mu + half))
    assert row["k_cells"] == 3 and row["share_cells_ci_above_0"] == pytest.approx(2 / 3)
    assert row["n_pairs"] == 15 and row["prob_improvement"] == pytest.approx(12 / 15)
    assert row["prob_low"] < 0.8 < row["prob_high"]


def test_hksj_is_truncated_at_q_below_one() -> None:
    """Three nearly equal gains: q < 1, so the variance stays 1 / Σw (not shrunk by q)."""
    gains, var = np.array([1.0, 1.01, 0.99]), np.array([0.1, 0.1, 0.1])
    out = pool(gains, var, 0.05)
    assert out["tau2"] == 0.0
    assert out["se"] == pytest.approx(math.sqrt(1 / np.sum(1 / var)))


def test_pooled_intervals_are_adjusted_over_candidates_and_honour_alpha() -> None:
    gains, var = np.array([1.0, 2.0, 0.5]), np.array([0.1, 0.2, 0.1])
    two = pd.concat([_comparisons(gains, var, "lace"), _comparisons(gains, var, "focal")])
    row = meta_analysis(two, alpha=0.1).set_index("candidate").loc["lace"]
    half = stats.t.ppf(1 - 0.1 / 4, 2) * row["se"]  # Bonferroni over 2 candidates at α 0.1
    assert row["ci_high"] - row["gain"] == pytest.approx(half)
    pred = stats.t.ppf(0.95, 1) * math.sqrt(row["tau2"] + row["se"] ** 2)
    assert row["pred_high"] - row["gain"] == pytest.approx(pred)


def test_meta_analysis_of_one_cell_and_of_identical_cells() -> None:
    one = compare_losses(_trials([1, 2, 3, 4], [0.5, 1.4, 2.6, 3.5]), "top5_error")
    row = meta_analysis(one).iloc[0]
    assert row["k_cells"] == 1 and math.isnan(row["gain"])  # one cell: nothing to pool
    frames = [_trials([1, 2, 3, 4], [0.5, 1.4, 2.6, 3.5], {"noise.rate": r}) for r in (0.2, 0.4)]
    two = compare_losses(pd.concat(frames), "top5_error", setting_keys=["noise.rate"])
    row = meta_analysis(two).iloc[0]  # two identical cells: no heterogeneity
    assert row["tau2"] == 0.0 and row["i2"] == 0.0 and row["gain"] == pytest.approx(0.5)
