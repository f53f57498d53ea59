"""Pooling each candidate's per-setting gains over settings whose levels are exchangeable draws
(datasets, architectures, independent replications): random effects, with τ² by
DerSimonian–Laird (statsmodels `combine_effects`, truncated at 0) and the Hartung–Knapp–
Sidik–Jonkman interval, the prediction interval for a new setting, and the probability of
improvement pooled over every pair (Wilson). Designed settings (noise rates, learning rates)
are not exchangeable: `analysis.trends` gives their pre-specified trend contrasts instead.
The pooled intervals are descriptive: the report's α is spent on its confirmatory family.

With k settings of gains y_i and variances v_i, weights w_i = 1 / (v_i + τ²), μ = Σ w_i y_i / Σ w_i:

* HKSJ variance of μ (Hartung & Knapp 2001; Sidik & Jonkman 2002), truncated below at the
  random-effects variance (Knapp & Hartung 2003; Röver, Knapp & Friede 2015, BMC Med. Res.
  Methodol. 15:99): var_μ = max(1, q) / Σ w_i, q = Σ w_i (y_i − μ)² / (k − 1);
* CI: μ ± t_{k−1, 1 − α/(2C)}·√var_μ, Bonferroni over the C candidates pooled in one report;
* prediction interval for a new setting: μ ± t_{k−2, 1 − α/2}·√(τ² + var_μ), with the HKSJ
  variance (Partlett & Riley 2017, Stat. Med. 36:301); needs k ≥ 3; not adjusted (it says
  where a new setting's gain falls, and no verdict is read from it).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

# Axes whose levels may be pooled as draws from a population of settings.
EXCHANGEABLE_AXES = ("data.name", "model.name", "replicate")


def varying(comparisons: pd.DataFrame, setting_keys: Sequence[str]) -> list[str]:
    """The setting keys that take more than one value."""
    return [k for k in setting_keys if comparisons[k].nunique(dropna=False) > 1]


def exchangeable(comparisons: pd.DataFrame, setting_keys: Sequence[str]) -> bool:
    """True when the settings differ only along exchangeable axes (and there are ≥ 2 of them)."""
    keys = varying(comparisons, setting_keys)
    return bool(keys) and all(k in EXCHANGEABLE_AXES for k in keys)


META_COLUMNS = (
    "candidate", "k_cells", "gain", "se", "ci_low", "ci_high", "tau2", "i2", "pred_low",
    "pred_high", "share_cells_ci_above_0", "n_pairs", "prob_improvement", "prob_low",
    "prob_high", "method",
)  # fmt: skip

META_METHOD = (
    "random effects: DerSimonian–Laird τ² (≥ 0), HKSJ CI with max(1, q), Bonferroni over "
    "candidates; prediction interval with the HKSJ variance"
)


def pool(
    effects: np.ndarray, variances: np.ndarray, alpha: float, n_candidates: int = 1
) -> dict[str, float]:
    """Random-effects pooling of k ≥ 2 effects (module docstring): gain, se, ci_low,
    ci_high, tau2, i2, pred_low, pred_high (nan for k < 3)."""
    from statsmodels.stats.meta_analysis import combine_effects

    y, v = np.asarray(effects, float), np.asarray(variances, float)
    k = len(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # τ² = 0 and k = 2 divide by zero inside
        res = combine_effects(y, v, method_re="dl", use_t=True, alpha=alpha)
    q_cochran = float(res.q)
    # statsmodels leaves DL's τ² = (Q − (k − 1)) / c negative when Q < k − 1; the estimator
    # is truncated at 0
    tau2 = max(0.0, float(res.tau2))
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - mu) ** 2) / (k - 1))
    var_mu = max(1.0, q) / float(np.sum(w))
    half = stats.t.ppf(1 - alpha / (2 * n_candidates), k - 1) * math.sqrt(var_mu)
    out = {
        "gain": mu, "se": math.sqrt(var_mu), "ci_low": mu - half, "ci_high": mu + half,
        "tau2": tau2, "pred_low": math.nan, "pred_high": math.nan,
        "i2": max(0.0, (q_cochran - (k - 1)) / q_cochran) if q_cochran > 0 else 0.0,
    }  # fmt: skip
    if k >= 3:
        pred = stats.t.ppf(1 - alpha / 2, k - 2) * math.sqrt(tau2 + var_mu)
        out.update(pred_low=mu - pred, pred_high=mu + pred)
    return out


def meta_analysis(comparisons: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Does the gain hold across exchangeable settings? One row per candidate of `compare_losses`
    output: `pool` over the settings with a positive standard error (`k_cells` counts them),
    `share_cells_ci_above_0` (settings whose simultaneous CI lies above 0), and the probability
    of improvement over all the candidate's pairs with its Wilson interval (paired rows)."""
    from statsmodels.stats.proportion import proportion_confint

    rows = []
    n_candidates = max(1, comparisons["candidate"].nunique())
    for cand, frame in comparisons.groupby("candidate", sort=True):
        use = frame[np.isfinite(frame["gain"]) & (frame["se"] > 0)]
        k = len(use)
        row: dict[str, Any] = dict.fromkeys(META_COLUMNS, math.nan)
        row.update(candidate=cand, k_cells=k, method=META_METHOD)
        if k >= 2:
            row.update(pool(use["gain"], use["se"] ** 2, alpha, n_candidates))
        row["share_cells_ci_above_0"] = float((frame["ci_low"] > 0).mean())
        paired = frame[frame["paired"].astype(bool) & frame["prob_improvement"].notna()]
        n = int(paired["n_pairs"].sum())
        row["n_pairs"] = n
        if n:
            wins = float((paired["prob_improvement"] * paired["n_pairs"]).sum())
            low, high = proportion_confint(wins, n, alpha, method="wilson")
            row.update(prob_improvement=wins / n, prob_low=float(low), prob_high=float(high))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(META_COLUMNS))
