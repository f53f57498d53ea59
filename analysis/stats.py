"""Paired statistics for "does loss X beat the reference loss?", read off simultaneous intervals.

A *pair* is a candidate trial and a reference trial at the same setting (every grid axis but
the loss and the seed) and the same seed: same initialisation, batches and noisy labels; a
row (candidate × setting) pairs the seeds both sides ran. The gain is oriented so that
positive means the candidate is better (for errors, NLL, ECE, Brier: reference − candidate).
A diverged trial is a result at its chance-level value (`study.training.finals`), counted in
`n_diverged` (candidate) and `n_diverged_reference`. Per row, `compare_losses` reports:

* `gain`: mean paired difference; `se`, `df`: its standard error and degrees of freedom,
  by `family_method` (`analysis.family`): `maxt-losses` (default), the seed-level model of
  `analysis.seedmodel` with each loss's own variance per setting, moderated over the study
  (`analysis.loss_variances`; with two rows in every setting, a level per setting and per
  loss, `analysis.scale_variances`; else the rows' variances where a setting has fewer than
  three rows, and `method` says which); `maxt`, the same model with each row's variance moderated
  (`analysis.variances`); `bonferroni`, the row's own sd / √n on n − 1;
* `family`: `confirmatory` (the `primary` candidates) or `exploratory` (the others) when a
  primary set is given, else `all`; each family has its own simultaneous intervals at level
  1 − α, `family_size` rows, critical value `crit`; `method` names the method;
* `ci_low`, `ci_high`: the simultaneous (1 − α) interval gain ± crit·se; `tost_low`,
  `tost_high`: the interval `equivalent` is read from (`analysis.family`);
* `verdict`: `gain` ⇔ ci_low > 0; `loss` ⇔ ci_high < 0; else `equivalent` ⇔ the TOST
  interval lies inside ±min_effect; else `inconclusive` (also for a row without an interval:
  one pair, or n identical differences). Family-wise, P(any `gain`/`loss` of the wrong sign
  or at a true gain of 0) ≤ α and P(any `equivalent` at |true gain| ≥ min_effect) ≤ α
  (benchmarks/stats_calibration.py measures both, docs/analysis.md);
* `p_t`: the row's t-test on `df`; `p_adj`: adjusted for the family (below α exactly when
  the interval excludes 0); `q_bh`: Benjamini–Hochberg (statsmodels `multipletests`), a
  screening figure that is not a verdict;
* `ci_low_unadjusted`, `ci_high_unadjusted`: the row's own (1 − α) interval by `ci_method`
  (`t`, or the seeded bootstrap `bca` / `percentile`) on its n − 1 degrees of freedom, not
  adjusted for the family and not read for any verdict;
* `p_wilcoxon`: Wilcoxon signed-rank, exact for small n (with n = 5 pairs its smallest
  two-sided p is 2/2⁵ = 0.0625); `prob_improvement`: share of pairs where the candidate is
  better (ties ½), Wilson interval `pi_low`, `pi_high`; `d_z`: mean / sd of the differences;
* planning figures at the row's adjusted level, not verdict inputs: `mde`, the smallest gain
  a paired t-test detects with power 0.8 (statsmodels `TTestPower`), and `seeds_needed`, the
  pairs needed to detect the observed gain with that power.

Trials whose seed the other side lacks are left out of the row (`note` says how many).
Across settings: `analysis.trends` (designed noise rates), `analysis.meta` (exchangeable
axes); power: `analysis.power`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec

import numpy as np
import pandas as pd
from scipy import stats

from analysis import family as fam
from analysis import maxt, seedmodel
from analysis.intervals import CI_METHODS, mean_ci
from analysis.orientation import higher_is_better
from study import contract

P = ParamSpec("P")
VERDICTS = ("gain", "loss", "equivalent", "inconclusive")
FAMILIES = ("confirmatory", "exploratory", "all")
COLUMNS = (
    "candidate", "n_pairs", "gain", "se", "df", "ci_low", "ci_high", "tost_low", "tost_high",
    "verdict", "p_t", "p_adj", "q_bh", "family", "family_size", "crit", "method",
    "n_diverged", "n_diverged_reference", "ci_low_unadjusted", "ci_high_unadjusted",
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


def _no_interval(n: int) -> str:
    if n < 2:
        return "fewer than 2 pairs: no interval"
    return "every pair differs by the same amount: no interval (no spread to estimate)"


@dataclass(frozen=True)
class Comparison:
    """`compare`'s result: the table (module docstring), the correlation of its rows' gains
    (table order: what `analysis.trends` combines) and the variance components."""

    table: pd.DataFrame
    corr: np.ndarray
    components: dict[str, float]


def compare(
    trials: pd.DataFrame,
    metric: str,
    reference: str = "ce",
    setting_keys: Sequence[str] = (),
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
    family_method: str = fam.DEFAULT_METHOD,
    primary: Sequence[str] | None = None,
    draws: int = maxt.DRAWS,
) -> Comparison:
    """One row per candidate loss × setting; see the module docstring for every column.

    trials: one row per finished trial with `candidate_key`, `pair_key`, the `setting_keys` and
    `metric` (and `final_diverged` where trials diverged). `min_effect` (> 0): the smallest
    gain of interest, in the metric's units (default 0.5: the paper's claimed top-5 gain,
    6.7 → 6.2 points); it sets the equivalence margins. `ci_method`: the unadjusted
    interval's method, `t` (default), `bca` or `percentile` (bootstrap, `n_resamples`
    resamples seeded by `seed`). `family_method`: `maxt-losses`, `maxt` or `bonferroni`;
    `primary`: the candidates of the confirmatory family (None: one family of every row);
    `family_size`:
    Bonferroni's m when the family is larger than this call; `draws`: Monte-Carlo draws of
    the max-|t| distribution (seeded by `seed`). `describe` = False skips the descriptive
    and planning columns.
    """
    _check(trials, metric, reference, [candidate_key, pair_key, metric, *setting_keys], alpha,
           min_effect, ci_method, family_method, primary, candidate_key)  # fmt: skip
    sign = 1.0 if (higher_is_better(metric) if higher_better is None else higher_better) else -1.0
    rows = seedmodel.paired_rows(trials, metric, reference, setting_keys, pair_key, candidate_key,
                                 sign, contract.DIVERGED)  # fmt: skip
    order = [COLUMNS[0], *setting_keys, *COLUMNS[1:]]
    if not rows:
        return Comparison(pd.DataFrame(columns=order), np.eye(0), {})
    notes = _notes(rows, trials, metric, candidate_key, reference, pair_key, setting_keys)
    table = pd.DataFrame([
        {**paired_row(r.diffs.to_numpy(), alpha, seed, n_resamples, ci_method, describe),
         **dict(zip(setting_keys, r.setting, strict=True)), "candidate": r.candidate,
         "n_diverged": r.n_diverged, "n_diverged_reference": r.n_diverged_reference,
         "note": note}
        for r, note in zip(rows, notes, strict=True)
    ])  # fmt: skip
    table["family"] = [_family(r.candidate, primary) for r in rows]
    table["method"] = fam.METHOD_NAMES[family_method]
    out, corr, components, used, why = _families(table, rows, family_method, alpha, seed,
                                                  draws, family_size)  # fmt: skip
    if used != family_method or why:
        out["method"] = f"{fam.METHOD_NAMES[used]} ({why})"
    out = fam.finish(out, alpha, min_effect, planning=describe)
    return Comparison(out[order].reset_index(drop=True), corr, components)


def _families(
    table: pd.DataFrame, rows: Sequence[seedmodel.Row], method: str, alpha: float, seed: int,
    draws: int, family_size: int | None,
) -> tuple[pd.DataFrame, np.ndarray, dict[str, float], str, str]:  # fmt: skip
    """Each family's simultaneous intervals by `method`; the rows' correlation, the
    variance components, the method used and why it differs (`maxt-losses` falls back to
    `maxt` where a setting does not identify its losses' variances)."""
    components: dict[str, float] = {}
    used, why = method, ""
    wcorr: np.ndarray | None = np.eye(len(rows))
    if method in fam.MODEL_METHODS:
        model = seedmodel.fit(rows, fam.MODEL_METHODS[method])
        table["se"], table["df"] = model.se, model.df
        corr, components, wcorr = model.corr, model.components, model.wcorr
        used = next(k for k, v in fam.MODEL_METHODS.items() if v == model.variances)
        why = model.fallback or model.detail
    else:  # each row's own variance; the correlation is only what `analysis.trends` combines
        own = table["se"].to_numpy(float) ** 2 * table["n_pairs"].to_numpy(float)
        corr = seedmodel.correlation(rows, np.where(own > 0, own, np.nan))
    parts = []
    for name in FAMILIES:
        pick = np.flatnonzero(table["family"].to_numpy() == name)
        if not len(pick):
            continue
        sub = table.iloc[pick]
        if method == "bonferroni":
            parts.append(fam.bonferroni(sub, alpha, family_size))
        else:
            drawn = None if wcorr is None else wcorr[np.ix_(pick, pick)]
            parts.append(fam.max_t(sub, corr[np.ix_(pick, pick)], alpha, seed, draws, drawn))
    return pd.concat(parts).sort_index(), corr, components, used, why


def _check(
    trials: pd.DataFrame, metric: str, reference: str, columns: Sequence[str], alpha: float,
    min_effect: float, ci_method: str, family_method: str, primary: Sequence[str] | None,
    candidate_key: str,
) -> None:  # fmt: skip
    """Clear errors on bad input, before any statistics."""
    if ci_method not in CI_METHODS:
        raise ValueError(f"ci_method {ci_method!r}: allowed {', '.join(CI_METHODS)}")
    if family_method not in fam.METHODS:
        raise ValueError(f"family_method {family_method!r}: allowed {', '.join(fam.METHODS)}")
    if not 0 < alpha < 1 or not min_effect > 0:
        raise ValueError(f"alpha {alpha} must lie in (0, 1) and min_effect {min_effect} be > 0")
    missing = [c for c in columns if c not in trials]
    if missing:
        raise KeyError(f"trials lack column(s) {missing}")
    known = set(trials.dropna(subset=[metric])[candidate_key])
    if reference not in known:
        raise ValueError(f"reference {reference!r} not among {sorted(known)}")
    unknown = sorted(set(primary or ()) - known)
    if unknown:
        raise ValueError(f"primary candidate(s) {unknown} not among {sorted(known - {reference})}")


def _table_of(function: Callable[P, Comparison]) -> Callable[P, pd.DataFrame]:
    @functools.wraps(function)
    def table(*args: P.args, **kwargs: P.kwargs) -> pd.DataFrame:
        return function(*args, **kwargs).table

    table.__doc__ = "`compare`'s table: one row per candidate loss × setting (module docstring)."
    return table


compare_losses = _table_of(compare)


def _family(candidate: str, primary: Sequence[str] | None) -> str:
    if primary is None:
        return "all"
    return "confirmatory" if candidate in primary else "exploratory"


def _notes(
    rows: Sequence[seedmodel.Row], trials: pd.DataFrame, metric: str, candidate_key: str,
    reference: str, pair_key: str, setting_keys: Sequence[str],
) -> list[str]:  # fmt: skip
    """Per row: why it has no interval, and how many trials its pairs leave out."""
    data = trials.dropna(subset=[metric])
    counts = data.groupby([*setting_keys, candidate_key], dropna=False)[pair_key].nunique()
    ran = {(k if isinstance(k, tuple) else (k,)): v for k, v in counts.items()}
    out = []
    for row in rows:
        n = len(row.diffs)
        notes = [_no_interval(n)] if n < 2 or np.ptp(row.diffs.to_numpy()) == 0 else []
        left = {name: ran.get((*row.setting, name), 0) - n for name in (row.candidate, reference)}
        listed = ", ".join(f"{k} of {name}" for name, k in left.items() if k > 0)
        if listed:
            notes.append(f"unmatched seeds left out: {listed}")
        out.append("; ".join(notes))
    return out
