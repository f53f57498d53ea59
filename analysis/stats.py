"""Paired statistics for "does loss X beat the reference loss?" — pure, typed, seeded.

A *pair* is a candidate trial and a reference trial at the same cell (every grid axis but the
loss and the seed) and the same seed: same initialisation, batches and noisy labels. The gain
is oriented so that positive means the candidate is better (for errors, NLL, ECE, Brier:
reference − candidate). Per candidate × cell, `compare_losses` reports:

* `gain`: mean paired difference; `se`: its standard error (sd / √n); `ci_low`, `ci_high`: a
  95 % CI of that mean by `ci_method` (named in `ci_method`): `t` (default) the paired
  t-interval, exact for normal differences and nominal at n = 3–10 (see docs/analysis.md);
  `bca` / `percentile` the bootstrap intervals of scipy.stats.bootstrap (seeded), which
  undercover with 5–10 pairs (82 % at n = 5 for a nominal 95 %);
* `p_t`: paired t-test; `p_wilcoxon`: Wilcoxon signed-rank, exact for small n — with n = 5
  pairs its smallest two-sided p is 2/2⁵ = 0.0625, so it can never reach 0.05;
* `p_holm` (family-wise: "the gain holds in every cell") and `q_bh` (Benjamini–Hochberg,
  screening) over all rows, from `p_t`, with statsmodels' `multipletests`;
* `prob_improvement`: share of pairs where the candidate is better (ties count ½), with a
  Wilson 95 % interval (`pi_low`, `pi_high`);
* `d_z`: Cohen's d for paired data, mean / sd of the differences;
* `mde`: the smallest gain a two-sided paired t-test at α detects with power 0.8, given the
  observed sd of differences and n (noncentral t; statsmodels `TTestPower`), and
  `seeds_needed`: pairs needed to detect the observed gain with that power;
* `verdict`: `gain` / `loss` when p_holm < α and the CI excludes 0 on that side; otherwise
  `no detectable difference` when the study could detect `min_effect` (mde ≤ min_effect),
  else `underpowered`.

Unmatched seeds in a cell (a trial missing on one side) fall back to Welch's t-test on the two
groups (`paired` = False, `note` says so; the `t` CI is then Welch's); the Wilcoxon and d_z
columns are then empty.

Pooling over cells: `analysis.meta`; power: `analysis.power`; intervals: `analysis.intervals`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.intervals import CI_METHODS, mean_ci
from analysis.orientation import higher_is_better
from analysis.power import minimum_detectable_effect, pairs_needed

VERDICTS = ("gain", "loss", "no detectable difference", "underpowered")
COLUMNS = (
    "candidate", "n_pairs", "gain", "se", "ci_low", "ci_high", "ci_method", "p_t", "p_wilcoxon",
    "p_holm", "q_bh",
    "prob_improvement", "pi_low", "pi_high", "d_z", "mde", "seeds_needed", "verdict", "paired",
    "note",
)  # fmt: skip



def paired_row(
    diffs: np.ndarray, alpha: float, seed: int, n_resamples: int, ci_method: str = "t"
) -> dict[str, Any]:
    """Statistics of one vector of paired differences (positive = candidate better)."""
    from statsmodels.stats.proportion import proportion_confint

    diffs = np.asarray(diffs, dtype=float)
    n = len(diffs)
    mean = float(np.mean(diffs)) if n else math.nan
    sd = float(np.std(diffs, ddof=1)) if n >= 2 else math.nan
    low, high = mean_ci(diffs, alpha, ci_method, seed, n_resamples)
    if n >= 2 and sd > 0:
        p_t = float(stats.ttest_1samp(diffs, 0.0).pvalue)
    elif n >= 2:  # every pair differs by the same amount
        p_t = 1.0 if mean == 0 else 0.0
    else:
        p_t = math.nan
    p_w = math.nan
    if n >= 1 and np.any(diffs != 0):
        p_w = float(stats.wilcoxon(diffs).pvalue)
    elif n >= 1:
        p_w = 1.0
    wins = float(np.sum(diffs > 0) + 0.5 * np.sum(diffs == 0))
    pi_low, pi_high = (math.nan, math.nan)
    if n:
        pi_low, pi_high = (float(v) for v in proportion_confint(wins, n, alpha, method="wilson"))
    d_z = mean / sd if n >= 2 and sd > 0 else (math.inf if n >= 2 and mean != 0 else math.nan)
    return {
        "n_pairs": n,
        "gain": mean,
        "se": sd / math.sqrt(n) if n >= 2 else math.nan,
        "ci_low": low,
        "ci_high": high,
        "ci_method": ci_method,
        "p_t": p_t,
        "p_wilcoxon": p_w,
        "prob_improvement": wins / n if n else math.nan,
        "pi_low": pi_low,
        "pi_high": pi_high,
        "d_z": d_z,
        "mde": minimum_detectable_effect(sd, n, alpha) if n >= 2 else math.inf,
        "seeds_needed": pairs_needed(d_z, alpha),
        "paired": True,
        "note": "",
    }


def welch_row(
    cand: np.ndarray,
    ref: np.ndarray,
    alpha: float,
    seed: int,
    n_resamples: int,
    ci_method: str = "t",
) -> dict[str, Any]:
    """Unmatched groups (values already oriented: larger = better): Welch's t-test, and
    Welch's CI (`t`) or a percentile bootstrap of the difference of means (otherwise)."""
    from statsmodels.stats.power import TTestIndPower

    cand, ref = np.asarray(cand, float), np.asarray(ref, float)
    gain = float(cand.mean() - ref.mean()) if len(cand) and len(ref) else math.nan
    p_t, low, high, mde, se = math.nan, math.nan, math.nan, math.inf, math.nan
    if len(cand) >= 2 and len(ref) >= 2:
        welch = stats.ttest_ind(cand, ref, equal_var=False)
        p_t = float(welch.pvalue)
        se = math.sqrt(cand.var(ddof=1) / len(cand) + ref.var(ddof=1) / len(ref))
        if ci_method == "t":
            ci = welch.confidence_interval(1 - alpha)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ci = stats.bootstrap(
                    (cand, ref), lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
                    confidence_level=1 - alpha, method="percentile", n_resamples=n_resamples,
                    rng=np.random.default_rng(seed),
                ).confidence_interval  # fmt: skip
        low, high = float(ci.low), float(ci.high)
        pooled = math.sqrt((cand.var(ddof=1) + ref.var(ddof=1)) / 2)
        if pooled > 0:
            d = TTestIndPower().solve_power(
                effect_size=None, nobs1=len(cand), ratio=len(ref) / len(cand), alpha=alpha,
                power=0.8,
            )  # fmt: skip
            mde = float(d) * pooled
    return {
        "n_pairs": min(len(cand), len(ref)),
        "gain": gain,
        "se": se,
        "ci_low": low,
        "ci_high": high,
        "ci_method": ci_method if ci_method == "t" else "percentile",
        "p_t": p_t,
        "p_wilcoxon": math.nan,
        "prob_improvement": math.nan,
        "pi_low": math.nan,
        "pi_high": math.nan,
        "d_z": math.nan,
        "mde": mde,
        "seeds_needed": math.nan,
        "paired": False,
        "note": f"unmatched seeds ({len(cand)} vs {len(ref)} trials): Welch's t-test",
    }


