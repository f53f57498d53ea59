"""Pooling each candidate's per-cell gains over the cells: random effects (statsmodels
`combine_effects`, DerSimonian-Laird τ² truncated at 0, Hartung-Knapp-Sidik-Jonkman CI), τ², I²,
the prediction interval for a new cell (Higgins, Thompson & Spiegelhalter 2009, J. R. Stat.
Soc. A 172:137) and the probability of improvement pooled over every pair (Wilson)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

META_COLUMNS = (
    "candidate", "k_cells", "gain", "se", "ci_low", "ci_high", "tau2", "i2", "pred_low",
    "pred_high", "share_cells_ci_above_0", "n_pairs", "prob_improvement", "prob_low",
    "prob_high", "method",
)  # fmt: skip


META_METHOD = "random effects: DerSimonian–Laird τ² (≥ 0), Hartung–Knapp–Sidik–Jonkman CI"


def meta_analysis(comparisons: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Does the gain hold across cells? One row per candidate of `compare_losses` output.

    * `gain`, `se`, `ci_low`, `ci_high`: the random-effects pooled gain μ over the candidate's
      cells, weighted 1 / (se_i² + τ²) with τ² by DerSimonian–Laird, truncated at 0
      (statsmodels `combine_effects(method_re="dl")`); the CI is Hartung–Knapp–Sidik–
      Jonkman's (t with k − 1 df), which keeps its level with few cells where the normal
      DL interval does not (IntHout et al. 2014, BMC Med. Res. Methodol. 14:25).
    * `tau2`: between-cell variance of the true gain; `i2`: share of the spread of the cell
      gains due to that heterogeneity, max(0, (Q − (k − 1)) / Q).
    * `pred_low`, `pred_high`: where the gain of a new cell is expected to fall,
      μ ± t_{k−2, 1−α/2}·√(τ² + se_μ²) (Higgins, Thompson & Spiegelhalter 2009); needs k ≥ 3.
    * `share_cells_ci_above_0`: share of the candidate's cells whose own CI lies above 0.
    * `prob_improvement` (`prob_low`, `prob_high`: Wilson interval): share of all its pairs,
      over every cell, where the candidate is better (ties ½); paired rows only.

    Cells whose gain has no positive standard error (one pair, or identical differences) have
    no weight and are left out of the pooled gain (`k_cells` counts the cells used).
    """
    from statsmodels.stats.meta_analysis import combine_effects
    from statsmodels.stats.proportion import proportion_confint

    rows = []
    for cand, frame in comparisons.groupby("candidate", sort=True):
        use = frame[np.isfinite(frame["gain"]) & (frame["se"] > 0)]
        k = len(use)
        row: dict[str, Any] = dict.fromkeys(META_COLUMNS, math.nan)
        row.update(candidate=cand, k_cells=k, method=META_METHOD)
        if k == 1:
            only = use.iloc[0]
            row.update(gain=only["gain"], se=only["se"], ci_low=only["ci_low"],
                       ci_high=only["ci_high"])  # fmt: skip
        elif k >= 2:
            effects, variances = use["gain"].to_numpy(float), use["se"].to_numpy(float) ** 2
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # τ² = 0 and k = 2 divide by zero inside
                res = combine_effects(effects, variances, method_re="dl", use_t=True, alpha=alpha)
                if res.tau2 < 0:
                    # statsmodels 0.15 leaves DL's τ² = (Q − (k − 1)) / c negative when
                    # Q < k − 1; the estimator is truncated at 0, which is exactly what its
                    # Paule–Mandel path returns in that case (its first step stops at τ² = 0).
                    res = combine_effects(
                        effects, variances, method_re="iterated", use_t=True, alpha=alpha
                    )
                    assert res.tau2 == 0
                hksj = res.summary_frame().loc["random effect wls"]
            mu, se_mu, tau2 = float(res.mean_effect_re), float(res.sd_eff_w_re), float(res.tau2)
            q = float(res.q)
            row.update(
                gain=mu, se=se_mu, ci_low=float(hksj["ci_low"]), ci_high=float(hksj["ci_upp"]),
                tau2=tau2, i2=max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0,
            )  # fmt: skip
            if k >= 3:
                half = stats.t.ppf(1 - alpha / 2, k - 2) * math.sqrt(tau2 + se_mu**2)
                row.update(pred_low=mu - half, pred_high=mu + half)
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
