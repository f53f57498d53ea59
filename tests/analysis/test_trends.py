"""Trend contrasts in the noise rate (analysis/trends.py), by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.trends import noise_trends

KEYS = ["noise.kind", "noise.rate"]


def _table(gains: list[float], se: float = 0.5) -> pd.DataFrame:
    kinds = ["none", "symmetric", "symmetric", "pairflip"]
    rates = [0.0, 0.2, 0.4, 0.2]
    return pd.DataFrame({"candidate": "lace", "noise.kind": kinds, "noise.rate": rates,
                         "gain": gains, "se": se, "df": 10.0})  # fmt: skip


def test_the_slope_per_kind_is_the_least_squares_contrast_with_the_clean_row() -> None:
    table = _table([0.0, 1.0, 2.0, -1.0])
    out = noise_trends(table, np.eye(4), KEYS).set_index("kind")
    # symmetric: rates 0, 0.2, 0.4 with gains 0, 1, 2: 0.5 per 0.1 of rate
    assert out.loc["symmetric", "slope"] == pytest.approx(0.5)
    # weights 0.1·(x − x̄)/Σ(x − x̄)² = (−0.25, 0, 0.25): se = 0.5·√(2·0.25²)
    assert out.loc["symmetric", "se"] == pytest.approx(0.5 * np.sqrt(2 * 0.25**2))
    assert out.loc["pairflip", "slope"] == pytest.approx(-0.5)  # 0 → −1 over 0.2
    sym = out.loc["symmetric"]
    assert sym["ci_low"] < 0.5 < sym["ci_high"] and sym["rates"] == "0, 0.2, 0.4"
    # correlated rows (a shared reference): se² = 0.5²·(w₀² + w₂² + 2·w₀·w₂·ρ), ρ = ½
    shared = np.eye(4)
    shared[0, 2] = shared[2, 0] = 0.5
    assert noise_trends(table, shared, KEYS).set_index("kind").loc["symmetric", "se"] == (
        pytest.approx(0.5 * 0.25)
    )


def test_no_trend_without_a_varying_rate() -> None:
    table = _table([0.0, 1.0, 2.0, -1.0]).assign(**{"noise.rate": 0.2})
    assert noise_trends(table, np.eye(4), KEYS).empty
