"""Confidence intervals of a mean gain: the t interval (exact for normal differences, nominal
at n = 3-10; Welch's for two unmatched groups) and scipy.stats.bootstrap's BCa / percentile
intervals (seeded), which undercover at small n (docs/analysis.md)."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

CI_METHODS = ("t", "bca", "percentile")


def mean_ci(
    diffs: np.ndarray,
    alpha: float = 0.05,
    method: str = "t",
    seed: int = 0,
    n_resamples: int = 9999,
) -> tuple[float, float]:
    """(1 − α) CI of the mean of `diffs` (shape (n,)): `t` = x̄ ± t_{n−1, 1−α/2}·s/√n
    (scipy's `ttest_1samp(...).confidence_interval`), `bca` / `percentile` = bootstrap.
    A degenerate sample (all equal) gives a point; fewer than 2 values give (nan, nan)."""
    if method not in CI_METHODS:
        raise ValueError(f"ci_method {method!r}: allowed {', '.join(CI_METHODS)}")
    diffs = np.asarray(diffs, dtype=float)
    if len(diffs) < 2 or np.ptp(diffs) == 0:
        mean = float(np.mean(diffs)) if len(diffs) else math.nan
        return (mean, mean) if len(diffs) >= 2 else (math.nan, math.nan)
    if method == "t":
        ci = stats.ttest_1samp(diffs, 0.0).confidence_interval(1 - alpha)
        return float(ci.low), float(ci.high)
    return bootstrap_ci(diffs, alpha, seed, n_resamples, method)


def bootstrap_ci(
    diffs: np.ndarray,
    alpha: float = 0.05,
    seed: int = 0,
    n_resamples: int = 9999,
    method: str = "bca",
) -> tuple[float, float]:
    """Bootstrap CI (`bca` or `percentile`) of the mean of `diffs`; a degenerate sample gives
    a point."""
    diffs = np.asarray(diffs, dtype=float)
    if len(diffs) < 2 or np.ptp(diffs) == 0:
        mean = float(np.mean(diffs)) if len(diffs) else math.nan
        return (mean, mean) if len(diffs) >= 2 else (math.nan, math.nan)
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
