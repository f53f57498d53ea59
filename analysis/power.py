"""Power of the paired t-test (statsmodels `TTestPower`, noncentral t): the smallest gain a
study of n pairs detects, and the pairs needed to detect a given gain."""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import stats


def minimum_detectable_effect(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest mean paired difference a two-sided one-sample t-test detects with `power`."""
    if n < 2 or not math.isfinite(sd):
        return math.inf
    if sd == 0:
        return 0.0
    return _detectable_d(n, alpha, power) * sd


@functools.lru_cache(maxsize=256)
def _detectable_d(n: int, alpha: float, power: float) -> float:
    """Standardised effect a paired t-test with n pairs detects (statsmodels `TTestPower`);
    cached: it depends on n alone, and a large study asks for it once per row."""
    from statsmodels.stats.power import TTestPower

    d = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power)
    # where its root finder falls back (e.g. n = 1500), statsmodels returns a 1-element array
    return float(np.asarray(d).reshape(-1)[0])


def paired_t_power(d_z: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test with n pairs at standardised effect d_z
    (noncentral t with n − 1 degrees of freedom and noncentrality d_z·√n)."""
    crit = stats.t.ppf(1 - alpha / 2, n - 1)
    nc = abs(d_z) * math.sqrt(n)
    return float(stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc))


def pairs_needed(
    d_z: float, alpha: float = 0.05, power: float = 0.8, limit: int = 100_000
) -> float:
    """Fewest pairs (≥ 2) for the paired t-test to detect |d_z| with `power`; inf if none."""
    if not math.isfinite(d_z) or d_z == 0:
        return math.inf
    n = 2
    while paired_t_power(d_z, n, alpha) < power:
        n = n * 2 if n < 64 else n + max(1, n // 8)
        if n > limit:
            return math.inf
    low = max(2, n // 2)  # refine: first n in (n/2, n] reaching the power
    while low < n:
        mid = (low + n) // 2
        if paired_t_power(d_z, mid, alpha) >= power:
            n = mid
        else:
            low = mid + 1
    return float(n)
