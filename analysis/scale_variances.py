"""Each loss's variance per setting as a level per setting times a level per loss: the
variances of a study whose settings have two rows each (numpy; scipy.optimize fits,
scipy.stats tests; each setting's Wishart likelihood from `analysis.loss_variances`).

With two candidates per setting, a setting's paired differences give three moments (the two
rows' variances of differences and their covariance) for its three losses' variances, so
`analysis.loss_variances` cannot moderate them loss by loss (its module docstring), and the
rows' variances (`analysis.variances`) have too few rows to learn how far to pool: at three
seeds their intervals are as wide as per-row Bonferroni's. This model pools in the one
direction the data keep identified:

    σ²(loss, setting) = exp(a(setting) + c(loss)),   c(reference) = 0:

each setting at its own level (the noise rate moves every loss's spread together, by 10–100×
between settings) and each loss at its own ratio to the reference, the same in every
setting (an unstable loss is noisy everywhere). θ = (a, c) by maximum likelihood on the
settings' Wishart likelihoods of their differences' scatter W_s on n − 1 df
(`loss_variances.score_info`), L-BFGS with the analytic score, then Fisher scoring to
convergence; Cov(θ̂) is the inverse expected information. A row's variance of differences
is s̃² = σ̂²_c + σ̂²_0, Var(log s̃²) = gᵀ Cov(η̂) g by the delta method, and its degrees of
freedom ν = 2 / Var(log s̃²): the χ² whose relative variance 2/ν is the estimate's
(Satterthwaite 1946). The rows share the levels, so their variance estimates' errors are
positively correlated; `analysis.maxt` draws them independently (`errors_corr` None), which
makes max |T| larger: the safe side.

The structure is checked row by row before it is used: each row's own variance of
differences against its s̃² as F(n − 1, ν), two-sided, Bonferroni over the rows, must not
reject at `CHECK_LEVEL`. That catches a row far off its levels (a loss unstable in one
setting only), not a mild loss × setting interaction, which would bias the rows it touches:
the calibrated scenarios have none. Where the check rejects, where a setting's rows do not
share all their seeds or have no more seeds than rows, where the levels are as many as the
moments (a single setting), or where the fit does not converge,
`moderate_scales` raises `NotScaled` with the reason and `analysis.seedmodel.fit` uses the
rows' variances. The calibration (benchmarks/stats_calibration.py, docs/analysis.md: 2
candidates × 6 settings) is what shows the guarantees hold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats

from analysis.loss_variances import LossModerated, Setting, row_variances, score_info

NAME = "a level per setting and per loss, two rows per setting"
CHECK_LEVEL = 0.05  # the rows' check of their levels (module docstring)
MAX_ITERATIONS, TOLERANCE, BOUND = 1000, 1e-8, 20.0


class NotScaled(ValueError):
    """The study does not take this model (why, in the message)."""


def moderate_scales(settings: Sequence[Setting]) -> LossModerated:
    """Every row's variance of differences, its degrees of freedom and its reference's
    variance (settings in order, rows in order within each) from the levels per setting
    and per loss (module docstring); `NotScaled` where the study does not take them."""
    for s in settings:
        if s.scatter is None or len(s.candidates) < 2:
            raise NotScaled("a setting's rows do not share their seeds, or it has one row")
        if s.df < len(s.candidates):
            raise NotScaled(
                f"{s.df + 1} seeds for {len(s.candidates)} rows: their sample "
                "covariance is singular"
            )
    x, parts = _design(settings)
    if sum(len(s.candidates) * (len(s.candidates) + 1) // 2 for s in settings) <= x.shape[1]:
        raise NotScaled("as many levels as moments (one setting): nothing to pool")
    theta = _fit(settings, x, parts)
    eta = x @ theta
    info = np.zeros((len(eta), len(eta)))
    for s, part in zip(settings, parts, strict=True):
        info[part, part] = score_info(eta[part], s)[1]
    # a level at its bound has no information: the pseudo-inverse leaves it out of Cov(η̂)
    cov = x @ np.linalg.pinv(x.T @ info @ x) @ x.T
    s2, ref, rcov = row_variances(settings, parts, eta, cov)
    d = np.array([float(s.df) for s in settings for _ in s.candidates])
    nu = np.minimum(2 / np.diag(rcov), d.sum())  # never beyond every row's sampling together
    own_s2 = np.array([np.var(s.y[s.row == c], ddof=1) for s in settings
                       for c in range(len(s.candidates))])  # fmt: skip
    # each row's own variance against the levels' s̃², F(d, ν) two-sided, Bonferroni over
    # the rows: a row far off its levels (a loss unstable in one setting) rejects them
    f = stats.f.cdf(own_s2 / s2, d, nu)
    p_value = float(min(1.0, len(s2) * 2 * np.min(np.minimum(f, 1 - f))))
    if p_value < CHECK_LEVEL:
        raise NotScaled(f"a row's variance is off its levels (p = {p_value:.2g})")
    own = nu < d  # a row the pooling would leave less certain than its own sample keeps it
    s2[own], nu[own] = own_s2[own], d[own]
    components = {"levels": float(x.shape[1]), "check p": p_value}
    return LossModerated(s2, nu, components, None, ref)


def _design(settings: Sequence[Setting]) -> tuple[np.ndarray, list[slice]]:
    """η = Xθ over every setting's losses (the reference first): a column per setting, one
    per candidate loss (by name, shared across settings)."""
    names = sorted({c for s in settings for c in s.candidates})
    rows, parts, start = [], [], 0
    for k, s in enumerate(settings):
        for loss in ("", *s.candidates):
            row = np.zeros(len(settings) + len(names))
            row[k] = 1.0
            if loss:
                row[len(settings) + names.index(loss)] = 1.0
            rows.append(row)
        parts.append(slice(start, start + len(s.candidates) + 1))
        start += len(s.candidates) + 1
    return np.array(rows), parts


def _loglik(eta: np.ndarray, s: Setting) -> float:
    """The Wishart log-likelihood of W on df, −df/2 log det Σ − ½ tr(Σ⁻¹W), constant aside."""
    v = np.exp(eta)
    sigma = np.diag(v[1:]) + v[0]
    assert s.scatter is not None
    logdet = np.linalg.slogdet(sigma)[1]
    return float(-0.5 * s.df * logdet - 0.5 * np.trace(np.linalg.solve(sigma, s.scatter)))


def _fit(settings: Sequence[Setting], x: np.ndarray, parts: Sequence[slice]) -> np.ndarray:
    """θ̂ by L-BFGS-B on the summed Wishart likelihoods, each level within e^±20 of its
    start: a loss whose variance the data put at 0 (a level that would run off to −∞) stops
    at its bound, where its score and information vanish."""

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = x @ theta
        value, score = 0.0, np.zeros(len(eta))
        for s, part in zip(settings, parts, strict=True):
            value -= _loglik(eta[part], s)
            score[part] = score_info(eta[part], s)[0]
        return value, -(x.T @ score)

    start = np.zeros(x.shape[1])
    for k, s in enumerate(settings):  # each loss at half the setting's mean row variance
        assert s.scatter is not None
        start[k] = np.log(max(float(np.trace(s.scatter)) / s.df / len(s.candidates), 1e-300) / 2)
    res = optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                            bounds=[(t - BOUND, t + BOUND) for t in start],
                            options={"maxiter": MAX_ITERATIONS, "gtol": TOLERANCE})  # fmt: skip
    if not res.success:
        raise NotScaled(f"the levels did not converge: {res.message}")
    return np.asarray(res.x)
