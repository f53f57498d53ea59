"""Moderated variances: each row's variance of paired differences, partially pooled with the
rows of its setting and of its loss by empirical Bayes on the log scale (numpy, scipy).

A row i (a candidate × setting) has n_i paired differences with sample variance s²_i on
d_i = n_i − 1 degrees of freedom, s²_i ~ σ²_i·χ²_{d_i}/d_i for normal differences. On the log
scale (Smyth 2004, Stat. Appl. Genet. Mol. Biol. 3:3, section 6.2):

    z_i = log s²_i − ϝ(d_i/2) + log(d_i/2),   E z_i = log σ²_i,   Var z_i = ψ₁(d_i/2)

(ϝ digamma, ψ₁ trigamma). The log-variances follow crossed random effects:

    log σ²_i = β + a_setting(i) + c_candidate(i) + u_i,
    a ~ N(0, τ²_a), c ~ N(0, τ²_c), u ~ N(0, τ²_u) (the row's own deviation),

so a row borrows from the rows of its setting (the noise rate moves every loss's spread
together, by 10–100× between settings) and from the rows of its loss (an unstable loss is
noisy everywhere), each as much as the data show them to agree; a loss that is 3× noisier
than the others gets its own level c, so it does not borrow a stable loss's precision.
τ² by REML (Patterson & Thompson 1971; bounded at 0, L-BFGS-B with the analytic REML score),
treating z_i as normal with its known sampling variance (as Cui et al. 2005, Biostatistics
6:59, shrink log-variances). Then, per row, the best linear unbiased predictor η̂_i of
log σ²_i and its prediction error variance V_i with β estimated (Henderson 1975):

    η̂ = Xβ̂ + G V⁻¹ (z − Xβ̂),   Var(η̂ − η) = G − G V⁻¹ G + A (XᵀV⁻¹X)⁻¹ Aᵀ,   A = X − G V⁻¹ X.

The moderated variance is read as a χ² estimate with ν_i degrees of freedom whose log has
the same variance, ψ₁(ν_i/2) = V_i, placed so that its log has the χ² skew:

    s̃²_i = exp(η̂_i + ϝ(ν_i/2) − log(ν_i/2)),   t̃_i = gain_i / √(s̃²_i / n_i) ~ t_{ν_i}.

With no pooling (τ² large) V_i = ψ₁(d_i/2), so ν_i = d_i and s̃²_i = s²_i: the row's own t
test; a row whose V_i would exceed ψ₁(d_i/2) (few rows, poorly determined τ²) keeps its own
s²_i on d_i, so pooling never leaves a row less certain than its own sample. A factor with
two levels carries no information on a variance: it enters as a fixed difference (a column
of X), not a random effect. With full pooling ν_i grows with the number of rows. Why not
limma's conjugate prior: it has one prior mean (or a smooth trend in one covariate) and one
prior df, while these rows differ systematically along two crossed factors. Why not
statsmodels' MixedLM on the trials: it fits one residual variance, not one per loss and
setting. The calibration
(benchmarks/stats_calibration.py, docs/analysis.md) is what shows the guarantees hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

MIN_ROWS = 3  # fewer rows with a variance: nothing to pool, each row keeps its own


@dataclass(frozen=True)
class Moderated:
    """Per row: the moderated variance `s2`, its degrees of freedom `df`; the correlation
    of the rows' log-variance errors η̂ − η (`errors_corr`: they share the pooled part);
    and the fitted variance components by name (`row`, and `setting` / `candidate` where
    they vary)."""

    s2: np.ndarray
    df: np.ndarray
    components: dict[str, float]
    errors_corr: np.ndarray | None  # None: not modelled (drawn independently)


def trigamma_inverse(y: np.ndarray) -> np.ndarray:
    """x with ψ₁(x) = y (y > 0), by Newton's method from x = 0.5 + 1/y (limma's
    `trigammaInverse`; ψ₁ is convex and decreasing, so the iteration is monotone)."""
    y = np.asarray(y, dtype=float)
    x = 0.5 + 1.0 / y
    for _ in range(60):
        tri = special.polygamma(1, x)
        step = tri * (1 - tri / y) / special.polygamma(2, x)
        x = x + step
        if np.all(-step / x < 1e-10):
            break
    return np.asarray(x)


def _indicators(labels: Sequence[object]) -> np.ndarray:
    _, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    z = np.zeros((len(codes), int(codes.max()) + 1))
    z[np.arange(len(codes)), codes] = 1.0
    return z @ z.T


def reml(
    z: np.ndarray,
    e: np.ndarray,
    mats: list[np.ndarray],
    x: np.ndarray,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """REML variance components of z = Xβ + Σ_k (random effects with covariance θ_k·M_k) + e,
    e ~ N(0, diag(e)), or N(0, e) when `e` is a matrix (correlated sampling errors): θ ≥ 0,
    by L-BFGS-B with the analytic score, from `start` where given."""
    cov_e = np.diag(e) if e.ndim == 1 else e

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        v = cov_e + sum(t * m for t, m in zip(theta, mats, strict=True))
        chol = np.linalg.cholesky(v)
        vinv = np.linalg.inv(v)
        xv = x.T @ vinv
        info = xv @ x
        p = vinv - xv.T @ np.linalg.solve(info, xv)
        pz = p @ z
        nll = 0.5 * (2 * np.log(np.diag(chol)).sum() + np.log(np.linalg.det(info)) + z @ pz)
        grad = np.array([0.5 * (np.sum(p * m) - pz @ m @ pz) for m in mats])
        return float(nll), grad

    if start is None:
        spread = max(float(np.var(z, ddof=1) - np.mean(np.diag(cov_e))), 0.05)
        start = np.full(len(mats), spread / len(mats))
    res = optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                            bounds=[(0.0, None)] * len(mats))  # fmt: skip
    return np.asarray(res.x)


def estimated_components_term(
    mats: list[np.ndarray],
    theta: np.ndarray,
    vinv: np.ndarray,
    g: np.ndarray,
    x: np.ndarray,
    info: np.ndarray,
    full: bool = False,
) -> np.ndarray:
    """Per row, what estimating the τ² adds to the prediction error: Prasad & Rao's (1990,
    JASA 85:163) g₃ = tr[(∂b_i/∂θ) V (∂b_i/∂θ)ᵀ I(θ)⁻¹], b_iᵀ = g_iᵀ V⁻¹ the predictor's
    weights and I(θ) the REML information ½ tr(P M_k P M_l): the prediction error is
    g₁ + g₂ + g₃, where the plug-in g₁ + g₂ alone is short by g₃. With `full`, the matrix of
    that term over pairs of rows (for variances of sums of predictions)."""
    v = np.linalg.inv(vinv)
    p = vinv - vinv @ x @ np.linalg.solve(info, x.T @ vinv)
    fisher = np.array([[0.5 * np.sum((p @ mk) * (p @ ml).T) for ml in mats] for mk in mats])
    cov = np.linalg.pinv(fisher)
    # τ̂ is bounded at 0: E[(max(0, X) − τ)²] / Var X for X ~ N(τ, v), at τ = τ̂ (½ at the bound)
    t = theta / np.sqrt(np.maximum(np.diag(cov), 1e-300))
    shrink = np.sqrt(stats.norm.cdf(t) - t * stats.norm.pdf(t) + t**2 * stats.norm.sf(t))
    cov = cov * np.outer(shrink, shrink)
    d = [mk @ vinv - g @ vinv @ mk @ vinv for mk in mats]
    if full:
        return np.asarray(sum(cov[k, j] * dk @ v @ dj.T
                              for k, dk in enumerate(d) for j, dj in enumerate(d)))  # fmt: skip
    out = np.zeros(len(v))
    for k, dk in enumerate(d):
        for j, dj in enumerate(d):
            out += cov[k, j] * np.einsum("ij,jk,ik->i", dk, v, dj)
    return np.maximum(out, 0.0)


def moderate(
    s2: np.ndarray, df: np.ndarray, settings: Sequence[object], candidates: Sequence[object]
) -> Moderated:
    """Moderated variances of rows with sample variances `s2` (> 0) on `df` (≥ 1) degrees
    of freedom, labelled by setting and candidate (module docstring). With fewer than
    `MIN_ROWS` rows, each row keeps its own variance and degrees of freedom."""
    s2, df = np.asarray(s2, dtype=float), np.asarray(df, dtype=float)
    if len(s2) < MIN_ROWS:
        return Moderated(s2.copy(), df.copy(), {}, np.eye(len(s2)))
    z = np.log(s2) - special.digamma(df / 2) + np.log(df / 2)
    e = special.polygamma(1, df / 2)
    names, mats = ["row"], [np.eye(len(z))]
    x = np.ones((len(z), 1))
    for name, labels in (("setting", settings), ("candidate", candidates)):
        levels = sorted(set(map(str, labels)))
        if len(levels) == 2:  # two levels say nothing about a variance: a fixed difference
            x = np.column_stack([x, np.asarray([str(v) == levels[1] for v in labels], float)])
        elif len(levels) > 2:
            names.append(name)
            mats.append(_indicators(labels))
    theta = reml(z, e, mats, x)
    g = sum(t * m for t, m in zip(theta, mats, strict=True))
    vinv = np.linalg.inv(np.diag(e) + g)
    info = x.T @ vinv @ x
    beta = np.linalg.solve(info, x.T @ vinv @ z)
    eta = (x @ beta).ravel() + g @ vinv @ (z - (x @ beta).ravel())
    a = x - g @ vinv @ x
    cov = g - g @ vinv @ g + a @ np.linalg.solve(info, a.T)
    # the τ² term adds to the diagonal only: it lowers the errors' correlation (the safe side)
    pev = np.diag(cov) + estimated_components_term(mats, theta, vinv, g, x, info)
    # a row can never know its variance better than all rows' sampling together would
    pev = np.maximum(pev, 1.0 / np.sum(1.0 / e))
    nu = 2 * trigamma_inverse(pev)
    s2_mod = np.exp(eta + special.digamma(nu / 2) - np.log(nu / 2))
    errors_corr = cov / np.sqrt(np.outer(pev, pev))
    np.fill_diagonal(errors_corr, 1.0)
    # a row the pooling would leave less certain than its own sample keeps its own variance
    own = pev >= e
    s2_mod[own], nu[own] = s2[own], df[own]
    errors_corr[own, :] = errors_corr[:, own] = 0.0
    errors_corr[own, own] = 1.0
    return Moderated(s2_mod, nu, dict(zip(names, map(float, theta), strict=True)), errors_corr)
