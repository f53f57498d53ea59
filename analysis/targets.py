"""Time to target: how many epochs a trial needs to reach a given test error (pandas only;
statsmodels' exact McNemar test for the paired misses).

The convention of the MLCommons AlgoPerf benchmark (Dahl et al. 2023, arXiv 2306.07179):
speed is the time to reach a fixed quality target, not the quality at a fixed time. Here time
is epochs (identical cost per epoch for every loss, up to the loss's own few microseconds).

Per trial: the first epoch at which its per-epoch curve (for `final_paper_top5_error`, the
curve `test_top5_error`) reaches the target — at or below it for errors, at or above it for
anything higher-is-better. The default target of a cell is a value the reference loss reaches
in at least 90 % of its seeds there: the ⌈0.9·n⌉-th best of its seeds' best values over
training. A target the reference itself often misses would make the comparison one of misses.

A trial that never reaches it is kept, not dropped (dropping would flatter the slower loss):
`reached` is False, `reached_epoch` is empty, and `epochs_to_target` is the budget + 1. The
mean of `epochs_to_target` is therefore a *restricted mean* time to target (restricted at
budget + 1 epochs), which is the estimand `compare_losses` compares. How often each side
misses is compared on its own, pair by pair (`paired_misses`: exact McNemar test).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from analysis.orientation import higher_is_better
from study.contract import epoch_curve

TARGET_COLUMNS = ("target", "reached", "reached_epoch", "epochs_to_target")
TARGET_SHARE = 0.9  # the share of the reference's seeds that reach the default target


def time_to_target(
    epochs: pd.DataFrame,
    trials: pd.DataFrame,
    metric: str,
    reference: str = "ce",
    cell_keys: Sequence[str] = (),
    target: float | None = None,
    candidate_key: str = "loss_label",
) -> pd.DataFrame:
    """`trials` plus the columns `target`, `reached`, `reached_epoch`, `epochs_to_target`.

    epochs: long table (`run_id`, `metric`, `step`, `value`) as `analysis.load` builds it;
    trials: one row per trial with `run_id`, `candidate_key`, the cell keys and `metric` (the
    final value). `target`: one value for every cell instead of the per-cell value the
    reference reaches in ≥ 90 % of its seeds (module docstring). The budget of a trial is its
    `schedule.epochs` when that column exists, else the last epoch it logged.
    """
    curve_name = epoch_curve(metric)
    lower = not higher_is_better(curve_name)
    curves = epochs[epochs["metric"] == curve_name]
    out = trials.copy()
    if target is not None:
        out["target"] = float(target)
    else:
        best = curves.groupby("run_id")["value"].agg("min" if lower else "max").rename("best")
        ref = out[out[candidate_key] == reference].join(best, on="run_id")
        share = _reached_by_share(lower)
        if cell_keys:
            goals = ref.groupby(list(cell_keys), dropna=False)["best"].agg(share).rename("target")
            out = out.merge(goals.reset_index(), on=list(cell_keys), how="left")
        else:
            out["target"] = share(ref["best"]) if len(ref) else math.nan
    # vectorised over all runs at once (a loop over runs took 1.1 s per 1,000 runs)
    goal = curves["run_id"].map(out.set_index("run_id")["target"])
    hit = (curves["value"] <= goal) if lower else (curves["value"] >= goal)
    first = curves.loc[hit & np.isfinite(goal), ["run_id", "step"]].groupby("run_id")["step"].min()
    last = out["run_id"].map(curves.groupby("run_id")["step"].max()).fillna(0.0).astype(float)
    reached_at = out["run_id"].map(first).astype(float)
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


def paired_misses(
    frame: pd.DataFrame,
    reference: str = "ce",
    cell_keys: Sequence[str] = (),
    pair_key: str = "seed",
    candidate_key: str = "loss_label",
) -> pd.DataFrame:
    """Per candidate × cell, the pairs (same seed) by who reached the target, and the exact
    McNemar test of the discordant pairs (statsmodels `mcnemar(exact=True)`: a two-sided
    binomial test of `only_candidate` against `only_reference`). `p_mcnemar` is 1 when no
    pair is discordant."""
    from statsmodels.stats.contingency_tables import mcnemar

    keys = [*cell_keys, pair_key]
    ref = frame[frame[candidate_key] == reference][[*keys, "reached"]]
    cand = frame[frame[candidate_key] != reference][[candidate_key, *keys, "reached"]]
    pairs = cand.merge(ref, on=keys, suffixes=("", "_ref"))
    rows = []
    for key, group in pairs.groupby([candidate_key, *cell_keys], dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        c, r = group["reached"].astype(bool), group["reached_ref"].astype(bool)
        both, only_c, only_r = int((c & r).sum()), int((c & ~r).sum()), int((~c & r).sum())
        table = [[both, only_c], [only_r, int((~c & ~r).sum())]]
        p = float(mcnemar(table, exact=True).pvalue) if only_c + only_r else 1.0
        rows.append({
            "candidate": key[0], **dict(zip(cell_keys, key[1:], strict=True)),
            "n_pairs": len(group), "both_reached": both, "only_candidate": only_c,
            "only_reference": only_r, "neither": table[1][1], "p_mcnemar": p,
        })  # fmt: skip
    return pd.DataFrame(rows)


def never_reached(
    frame: pd.DataFrame, cell_keys: Sequence[str] = (), candidate_key: str = "loss_label"
) -> pd.DataFrame:
    """Per loss × cell: trials, how many never reached the target, and the median epoch of
    those that did."""
    keys = [candidate_key, *cell_keys]
    grouped = frame.groupby(keys, dropna=False)
    return pd.DataFrame(
        {
            "n": grouped.size(),
            "never_reached": grouped["reached"].apply(lambda r: int((~r).sum())),
            "target": grouped["target"].first(),
            "median_epoch_reached": grouped["reached_epoch"].median(),
        }
    ).reset_index()
