"""Confidence intervals of a mean gain.

* `t_interval`: mean ± t_{df, 1−a/2}·se, the paired t interval (df = n − 1) or Welch's
  (Welch–Satterthwaite df), at any two-sided level a; vectorised (scipy.stats.t). With
  a = α/m it is the Bonferroni simultaneous interval of a family of m rows.
* `mean_ci`: one row's unadjusted (1 − α) interval by method: `t` (exact for normal
  differences, nominal at n = 3–10), or scipy.stats.bootstrap's BCa / percentile intervals
  (seeded), which undercover at small n (docs/analysis.md).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

CI_METHODS = ("t", "bca", "percentile")


ArrayLike = float | np.ndarray


def t_interval(
    mean: ArrayLike, se: ArrayLike, df: ArrayLike, level: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided `level` (e.g. 0.95) t intervals mean ± t_{df, (1 + level)/2}·se, element-wise.
    A row without a positive finite se or df gives (nan, nan): no interval, never a point."""
    m, s, d = (np.asarray(v, dtype=float) for v in (mean, se, df))
    ok = np.isfinite(m) & np.isfinite(s) & (s > 0) & np.isfinite(d) & (d > 0)
    with np.errstate(invalid="ignore"):
        half = stats.t.ppf((1 + np.asarray(level, dtype=float)) / 2, np.where(ok, d, 1.0)) * s
    low = np.where(ok, m - half, math.nan)
    high = np.where(ok, m + half, math.nan)
    return low, high


def mean_ci(
    diffs: np.ndarray,
    alpha: float = 0.05,
    method: str = "t",
    seed: int = 0,
    n_resamples: int = 9999,
) -> tuple[float, float]:
    """(1 − α) CI of the mean of `diffs` (shape (n,)): `t` = x̄ ± t_{n−1, 1−α/2}·s/√n,
    `bca` / `percentile` = bootstrap. Fewer than 2 values, or no spread, give (nan, nan): a
    zero-width interval would claim certainty that n identical differences do not give."""
    if method not in CI_METHODS:
        raise ValueError(f"ci_method {method!r}: allowed {', '.join(CI_METHODS)}")
    diffs = np.asarray(diffs, dtype=float)
    if len(diffs) < 2 or np.ptp(diffs) == 0:
        return math.nan, math.nan
    if method == "t":
        se = float(np.std(diffs, ddof=1)) / math.sqrt(len(diffs))
        low, high = t_interval(float(np.mean(diffs)), se, float(len(diffs) - 1), 1 - alpha)
        return float(low), float(high)
    return bootstrap_ci(diffs, alpha, seed, n_resamples, method)


def bootstrap_ci(
    diffs: np.ndarray,
    alpha: float = 0.05,
    seed: int = 0,
    n_resamples: int = 9999,
    method: str = "bca",
) -> tuple[float, float]:
    """Bootstrap CI (`bca` or `percentile`) of the mean of `diffs`; (nan, nan) without spread."""
    diffs = np.asarray(diffs, dtype=float)
    if len(diffs) < 2 or np.ptp(diffs) == 0:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BCa warns on very small or lumpy samples
        res = stats.bootstrap(
            (diffs,),
            np.mean,
            confidence_level=1 - alpha,
            method="BCa" if method == "bca" else "percentile",
            n_resamples=n_resamples,
            rng=np.random.default_rng(seed),
        )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):  # BCa can fail: use percentiles
        res = stats.bootstrap(
            (diffs,), np.mean, confidence_level=1 - alpha, method="percentile",
            n_resamples=n_resamples, rng=np.random.default_rng(seed),
        )  # fmt: skip
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return low, high