def verdict(row: dict[str, Any], alpha: float, min_effect: float) -> str:
    p = row["p_holm"]
    if isinstance(p, float) and math.isfinite(p) and p < alpha:
        if row["ci_low"] > 0:
            return "gain"
        if row["ci_high"] < 0:
            return "loss"
    if row["n_pairs"] >= 2 and row["mde"] <= min_effect:
        return "no detectable difference"
    return "underpowered"


def compare_losses(
    trials: pd.DataFrame,
    metric: str,
    reference: str = "ce",
    cell_keys: Sequence[str] = (),
    pair_key: str = "seed",
    alpha: float = 0.05,
    seed: int = 0,
    min_effect: float = 0.5,
    candidate_key: str = "loss_label",
    n_resamples: int = 9999,
    higher_better: bool | None = None,
    ci_method: str = "t",
) -> pd.DataFrame:
    """One row per candidate loss × cell; see the module docstring for every column.

    trials: one row per finished trial with `candidate_key`, `pair_key`, the `cell_keys` and
    `metric`. `min_effect`: the smallest gain of interest, in the metric's units (default 0.5:
    the paper's claimed top-5 gain, 6.7 → 6.2 points). `ci_method`: `t` (default), `bca` or
    `percentile` (bootstrap, `n_resamples` resamples seeded by `seed`).
    """
    from statsmodels.stats.multitest import multipletests

    if ci_method not in CI_METHODS:
        raise ValueError(f"ci_method {ci_method!r}: allowed {', '.join(CI_METHODS)}")
    missing = [c for c in (candidate_key, pair_key, metric, *cell_keys) if c not in trials]
    if missing:
        raise KeyError(f"trials lack column(s) {missing}")
    sign = 1.0 if (higher_is_better(metric) if higher_better is None else higher_better) else -1.0
    data = trials.dropna(subset=[metric])
    if reference not in set(data[candidate_key]):
        raise ValueError(f"reference {reference!r} not among {sorted(set(data[candidate_key]))}")
    rows: list[dict[str, Any]] = []
    groups = data.groupby(list(cell_keys), dropna=False) if cell_keys else [((), data)]
    for cell, frame in groups:
        cell_values = cell if isinstance(cell, tuple) else (cell,)
        ref = frame[frame[candidate_key] == reference].set_index(pair_key)[metric]
        for cand_name in sorted(set(frame[candidate_key]) - {reference}):
            cand = frame[frame[candidate_key] == cand_name].set_index(pair_key)[metric]
            matched = (
                cand.index.is_unique and ref.index.is_unique and set(cand.index) == set(ref.index)
            )
            if matched:
                diffs = sign * (cand - ref.loc[cand.index]).to_numpy()
                row = paired_row(diffs, alpha, seed, n_resamples, ci_method)
            else:
                row = welch_row(
                    sign * cand.to_numpy(), sign * ref.to_numpy(), alpha, seed, n_resamples,
                    ci_method,
                )  # fmt: skip
            row["candidate"] = cand_name
            row.update(dict(zip(cell_keys, cell_values, strict=True)))
            rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=[*COLUMNS[:1], *cell_keys, *COLUMNS[1:]])
    out["p_holm"], out["q_bh"] = math.nan, math.nan
    ok = out["p_t"].notna()
    if ok.sum() == 1:  # one test: both corrections are the identity (and statsmodels' Holm
        out.loc[ok, "p_holm"] = out.loc[ok, "q_bh"] = out.loc[ok, "p_t"]  # runs gc.collect)
    elif ok.any():
        out.loc[ok, "p_holm"] = multipletests(out.loc[ok, "p_t"], alpha, method="holm")[1]
        out.loc[ok, "q_bh"] = multipletests(out.loc[ok, "p_t"], alpha, method="fdr_bh")[1]
    out["verdict"] = [verdict(r, alpha, min_effect) for r in out.to_dict("records")]
    return out[[COLUMNS[0], *cell_keys, *COLUMNS[1:]]]


