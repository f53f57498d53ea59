"""The gain across designed settings: a random-effects meta-regression of each candidate's
per-setting gains on the noise design (numpy + statsmodels WLS).

Noise rates are designed grid points, not draws from a population of settings, and gains
often change with the rate; pooling them as exchangeable (`analysis.meta`) would answer a
question nobody asked. Instead, per candidate (and per setting of any other grid axis):

    gain_i = β₀ + Σ_kind β_kind · (rate_i / 0.1) · [kind_i = kind] + u_i + e_i,
    u_i ~ N(0, τ²),  e_i ~ N(0, se_i²),

where the cells without noise (`noise.kind` none, or rate 0) give the shared β₀, "the gain at
rate 0" (every noise kind is the same setting at rate 0). Without such a cell each kind gets
its own intercept. The design must be of full rank (asserted: `NotIdentified` otherwise) and
leave ≥ 1 residual degree of freedom.

* τ²: the method-of-moments estimator for meta-regression (the DerSimonian–Laird estimator
  generalised; Raudenbush 2009, in The Handbook of Research Synthesis, ch. 16):
  τ² = max(0, (Q_E − (k − p)) / tr(P)), Q_E = Σ v_i⁻¹ r_i² of the fixed-effect fit,
  P = W − W X (XᵀWX)⁻¹ XᵀW, W = diag(1 / v_i);
* coefficients: weighted least squares with w_i = 1 / (v_i + τ²) (statsmodels WLS);
* standard errors: Knapp & Hartung (2003, Stat. Med. 22:2693), the WLS covariance scaled by
  max(1, q), q = Σ w_i r_i² / (k − p), with t quantiles on k − p degrees of freedom;
* intervals: Bonferroni over every coefficient of the report's table (all candidates ×
  terms), so that they hold simultaneously with probability ≥ 1 − α.

A linear trend in the rate is a summary: when the gain bends (small at low rates, large at the
highest), the residual heterogeneity τ² absorbs the bend and the intervals widen accordingly;
the per-setting estimates stay the primary answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

NOISE_KEYS = ("noise.kind", "noise.rate")
# Axes whose levels may be pooled as draws from a population of settings (`analysis.meta`).
EXCHANGEABLE_AXES = ("data.name", "model.name", "replicate")
REGRESSION_COLUMNS = (
    "candidate", "setting", "term", "estimate", "se", "ci_low", "ci_high", "df", "tau2", "k",
)  # fmt: skip


class NotIdentified(ValueError):
    """The design cannot separate the terms asked for (rank below the number of terms)."""


def varying(comparisons: pd.DataFrame, cell_keys: Sequence[str]) -> list[str]:
    """The cell keys that take more than one value."""
    return [k for k in cell_keys if comparisons[k].nunique(dropna=False) > 1]


def exchangeable(comparisons: pd.DataFrame, cell_keys: Sequence[str]) -> bool:
    """True when the cells differ only along exchangeable axes (and there are ≥ 2 of them)."""
    keys = varying(comparisons, cell_keys)
    return bool(keys) and all(k in EXCHANGEABLE_AXES for k in keys)


def noise_design(cells: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The design matrix of the module docstring for cells with `noise.kind` / `noise.rate`
    (a missing `noise.kind` is read as one kind, `noise`); column names say each term."""
    rate = cells["noise.rate"].astype(float).to_numpy()
    kind = cells["noise.kind"] if "noise.kind" in cells else pd.Series("noise", cells.index)
    kind = kind.astype(str).to_numpy()
    clean = (kind == "none") | (rate == 0)
    kinds = sorted(set(kind[~clean]))
    columns, names = [], []
    if clean.any():
        columns.append(np.ones(len(cells)))
        names.append("gain at rate 0")
    for k in kinds:
        if not clean.any():
            columns.append((kind == k).astype(float))
            names.append(f"gain at rate 0, {k} (extrapolated)")
        columns.append(np.where(kind == k, rate / 0.1, 0.0))
        names.append(f"slope per 0.1 of rate, {k}")
    return np.column_stack(columns) if columns else np.empty((len(cells), 0)), names


