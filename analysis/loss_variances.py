"""Each loss's own variance per setting, moderated over the study: the variance model that
uses the covariances between a setting's rows (numpy, scipy; REML and the Prasad–Rao term
from `analysis.variances`).

`analysis.variances` moderates each row's sample variance of differences alone. But the
rows of a setting share the reference's trials: two paired differences d_c = y_c − y_0 of
the same seed have

    Cov(d_c,k, d_c',k') = [k = k'] (σ²_0 + [c = c'] σ²_c),

so the covariances between rows identify the reference's variance σ²_0, which the rows'
sample variances leave entangled with each candidate's σ²_c. Per setting, the observed
differences (any seeds per row) with their rows' means as fixed effects have the REML
log-likelihood ℓ(η) of η = log σ² of the setting's losses (reference first), with score and
expected information (P the REML projection, ∂V/∂η_l = D_l):

    U_l = −½ tr(P D_l) + ½ yᵀ P D_l P y,    I_lk = ½ tr(P D_l P D_k).

Over the study, log σ²(loss, setting) = β + a(setting) + c(loss) + u(loss, setting), crossed
normal random effects as in `analysis.variances` (a factor of two levels as a fixed
difference), fitted by penalised quasi-likelihood (Breslow & Clayton 1993, JASA 88:9): at
the current η, each setting's working response ζ = η + I⁻¹U, with working covariance I⁻¹
(correlated within the setting), then REML for the τ² and the BLUP of η on ζ, until η
settles (where REML alternates between two solutions, each the other's fixed point, the one
with the larger components: the less pooled answer). Prediction error covariance
C = Cov(η̂ − η) as in `analysis.variances`, Prasad–Rao term included. A row's variance of
differences is s̃² = σ̂²_c + σ̂²_0, with Var(log s̃²) = gᵀ C g by the delta method
(g_l = σ̂²_l / s̃² on its two losses), its degrees of freedom ν
from ψ₁(ν/2) = Var(log s̃²), and the correlation of the rows' log-variance errors from the
same matrix. s̃² is not shifted for the χ² skew as `analysis.variances` shifts its z: a
likelihood estimate of a variance already carries it. A row that would be less certain than
its own sample (Var(log s̃²) ≥ ψ₁(d/2)) keeps its own variance on its own d.

The model needs each setting's losses over-identified: at least three rows, two of them
sharing two seeds. One row alone cannot split σ²_c + σ²_0; two rows give three moments
(two variances, one covariance) for three variances, so the reference's variance rests on
a single covariance, and the quasi-likelihood's normal approximation of its log fails
there: in the calibration (docs/analysis.md), 2 candidates × 6 settings in `het` left
every interval holding together in only 93.7 % of studies at n = 5. `identified` says
whether a study qualifies; where it does not, `seedmodel.fit` uses a level per setting and
per loss (`analysis.scale_variances`) when every setting has two rows, else the rows'
variances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from analysis.variances import Moderated, estimated_components_term, reml, trigamma_inverse

ITERATIONS, TOLERANCE = 200, 1e-4  # η to 0.01 % of a variance


@dataclass(frozen=True)
class Setting:
    """One setting's rows: the stacked observed differences, the row (0 … C − 1) and the
    seed code of each, and the row names; where every row has the same seeds, also the
    scatter matrix W of the centred differences (C × C) on `df` = n − 1."""

    y: np.ndarray
    row: np.ndarray
    seed: np.ndarray
    candidates: tuple[str, ...]
    scatter: np.ndarray | None = None
    df: int = 0

    @classmethod
    def of(cls, diffs: Sequence[pd.Series], candidates: Sequence[str]) -> Setting:
        seeds = {s: i for i, s in enumerate(sorted(set().union(*(d.index for d in diffs)),
                                                   key=str))}  # fmt: skip
        y: list[float] = []
        row: list[int] = []
        seed: list[int] = []
        for c, d in enumerate(diffs):
            d = d[np.isfinite(d.to_numpy(dtype=float))]
            y.extend(d.to_numpy(dtype=float))
            row.extend([c] * len(d))
            seed.extend(seeds[s] for s in d.index)
        codes, rows = np.asarray(seed), np.asarray(row)
        scatter, df = None, 0
        if all(np.array_equal(np.sort(codes[rows == c]), np.arange(len(seeds)))
               for c in range(len(diffs))):  # fmt: skip
            by_seed = np.zeros((len(diffs), len(seeds)))
            by_seed[rows, codes] = y
            centred = by_seed - by_seed.mean(axis=1, keepdims=True)
            scatter, df = centred @ centred.T, len(seeds) - 1
        return cls(np.asarray(y), rows, codes, tuple(candidates), scatter, df)


def score_info(eta: np.ndarray, setting: Setting) -> tuple[np.ndarray, np.ndarray]:
    """REML score and expected information in η (the reference's log-variance first, then
    each row's candidate) of one setting (module docstring). Where every row has the same
    seeds, the REML likelihood is the Wishart one of the scatter W on n − 1 df,
    −(n − 1)/2 log det Σ − ½ tr(Σ⁻¹ W), Σ = diag(σ²_c) + σ²_0 11ᵀ, in closed form."""
    v = np.exp(eta)
    if setting.scatter is not None:
        return _wishart_score_info(v, setting.scatter, setting.df)
    same_seed = (setting.seed[:, None] == setting.seed[None, :]).astype(float)
    rows = len(eta) - 1
    ders = [v[0] * same_seed] + [np.diag(v[c + 1] * (setting.row == c)) for c in range(rows)]
    vinv = np.linalg.inv(ders[0] + np.diag(v[1 + setting.row]))
    x = (setting.row[:, None] == np.arange(rows)[None, :]).astype(float)
    xv = x.T @ vinv
    p = vinv - xv.T @ np.linalg.solve(xv @ x, xv)
    py = p @ setting.y
    pd_ = [p @ d for d in ders]
    score = np.array(
        [-0.5 * np.trace(a) + 0.5 * py @ d @ py for a, d in zip(pd_, ders, strict=True)]
    )
    info = np.array([[0.5 * np.sum(a * b.T) for b in pd_] for a in pd_])
    return score, info


def _wishart_score_info(v: np.ndarray, w: np.ndarray, df: int) -> tuple[np.ndarray, np.ndarray]:
    # ∂Σ/∂η_0 = σ²_0 11ᵀ, ∂Σ/∂η_c = σ²_c e_c e_cᵀ
    sinv = np.linalg.inv(np.diag(v[1:]) + v[0])
    b = sinv @ w @ sinv
    ones = sinv.sum(axis=1)  # Σ⁻¹ 1
    score = 0.5 * np.concatenate([[v[0] * (b.sum() - df * ones.sum())],
                                  v[1:] * (np.diag(b) - df * np.diag(sinv))])  # fmt: skip
    info = np.empty((len(v), len(v)))
    info[0, 0] = (v[0] * ones.sum()) ** 2
    info[0, 1:] = info[1:, 0] = v[0] * v[1:] * ones**2
    info[1:, 1:] = np.outer(v[1:], v[1:]) * sinv**2
    return score, 0.5 * df * info


class NotSettled(RuntimeError):
    """The variance components did not settle within `ITERATIONS` rounds."""


MIN_ROWS = 3  # rows per setting (module docstring: two rows only just identify the split)


def identified(settings: Sequence[Setting]) -> bool:
    """Whether every setting's losses have separate, over-identified variances: `MIN_ROWS`
    or more rows, two rows sharing at least two seeds, every row with two or more
    differences."""
    for s in settings:
        counts = np.bincount(s.row, minlength=len(s.candidates))
        if len(s.candidates) < MIN_ROWS or counts.min() < 2:
            return False
        seeds = [set(s.seed[s.row == c]) for c in range(len(s.candidates))]
        if not any(len(seeds[a] & seeds[b]) >= 2
                   for a in range(len(seeds)) for b in range(a + 1, len(seeds))):  # fmt: skip
            return False
    return True


@dataclass(frozen=True)
class LossModerated(Moderated):
    """`Moderated` per row, plus the moderated variance of its setting's reference
    (`reference_s2`: the rows' shared part, for the correlation of their gains)."""

    reference_s2: np.ndarray


def moderate_losses(settings: Sequence[Setting]) -> LossModerated:
    """Moderated variances of every row of `settings` (in order), from the losses' own
    variances (module docstring). The caller checks `identified` first; `NotSettled` where
    the components do not settle."""
    mats, names, x, parts = _design(settings)

    def working(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e, zeta = np.zeros((len(eta), len(eta))), np.zeros(len(eta))
        for s, part in zip(settings, parts, strict=True):
            score, info = score_info(eta[part], s)
            e[part, part] = np.linalg.inv(info)
            zeta[part] = eta[part] + e[part, part] @ score
        return zeta, e

    eta = np.concatenate([_start(s) for s in settings])
    theta, previous = np.zeros(0), np.zeros(0)  # none yet
    for _ in range(ITERATIONS):  # τ² by REML on the working response; η by scoring at that τ²
        zeta, e = working(eta)
        new_theta = reml(zeta, e, mats, x, np.maximum(theta, 1e-4) if len(theta) else None)
        # REML on the working response can alternate between two solutions, each the other's
        # fixed point (a component at 0 and above it): keep the one with the larger
        # components, the less pooled and wider answer
        cycle = len(previous) == len(new_theta) and np.allclose(new_theta, previous,
                                                                rtol=1e-3, atol=1e-4)  # fmt: skip
        if cycle and theta.sum() >= new_theta.sum():
            break  # η, G and V⁻¹ stay fitted at θ
        g = sum(t * m for t, m in zip(new_theta, mats, strict=True))
        damping, last = 1.0, np.inf
        for _ in range(ITERATIONS):
            vinv = np.linalg.inv(e + g)
            info_beta = x.T @ vinv @ x
            fitted = (x @ np.linalg.solve(info_beta, x.T @ vinv @ zeta)).ravel()
            step = fitted + g @ vinv @ (zeta - fitted) - eta
            change = float(np.max(np.abs(step)))
            # a scoring step can overshoot where a variance is small: damp while the steps
            # grow, and let the damping go again while they shrink
            damping = max(damping / 2, 1 / 64) if change >= last else min(2 * damping, 1.0)
            last = change
            eta = eta + damping * step
            if change < TOLERANCE:
                break
            zeta, e = working(eta)
        # τ² to the REML optimiser's own precision (it is not finer: a tighter test cycles)
        settled = cycle or (len(theta) > 0 and np.allclose(new_theta, theta, rtol=1e-3,
                                                           atol=1e-4))  # fmt: skip
        previous, theta = theta, new_theta
        if settled:
            break
    else:
        raise NotSettled(f"variance components {theta} still moving after {ITERATIONS} rounds")
    a = x - g @ vinv @ x
    cov = g - g @ vinv @ g + a @ np.linalg.solve(info_beta, a.T)
    cov = cov + estimated_components_term(mats, theta, vinv, g, x, info_beta, full=True)
    return _rows(settings, parts, eta, cov, dict(zip(names, map(float, theta), strict=True)))


def _design(
    settings: Sequence[Setting],
) -> tuple[list[np.ndarray], list[str], np.ndarray, list[slice]]:
    """The random effects' matrices and names, the fixed effects' design and each setting's
    slice of η (its losses, the reference first)."""
    index = [(k, loss) for k, s in enumerate(settings) for loss in ("", *s.candidates)]
    setting_of = np.array([k for k, _ in index])
    loss_of = [loss for _, loss in index]
    mats, names = [np.eye(len(index))], ["interaction"]  # the loss × setting effect
    x = np.ones((len(index), 1))
    for name, labels in (("setting", [str(k) for k in setting_of]), ("loss", loss_of)):
        levels = sorted(set(labels))
        lab = np.asarray(labels)
        if len(levels) == 2:  # two levels say nothing about a variance: a fixed difference
            x = np.column_stack([x, (lab == levels[1]).astype(float)])
        elif len(levels) > 2:
            names.append(name)
            mats.append((lab[:, None] == lab[None, :]).astype(float))
    parts = [slice(int(np.flatnonzero(setting_of == k)[0]),
                   int(np.flatnonzero(setting_of == k)[-1]) + 1)
             for k in range(len(settings))]  # fmt: skip
    return mats, names, x, parts


def _start(s: Setting) -> np.ndarray:
    # every loss of the setting at half its rows' mean sample variance of differences
    var = np.mean([np.var(s.y[s.row == c], ddof=1) for c in range(len(s.candidates))])
    return np.full(len(s.candidates) + 1, np.log(max(float(var), 1e-300) / 2))


def row_variances(
    settings: Sequence[Setting], parts: Sequence[slice], eta: np.ndarray, cov: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row (settings in order, `parts` their losses' slices of η, the reference
    first): its variance of differences σ²_c + σ²_0, its reference's σ²_0, and the
    covariance of the rows' log-variances from Cov(η̂ − η) = `cov` by the delta method."""
    v = np.exp(eta)
    grad, s2, ref = [], [], []
    for s, part in zip(settings, parts, strict=True):
        start = part.start
        for c in range(len(s.candidates)):
            total = v[start] + v[start + c + 1]
            g = np.zeros(len(eta))
            g[start], g[start + c + 1] = v[start] / total, v[start + c + 1] / total
            grad.append(g)
            s2.append(total)
            ref.append(v[start])
    jac = np.array(grad)
    return np.asarray(s2), np.asarray(ref), jac @ cov @ jac.T


def _rows(
    settings: Sequence[Setting],
    parts: Sequence[slice],
    eta: np.ndarray,
    cov: np.ndarray,
    components: dict[str, float],
) -> LossModerated:
    s2_rows, ref, rcov = row_variances(settings, parts, eta, cov)
    own_rows = [s.y[s.row == c] for s in settings for c in range(len(s.candidates))]
    own_s2 = [np.var(own, ddof=1) for own in own_rows]
    d = np.array([len(own) - 1.0 for own in own_rows])
    pev = np.diag(rcov).copy()
    # a row can never know its variance better than all rows' sampling together would
    pev = np.maximum(pev, 1.0 / np.sum(1.0 / special.polygamma(1, d / 2)))
    nu = 2 * trigamma_inverse(pev)
    s2_mod = s2_rows.copy()
    errors_corr = rcov / np.sqrt(np.outer(pev, pev))
    np.fill_diagonal(errors_corr, 1.0)
    # a row the pooling would leave less certain than its own sample keeps its own variance
    own = pev >= special.polygamma(1, d / 2)
    s2_mod[own], nu[own] = np.asarray(own_s2)[own], d[own]
    errors_corr[own, :] = errors_corr[:, own] = 0.0
    errors_corr[own, own] = 1.0
    return LossModerated(s2_mod, nu, components, errors_corr, ref)
