"""Simultaneous intervals from the joint distribution of the t statistics: the max-|t|
critical value and single-step adjusted p-values (Hothorn, Bretz & Westfall 2008, Biometrical
J. 50:346, section 3; Dunnett 1955 for the many-to-one case), by a seeded Monte-Carlo
(numpy), as R's multcomp does with mvtnorm.

The m estimates have correlation matrix R (rows of one setting share the reference's
trials); row i's t statistic is T_i = Z_i / √(W_i), Z ~ N(0, R), W_i ~ χ²_{ν_i}/ν_i. The
critical value c is the (1 − α) quantile of max_i |T_i|, so that P(every |T_i| ≤ c) = 1 − α:
the intervals estimate ± c·se cover all m true values at once with probability 1 − α. Each
row's variance estimate is drawn independently here, while the moderated variances of
`analysis.variances` are positively dependent (they share the pooled part): independent
denominators make max |T| larger (Šidák 1967; Hothorn et al. section 3.2), so c errs on the
safe side. With R = I and ν_i = ν it is Šidák's t critical value; with a common ν and
Dunnett's correlation, Dunnett's.

`draws` Monte-Carlo draws give c with a relative error of about 1 % at 20,000 draws and
0.5 % at 100,000 (docs/analysis.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

DRAWS = 100_000


@dataclass(frozen=True)
class MaxT:
    """The simulated max |T| over a family, sorted: its quantiles and tail shares."""

    maxima: np.ndarray

    def critical(self, alpha: float) -> float:
        """c with P(max |T| > c) = α."""
        return float(np.quantile(self.maxima, 1 - alpha))

    def adjusted(self, t: np.ndarray) -> np.ndarray:
        """Single-step adjusted p-values P(max |T| ≥ |t_i|): below α exactly when |t_i| > c."""
        t = np.abs(np.asarray(t, dtype=float))
        above = len(self.maxima) - np.searchsorted(self.maxima, t, side="left")
        return np.where(np.isfinite(t), np.maximum(above, 1) / len(self.maxima), np.nan)


def simulate(corr: np.ndarray, df: np.ndarray, seed: int, draws: int = DRAWS) -> MaxT:
    """max_i |T_i| over `draws` draws (module docstring); `corr` is m × m, `df` the m
    degrees of freedom (inf: a known variance). Independent blocks of `corr` are simulated
    apart (a study's settings), so the cost grows with the largest block, not with m²."""
    corr, df = np.asarray(corr, dtype=float), np.asarray(df, dtype=float)
    m = len(df)
    rng = np.random.default_rng(seed)
    if m == 0:
        return MaxT(np.zeros(1))
    n_blocks, block = connected_components(csr_matrix(np.abs(corr) > 0), directed=False)
    maxima = np.zeros(draws)
    for b in range(n_blocks):
        idx = np.flatnonzero(block == b)
        sub = corr[np.ix_(idx, idx)]
        # a correlation estimated on the boundary of positive definiteness: a tiny ridge
        chol = np.linalg.cholesky(sub + 1e-9 * np.eye(len(idx)))
        z = rng.standard_normal((draws, len(idx))) @ chol.T
        nu = df[idx]
        finite = np.isfinite(nu)
        w = np.ones((draws, len(idx)))
        if finite.any():
            w[:, finite] = rng.chisquare(np.broadcast_to(nu[finite], (draws, finite.sum())))
            w[:, finite] /= nu[finite]
        np.maximum(maxima, np.max(np.abs(z) / np.sqrt(w), axis=1), out=maxima)
    return MaxT(np.sort(maxima))
