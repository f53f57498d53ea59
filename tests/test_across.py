"""The meta-regression across designed noise settings (analysis/across.py), by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.across import (
    NotIdentified,
    exchangeable,
    fit,
    meta_regression,
    noise_design,
)

KEYS = ["noise.kind", "noise.rate"]


def _cells(gains: list[float], se: list[float], candidate: str = "lace") -> pd.DataFrame:
    """The digits grid: none, symmetric 0.2/0.4/0.6, pairflip 0.2/0.4."""
    return pd.DataFrame(
        {
            "candidate": candidate,
            "noise.kind": ["none", "symmetric", "symmetric", "symmetric", "pairflip", "pairflip"],
            "noise.rate": [0.0, 0.2, 0.4, 0.6, 0.2, 0.4],
            "gain": gains, "se": se,
        }
    )  # fmt: skip


def test_design_shares_the_rate_zero_gain_and_is_full_rank() -> None:
    cells = _cells([0.0] * 6, [1.0] * 6)
    x, names = noise_design(cells)
    assert names == ["gain at rate 0", "slope per 0.1 of rate, pairflip",
                     "slope per 0.1 of rate, symmetric"]  # fmt: skip
    expected = [[1, 0, 0], [1, 0, 2], [1, 0, 4], [1, 0, 6], [1, 2, 0], [1, 4, 0]]
    assert x == pytest.approx(np.array(expected, dtype=float))
    assert np.linalg.matrix_rank(x) == 3


def test_exact_lines_are_recovered_with_no_heterogeneity() -> None:
    rate = np.array([0.0, 0.2, 0.4, 0.6, 0.2, 0.4])
    slope = np.array([0, 1.5, 1.5, 1.5, -1.0, -1.0])
    table, notes = meta_regression(_cells(list(0.3 + slope * rate / 0.1), [0.5] * 6), KEYS)
    assert notes == []
    est = table.set_index("term")["estimate"]
    assert est["gain at rate 0"] == pytest.approx(0.3)
    assert est["slope per 0.1 of rate, symmetric"] == pytest.approx(1.5)
    assert est["slope per 0.1 of rate, pairflip"] == pytest.approx(-1.0)
    assert set(table["tau2"]) == {0.0} and set(table["df"]) == {3.0}


def test_tau2_knapp_hartung_and_bonferroni_by_hand() -> None:
    gains, se = np.array([0.1, 1.0, 1.5, 4.0, 0.0, -0.5]), np.array([0.3, 0.4, 0.3, 0.5, 0.4, 0.3])
    cells = _cells(list(gains), list(se))
    table, _ = meta_regression(cells, KEYS, alpha=0.05)
    x, _ = noise_design(cells)
    v = se**2
    # method-of-moments τ² from the fixed-effect fit, written out
    w = np.diag(1 / v)
    inv = np.linalg.inv(x.T @ w @ x)
    resid = gains - x @ inv @ x.T @ w @ gains
    q_e = resid @ w @ resid
    p_mat = w - w @ x @ inv @ x.T @ w
    tau2 = max(0.0, (q_e - 3) / np.trace(p_mat))
    assert tau2 > 0 and table["tau2"].iloc[0] == pytest.approx(tau2)
    wr = np.diag(1 / (v + tau2))
    inv_r = np.linalg.inv(x.T @ wr @ x)
    beta = inv_r @ x.T @ wr @ gains
    r = gains - x @ beta
    q = (r @ wr @ r) / 3
    se_beta = np.sqrt(np.diag(inv_r) * max(1.0, q))
    assert table["estimate"].to_numpy() == pytest.approx(beta)
    assert table["se"].to_numpy() == pytest.approx(se_beta)
    half = stats.t.ppf(1 - 0.05 / (2 * 3), 3) * se_beta  # Bonferroni over the 3 coefficients
    assert table["ci_high"].to_numpy() == pytest.approx(beta + half)


def test_an_unidentified_design_is_refused_not_fitted() -> None:
    # no clean cell and one rate per kind: intercept and slope of a kind are collinear
    x = np.column_stack([np.ones(3), np.full(3, 2.0)])
    with pytest.raises(NotIdentified, match="rank 1 for 2 terms"):
        fit(np.zeros(3), np.ones(3), x, 0.95)
    with pytest.raises(NotIdentified, match="no residual"):
        fit(np.zeros(2), np.ones(2), np.column_stack([np.ones(2), [0.0, 1.0]]), 0.95)
    cells = pd.DataFrame({"candidate": "lace", "noise.kind": "symmetric", "noise.rate": [0.2, 0.4],
                          "gain": [1.0, 2.0], "se": [0.1, 0.1]})  # fmt: skip
    table, notes = meta_regression(cells, KEYS)
    assert table.empty and notes and "not fitted" in notes[0]


def test_which_axes_are_pooled() -> None:
    designed = _cells([0.0] * 6, [1.0] * 6)
    assert not exchangeable(designed, KEYS)
    datasets = pd.DataFrame({"candidate": "lace", "data.name": ["cifar100", "digits"],
                             "gain": [1.0, 2.0], "se": [0.1, 0.1]})  # fmt: skip
    assert exchangeable(datasets, ["data.name"])
    assert not exchangeable(datasets.iloc[:1], ["data.name"])  # one setting: nothing to pool