def fit(y: np.ndarray, v: np.ndarray, x: np.ndarray, level: float) -> dict[str, Any]:
    """Random-effects meta-regression of effects `y` (variances `v`) on design `x` (module
    docstring): estimate, se, two-sided `level` interval, df, tau2."""
    import statsmodels.api as sm

    k, p = x.shape
    rank = int(np.linalg.matrix_rank(x))
    if rank < p:
        raise NotIdentified(f"design of rank {rank} for {p} terms")
    if k - p < 1:
        raise NotIdentified(f"{k} settings for {p} terms: no residual degree of freedom")
    w_fe = 1.0 / v
    xtwx_inv = np.linalg.inv(x.T @ (w_fe[:, None] * x))
    beta_fe = xtwx_inv @ (x.T @ (w_fe * y))
    q_e = float(np.sum(w_fe * (y - x @ beta_fe) ** 2))
    wx = w_fe[:, None] * x
    trace_p = float(np.sum(w_fe) - np.trace(xtwx_inv @ (x.T @ (w_fe[:, None] * wx))))
    tau2 = max(0.0, (q_e - (k - p)) / trace_p) if trace_p > 0 else 0.0
    res = sm.WLS(y, x, weights=1.0 / (v + tau2)).fit()
    # WLS's scale is q = Σ w r² / (k − p); Knapp–Hartung keeps it only when above 1
    cov = np.asarray(res.cov_params()) * max(1.0, float(res.scale)) / float(res.scale)
    se = np.sqrt(np.diag(cov))
    half = stats.t.ppf((1 + level) / 2, k - p) * se
    est = np.asarray(res.params, float)
    return {
        "estimate": est, "se": se, "ci_low": est - half, "ci_high": est + half,
        "df": float(k - p), "tau2": tau2,
    }  # fmt: skip


def meta_regression(
    comparisons: pd.DataFrame, cell_keys: Sequence[str], alpha: float = 0.05
) -> tuple[pd.DataFrame, list[str]]:
    """Per candidate × setting of the non-noise axes, the fit of `fit` on the noise design:
    (one row per coefficient, notes on what could not be fitted and why). Empty when the
    cells have no noise axis that varies."""
    if "noise.rate" not in cell_keys or comparisons["noise.rate"].nunique() < 2:
        return pd.DataFrame(columns=list(REGRESSION_COLUMNS)), []
    others = [k for k in varying(comparisons, cell_keys) if k not in NOISE_KEYS]
    use = comparisons[np.isfinite(comparisons["gain"]) & (comparisons["se"] > 0)]
    groups = list(use.groupby(["candidate", *others], sort=True, dropna=False))
    designs, notes = [], []
    for key, frame in groups:
        key = key if isinstance(key, tuple) else (key,)
        setting = ", ".join(f"{k} {v}" for k, v in zip(others, key[1:], strict=True)) or "all"
        x, names = noise_design(frame)
        designs.append((key[0], setting, frame, x, names))
    n_terms = sum(len(d[4]) for d in designs)
    rows = []
    for cand, setting, frame, x, names in designs:
        try:
            out = fit(frame["gain"].to_numpy(float), frame["se"].to_numpy(float) ** 2, x,
                      1 - alpha / max(1, n_terms))  # fmt: skip
        except NotIdentified as exc:
            notes.append(f"{cand} ({setting}): not fitted, {exc}")
            continue
        for i, term in enumerate(names):
            rows.append({
                "candidate": cand, "setting": setting, "term": term,
                **{c: out[c][i] for c in ("estimate", "se", "ci_low", "ci_high")},
                "df": out["df"], "tau2": out["tau2"], "k": len(frame),
            })  # fmt: skip
    return pd.DataFrame(rows, columns=list(REGRESSION_COLUMNS)), notes


def regression_level(alpha: float, terms: int) -> str:
    """How the intervals of a `meta_regression` table of `terms` rows are adjusted, in words."""
    return f"simultaneous {100 * (1 - alpha):g} % (Bonferroni over {max(1, terms)} coefficients)"
