"""Time to target: how many epochs a trial needs to reach a given test error (pandas; scipy's
binomial for the mid-p McNemar test of the paired misses).

The convention of the MLCommons AlgoPerf benchmark (Dahl et al. 2023, arXiv 2306.07179):
speed is the time to reach a fixed quality target, not the quality at a fixed time. Here time
is epochs (identical cost per epoch for every loss, up to the loss's own few microseconds).

Per trial: the first epoch at which its per-epoch curve (for `final_paper_top5_error`, the
curve `test_top5_error`) reaches the target — at or below it for errors, at or above it for
anything higher-is-better. Each comparison (candidate × setting) has its own target, built
from both arms alike: the value that 90 % of the two losses' trials there reach, the
⌈0.9·2n⌉-th best of their best values over training. A target built from the reference's
seeds alone is one the reference reaches ≥ 90 % of the time by construction, which tilts
the comparison toward it; from both arms, two identical losses are exchangeable. A stated
`target` replaces it.

A trial that never reaches it is kept, not dropped (dropping would flatter the slower loss):
`reached` is False, `reached_epoch` is empty, and `epochs_to_target` is the budget + 1. The
mean of `epochs_to_target` is therefore a *restricted mean* time to target (restricted at
budget + 1 epochs), which is the estimand `compare_losses` compares. How often each side
misses is compared on its own, pair by pair (`paired_misses`: the mid-p McNemar test,
Fagerland, Lydersen & Laake 2013, BMC Med. Res. Methodol. 13:91: the exact conditional
binomial test less half the probability of the observed count, which keeps its level more
closely than the exact test's conservative one). benchmarks/stats_calibration.py checks
both on two identical losses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.orientation import higher_is_better
from study.contract import epoch_curve

TARGET_COLUMNS = ("comparison", "target", "reached", "reached_epoch", "epochs_to_target")
TARGET_SHARE = 0.9  # the share of both arms' trials that reach the default target
COMPARISON = "comparison"  # the candidate whose comparison a row belongs to


def time_to_target(
    epochs: pd.DataFrame,
    trials: pd.DataFrame,
    metric: str,
    reference: str = "ce",
    setting_keys: Sequence[str] = (),
    target: float | None = None,
    candidate_key: str = "loss_label",
) -> pd.DataFrame:
    """Per comparison, its trials (the candidate's and the reference's of each setting) with
    the columns `comparison` (the candidate), `target`, `reached`, `reached_epoch`,
    `epochs_to_target`; a reference trial appears once per comparison it belongs to.

    epochs: long table (`run_id`, `metric`, `step`, `value`) as `analysis.load` builds it;
    trials: one row per trial with `run_id`, `candidate_key`, the setting keys and `metric` (the
    final value). `target`: one stated value for every comparison instead of the value 90 %
    of its two arms' trials reach (module docstring). The budget of a trial is its
    `schedule.epochs` when that column exists, else the last epoch it logged. Compare with
    `compare_losses(..., setting_keys=[*setting_keys, "comparison"])`.
    """
    curve_name = epoch_curve(metric)
    lower = not higher_is_better(curve_name)
    curves = epochs[epochs["metric"] == curve_name]
    best = curves.groupby("run_id")["value"].agg("min" if lower else "max")
    ref = trials[trials[candidate_key] == reference]
    parts = [
        pd.concat([trials[trials[candidate_key] == cand], ref]).assign(**{COMPARISON: cand})
        for cand in sorted(set(trials[candidate_key]) - {reference})
    ]
    if not parts:
        return trials.iloc[:0].assign(**{c: [] for c in TARGET_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    if target is not None:
        out["target"] = float(target)
    else:
        share = _reached_by_share(lower)
        keys = [*setting_keys, COMPARISON]
        goals = (out.assign(best=out["run_id"].map(best)).groupby(keys, dropna=False)["best"]
                 .agg(share).rename("target"))  # fmt: skip
        out = out.merge(goals.reset_index(), on=keys, how="left")
    # vectorised over all runs at once (a loop over runs took 1.1 s per 1,000 runs)
    long = out[["run_id", COMPARISON, "target"]].reset_index().merge(curves, on="run_id")
    hit = (long["value"] <= long["target"]) if lower else (long["value"] >= long["target"])
    first = long[hit & np.isfinite(long["target"])].groupby("index")["step"].min()
    last = out["run_id"].map(curves.groupby("run_id")["step"].max()).fillna(0.0).astype(float)
    reached_at = pd.Series(out.index.map(first), index=out.index, dtype=float)
    if "schedule.epochs" in out:
        budgets = out["schedule.epochs"].where(out["schedule.epochs"].notna(), last).astype(float)
    else:
        budgets = last
    out["reached_epoch"] = reached_at.where(np.isfinite(out["target"].astype(float)))
    out["reached"] = out["reached_epoch"].notna()
    out["epochs_to_target"] = out["reached_epoch"].fillna(budgets + 1.0)
    return out


def _reached_by_share(lower: bool) -> Callable[[pd.Series], float]:
    """The value that ⌈0.9·n⌉ of n best values reach (at or below it for errors)."""

    def share(best: pd.Series) -> float:
        values = np.sort(best.dropna().to_numpy(float))
        if not len(values):
            return math.nan
        values = values if lower else values[::-1]
        return float(values[math.ceil(TARGET_SHARE * len(values)) - 1])

    return share


def mid_p_mcnemar(only_candidate: int, only_reference: int) -> float:
    """Two-sided mid-p McNemar test of b = `only_candidate` against c = `only_reference`
    discordant pairs: 2·[P(X ≤ k) − ½·P(X = k)], X ~ Bin(b + c, ½), k = min(b, c), at most 1
    (1 when no pair is discordant)."""
    n, k = only_candidate + only_reference, min(only_candidate, only_reference)
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * (stats.binom.cdf(k, n, 0.5) - 0.5 * stats.binom.pmf(k, n, 0.5))))


def paired_misses(
    frame: pd.DataFrame,
    reference: str = "ce",
    setting_keys: Sequence[str] = (),
    pair_key: str = "seed",
    candidate_key: str = "loss_label",
) -> pd.DataFrame:
    """Per candidate × setting, the pairs (same seed) by who reached the comparison's target,
    and the mid-p McNemar test of the discordant pairs (`mid_p_mcnemar`); `frame` is
    `time_to_target`'s."""
    keys = [*setting_keys, *([COMPARISON] if COMPARISON in frame else []), pair_key]
    ref = frame[frame[candidate_key] == reference][[*keys, "reached"]]
    cand = frame[frame[candidate_key] != reference][[candidate_key, *keys, "reached"]]
    pairs = cand.merge(ref, on=keys, suffixes=("", "_ref"))
    rows = []
    for key, group in pairs.groupby([candidate_key, *setting_keys], dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        c, r = group["reached"].astype(bool), group["reached_ref"].astype(bool)
        both, only_c, only_r = int((c & r).sum()), int((c & ~r).sum()), int((~c & r).sum())
        table = [[both, only_c], [only_r, int((~c & ~r).sum())]]
        rows.append({
            "candidate": key[0], **dict(zip(setting_keys, key[1:], strict=True)),
            "n_pairs": len(group), "both_reached": both, "only_candidate": only_c,
            "only_reference": only_r, "neither": table[1][1],
            "p_mcnemar_mid": mid_p_mcnemar(only_c, only_r),
        })  # fmt: skip
    return pd.DataFrame(rows)


def never_reached(
    frame: pd.DataFrame, setting_keys: Sequence[str] = (), candidate_key: str = "loss_label"
) -> pd.DataFrame:
    """Per comparison, loss and setting: trials, how many never reached the comparison's
    target, and the median epoch of those that did."""
    keys = [*([COMPARISON] if COMPARISON in frame else []), candidate_key, *setting_keys]
    grouped = frame.groupby(keys, dropna=False)
    return pd.DataFrame(
        {
            "n": grouped.size(),
            "never_reached": grouped["reached"].apply(lambda r: int((~r).sum())),
            "target": grouped["target"].first(),
            "median_epoch_reached": grouped["reached_epoch"].median(),
        }
    ).reset_index()
