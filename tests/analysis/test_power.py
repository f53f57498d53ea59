"""Power of the paired t-test (analysis/power.py) and the intervals (analysis/intervals.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.intervals import bootstrap_ci
from analysis.power import minimum_detectable_effect


def test_bootstrap_ci_is_seeded_and_degenerate_samples_have_none() -> None:
    x = np.array([0.1, 0.4, -0.2, 0.3, 0.2, 0.0])
    assert bootstrap_ci(x, seed=1) == bootstrap_ci(x, seed=1)
    assert all(math.isnan(v) for v in bootstrap_ci(np.full(5, 0.3)))  # no zero-width interval


def test_mde_matches_the_noncentral_t_power() -> None:
    sd, n = 0.15, 5
    mde = minimum_detectable_effect(sd, n)
    delta = mde / sd * math.sqrt(n)
    crit = stats.t.ppf(0.975, n - 1)
    power = stats.nct.sf(crit, n - 1, delta) + stats.nct.cdf(-crit, n - 1, delta)
    assert power == pytest.approx(0.8, abs=1e-3)


def test_pairs_needed_matches_power() -> None:
    from analysis.power import paired_t_power, pairs_needed

    n = pairs_needed(1.0)
    assert paired_t_power(1.0, int(n)) >= 0.8 > paired_t_power(1.0, int(n) - 1)
    assert n == 10  # statsmodels' TTestPower gives 9.94
    assert pairs_needed(0.0) == math.inf and pairs_needed(50.0) == 2


def test_the_detectable_effect_is_a_number_where_statsmodels_falls_back() -> None:
    """At n = 1500 statsmodels' root finder falls back and returns an array (a 3,000-trial
    study's report failed on it); the effect is still d ≈ 2.8 / sqrt(n) (80 % power, 5 %)."""
    for n in (1000, 1500, 5000):
        d = minimum_detectable_effect(1.0, n)
        assert isinstance(d, float) and abs(d * n**0.5 / 2.80 - 1) < 0.01
