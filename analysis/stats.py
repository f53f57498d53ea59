"""Paired statistics for "does loss X beat the reference loss?", read off simultaneous intervals.

A *pair* is a candidate trial and a reference trial at the same cell (every grid axis but the
loss and the seed) and the same seed: same initialisation, batches and noisy labels. The gain
is oriented so that positive means the candidate is better (for errors, NLL, ECE, Brier:
reference − candidate). The *family* is every candidate × cell row of one call (one report):
m rows that have an interval. Per row, `compare_losses` reports:

* `gain`: mean paired difference; `se`: its standard error (sd / √n); `df`: n − 1 (Welch–
  Satterthwaite's for unmatched rows);
* `ci_low`, `ci_high`: the **simultaneous** (1 − α) interval over the family, Bonferroni's
  t interval gain ± t_{df, 1 − α/(2m)}·se: all m intervals cover their true gains together
  with probability ≥ 1 − α (Bonferroni's inequality; exact t quantiles for normal
  differences);
* `tost_low`, `tost_high`: the family-adjusted (1 − 2α) interval, gain ± t_{df, 1 − α/m}·se.
  It lies inside ±`min_effect` exactly when both one-sided tests of the two one-sided tests
  procedure (TOST; Schuirmann 1987, Lakens 2017) reject at level α/m;
* `verdict`, read from those intervals only:
  `gain` ⇔ ci_low > 0; `loss` ⇔ ci_high < 0; else `equivalent` ⇔ −min_effect < tost_low and
  tost_high < min_effect; else `inconclusive`. A row without an interval (one pair, or n
  identical differences) is `inconclusive`. So P(any `gain`/`loss` of the wrong sign or at a
  true gain of 0) ≤ α and P(any `equivalent` at |true gain| ≥ min_effect) ≤ α, family-wise;
* `p_t`: the paired t-test (Welch's for unmatched rows); `p_adj` = min(1, m·p_t), Bonferroni:
  p_adj < α ⇔ the simultaneous interval excludes 0; `q_bh`: Benjamini–Hochberg (statsmodels
  `multipletests`), a screening figure that is not a verdict;
* `ci_low_unadjusted`, `ci_high_unadjusted`: the row's own (1 − α) interval by `ci_method`
  (`t`, or the seeded bootstrap `bca` / `percentile`), not adjusted for the family;
* `p_wilcoxon`: Wilcoxon signed-rank, exact for small n (with n = 5 pairs its smallest
  two-sided p is 2/2⁵ = 0.0625); `prob_improvement`: share of pairs where the candidate is
  better (ties ½), Wilson interval `pi_low`, `pi_high`; `d_z`: mean / sd of the differences;
* planning figures, not verdict inputs, at the adjusted level α/m: `mde`, the smallest gain a
  two-sided paired t-test detects with power 0.8 given the observed sd and n (noncentral t,
  statsmodels `TTestPower`), and `seeds_needed`, the pairs needed to detect the observed gain
  with that power.

Unmatched seeds in a cell (a trial missing on one side) fall back to Welch's t on the two
groups (`paired` = False, `note` says so); the Wilcoxon and d_z columns are then empty.
Pooling over cells: `analysis.meta` and `analysis.across`; power: `analysis.power`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.intervals import CI_METHODS, mean_ci, t_interval
from analysis.orientation import higher_is_better
from analysis.power import minimum_detectable_effect, pairs_needed

VERDICTS = ("gain", "loss", "equivalent", "inconclusive")
COLUMNS = (
    "candidate", "n_pairs", "gain", "se", "df", "ci_low", "ci_high", "tost_low", "tost_high",
    "verdict", "p_t", "p_adj", "q_bh", "family_size", "ci_low_unadjusted", "ci_high_unadjusted",
    "ci_method", "p_wilcoxon", "prob_improvement", "pi_low", "pi_high", "d_z", "mde",
    "seeds_needed", "paired", "note",
)  # fmt: skip


def paired_row(
    diffs: np.ndarray,
    alpha: float,
    seed: int,
    n_resamples: int,
    ci_method: str = "t",
    describe: bool = True,
) -> dict[str, Any]:
    """The per-row statistics of one vector of paired differences (positive = candidate
    better) that do not depend on the family; `describe` = False leaves out Wilcoxon and the
    probability of improvement (the calibration benchmark's many rows)."""
    from statsmodels.stats.proportion import proportion_confint

    diffs = np.asarray(diffs, dtype=float)
    n = len(diffs)
    mean = float(np.mean(diffs)) if n else math.nan
    sd = float(np.std(diffs, ddof=1)) if n >= 2 else math.nan
    low, high = mean_ci(diffs, alpha, ci_method, seed, n_resamples)
    row: dict[str, Any] = {
        "n_pairs": n,
        "gain": mean,
        "se": sd / math.sqrt(n) if n >= 2 else math.nan,
        "df": float(n - 1) if n >= 2 else math.nan,
        "ci_low_unadjusted": low,
        "ci_high_unadjusted": high,
        "ci_method": ci_method,
        "p_wilcoxon": math.nan,
        "prob_improvement": math.nan,
        "pi_low": math.nan,
        "pi_high": math.nan,
        "d_z": mean / sd if n >= 2 and sd > 0 else math.nan,
        "paired": True,
        "note": "" if n >= 2 and sd > 0 else _no_interval(n),
    }
    if describe and n:
        row["p_wilcoxon"] = float(stats.wilcoxon(diffs).pvalue) if np.any(diffs != 0) else 1.0
        wins = float(np.sum(diffs > 0) + 0.5 * np.sum(diffs == 0))
        pi = proportion_confint(wins, n, alpha, method="wilson")
        row.update(prob_improvement=wins / n, pi_low=float(pi[0]), pi_high=float(pi[1]))
    return row


def welch_row(
    cand: np.ndarray,
    ref: np.ndarray,
    alpha: float,
    seed: int,
    n_resamples: int,
    ci_method: str = "t",
) -> dict[str, Any]:
    """Unmatched groups (values already oriented: larger = better): Welch's se and df, and
    the unadjusted interval by Welch (`t`) or a percentile bootstrap of the difference of
    means (otherwise)."""
    cand, ref = np.asarray(cand, float), np.asarray(ref, float)
    gain = float(cand.mean() - ref.mean()) if len(cand) and len(ref) else math.nan
    se, df, low, high = math.nan, math.nan, math.nan, math.nan
    if len(cand) >= 2 and len(ref) >= 2:
        va, vb = cand.var(ddof=1) / len(cand), ref.var(ddof=1) / len(ref)
        if va + vb > 0:
            se = math.sqrt(va + vb)
            df = (va + vb) ** 2 / (va**2 / (len(cand) - 1) + vb**2 / (len(ref) - 1))
            low, high = (float(v) for v in t_interval(gain, se, df, 1 - alpha))
            if ci_method != "t":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # tiny or lumpy samples
                    ci = stats.bootstrap(
                        (cand, ref), lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
                        confidence_level=1 - alpha, method="percentile",
                        n_resamples=n_resamples, rng=np.random.default_rng(seed),
                    ).confidence_interval  # fmt: skip
                low, high = float(ci.low), float(ci.high)
    note = f"unmatched seeds ({len(cand)} vs {len(ref)} trials): Welch's t"
    return {
        "n_pairs": min(len(cand), len(ref)),
        "gain": gain,
        "se": se,
        "df": df,
        "ci_low_unadjusted": low,
        "ci_high_unadjusted": high,
        "ci_method": ci_method if ci_method == "t" else "percentile",
        "p_wilcoxon": math.nan,
        "prob_improvement": math.nan,
        "pi_low": math.nan,
        "pi_high": math.nan,
        "d_z": math.nan,
        "paired": False,
        "note": note if math.isfinite(se) else f"{note}; {_no_interval(0)}",
    }


def _no_interval(n: int) -> str:
    if n < 2:
        return "fewer than 2 pairs: no interval"
    return "every pair differs by the same amount: no interval (no spread to estimate)"


def adjust_family(
    rows: pd.DataFrame,
    alpha: float,
    min_effect: float,
    family_size: int | None = None,
    planning: bool = True,
) -> pd.DataFrame:
    """Add the family-wise columns to per-row statistics (`gain`, `se`, `df`, `n_pairs`,
    `d_z`): the simultaneous and TOST intervals, `p_t`, `p_adj`, `q_bh`, `verdict`, and (with
    `planning`) `mde` and `seeds_needed` at α/m. m = `family_size`, else the rows that have
    an interval."""
    from statsmodels.stats.multitest import multipletests

    out = rows.copy()
    gain, se, df = (out[c].to_numpy(float) for c in ("gain", "se", "df"))
    has = np.isfinite(gain) & np.isfinite(se) & (se > 0) & np.isfinite(df)
    m = int(family_size if family_size is not None else max(1, int(has.sum())))
    out["family_size"] = m
    out["ci_low"], out["ci_high"] = t_interval(gain, se, df, 1 - alpha / m)
    out["tost_low"], out["tost_high"] = t_interval(gain, se, df, 1 - 2 * alpha / m)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_t = np.where(has, 2 * stats.t.sf(np.abs(gain / se), np.where(has, df, 1.0)), math.nan)
    out["p_t"] = p_t
    out["p_adj"] = np.minimum(1.0, p_t * m)
    out["q_bh"] = math.nan
    if has.sum() >= 2:
        out.loc[has, "q_bh"] = multipletests(p_t[has], alpha, method="fdr_bh")[1]
    elif has.sum() == 1:
        out.loc[has, "q_bh"] = p_t[has]
    out["verdict"] = verdicts(out, min_effect)
    if planning:
        sd = se * np.sqrt(out["n_pairs"].to_numpy(float))
        out["mde"] = [
            minimum_detectable_effect(s, int(n), alpha / m) if p else math.nan
            for s, n, p in zip(sd, out["n_pairs"], out["paired"], strict=True)
        ]
        out["seeds_needed"] = [pairs_needed(d, alpha / m) for d in out["d_z"].to_numpy(float)]
    else:
        out["mde"], out["seeds_needed"] = math.nan, math.nan
    return out


def verdicts(rows: pd.DataFrame, min_effect: float) -> np.ndarray:
    """The verdict of each row, from its printed intervals alone (module docstring)."""
    low, high = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
    t_low, t_high = rows["tost_low"].to_numpy(float), rows["tost_high"].to_numpy(float)
    equivalent = (t_low > -min_effect) & (t_high < min_effect)
    return np.select(
        [low > 0, high < 0, equivalent], ["gain", "loss", "equivalent"], "inconclusive"
    ).astype(object)


def _cell_rows(
    values: dict[str, pd.Series],
    reference: str,
    alpha: float,
    seed: int,
    n_resamples: int,
    ci_method: str,
    describe: bool,
) -> list[dict[str, Any]]:
    """One cell's rows, candidate by candidate: paired by `pair_key` when both sides have the
    same unique pairs, else Welch. `values`: oriented metric values per candidate."""
    ref = values.get(reference, pd.Series(dtype=float))
    rows = []
    for name in sorted(set(values) - {reference}):
        cand = values[name]
        matched = cand.index.is_unique and ref.index.is_unique and set(cand.index) == set(ref.index)
        if matched:
            diffs = (cand - ref.loc[cand.index]).to_numpy()
            row = paired_row(diffs, alpha, seed, n_resamples, ci_method, describe)
        else:
            row = welch_row(cand.to_numpy(), ref.to_numpy(), alpha, seed, n_resamples, ci_method)
        rows.append({**row, "candidate": name})
    return rows


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
    family_size: int | None = None,
    describe: bool = True,
) -> pd.DataFrame:
    """One row per candidate loss × cell; see the module docstring for every column.

    trials: one row per finished trial with `candidate_key`, `pair_key`, the `cell_keys` and
    `metric`. `min_effect` (> 0): the smallest gain of interest, in the metric's units (default
    0.5: the paper's claimed top-5 gain, 6.7 → 6.2 points); it sets the equivalence margins.
    `ci_method`: the unadjusted interval's method, `t` (default), `bca` or `percentile`
    (bootstrap, `n_resamples` resamples seeded by `seed`); the simultaneous intervals are
    always Bonferroni t. `family_size`: m, when the family is larger than this call (the
    calibration benchmark simulates many families in one call). `describe` = False skips the
    descriptive and planning columns.
    """
    if ci_method not in CI_METHODS:
        raise ValueError(f"ci_method {ci_method!r}: allowed {', '.join(CI_METHODS)}")
    if not 0 < alpha < 1 or not min_effect > 0:
        raise ValueError(f"alpha {alpha} must lie in (0, 1) and min_effect {min_effect} be > 0")
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
        by = frame.groupby(candidate_key)
        values = {name: sign * g.set_index(pair_key)[metric] for name, g in by}
        for row in _cell_rows(values, reference, alpha, seed, n_resamples, ci_method, describe):
            row.update(dict(zip(cell_keys, cell_values, strict=True)))
            rows.append(row)
    order = [COLUMNS[0], *cell_keys, *COLUMNS[1:]]
    if not rows:
        return pd.DataFrame(columns=order)
    out = adjust_family(pd.DataFrame(rows), alpha, min_effect, family_size, planning=describe)
    return out[order]
