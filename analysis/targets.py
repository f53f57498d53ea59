"""Time to target: how many epochs a trial needs to reach a given test error (pandas only).

The convention of the MLCommons AlgoPerf benchmark (Dahl et al. 2023, arXiv 2306.07179):
speed is the time to reach a fixed quality target, not the quality at a fixed time. Here time
is epochs (identical cost per epoch for every loss, up to the loss's own few microseconds).

Per trial: the first epoch at which its per-epoch curve (for `final_paper_top5_error`, the
curve `test_top5_error`) reaches the target — at or below it for errors, at or above it for
anything higher-is-better. The default target of a cell is the reference loss's median final
value of the analysis metric in that cell, so "reaching the target" means "as good as the
typical reference run ends up".

A trial that never reaches it is kept, not dropped (dropping would flatter the slower loss):
`reached` is False, `reached_epoch` is empty, and `epochs_to_target` is the budget + 1 (right-
censored at the end of training). Comparisons of `epochs_to_target` are then conservative for
the loss that misses more often, and the report prints the never-reached counts beside them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from analysis.orientation import higher_is_better

TARGET_COLUMNS = ("target", "reached", "reached_epoch", "epochs_to_target")


def epoch_curve(metric: str) -> str:
    """The per-epoch metric behind a final metric: `final_paper_top5_error` →
    `test_top5_error`, `final_test_nll` → `test_nll`; a per-epoch name is returned as is."""
    if metric.startswith("final_paper_"):
        return "test_" + metric[len("final_paper_") :]
    if metric.startswith("final_"):
        return metric[len("final_") :]
    return metric


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
    final value that sets the default target). `target`: one value for every cell instead of
    the reference's per-cell median. The budget of a trial is its `schedule.epochs` when that
    column exists, else the last epoch it logged.
    """
    curve_name = epoch_curve(metric)
    lower = not higher_is_better(curve_name)
    curves = epochs[epochs["metric"] == curve_name]
    out = trials.copy()
    if target is not None:
        out["target"] = float(target)
    else:
        ref = out[out[candidate_key] == reference]
        if cell_keys:
            medians = ref.groupby(list(cell_keys), dropna=False)[metric].median().rename("target")
            out = out.merge(medians.reset_index(), on=list(cell_keys), how="left")
        else:
            out["target"] = float(ref[metric].median()) if len(ref) else math.nan
    reached_at: list[float] = []
    budgets: list[float] = []
    by_run = dict(tuple(curves.groupby("run_id")))
    for run_id, goal, budget in zip(
        out["run_id"], out["target"], out.get("schedule.epochs", [None] * len(out)), strict=True
    ):
        curve = by_run.get(run_id, pd.DataFrame(columns=["step", "value"])).sort_values("step")
        hit = curve["value"] <= goal if lower else curve["value"] >= goal
        steps = curve.loc[hit, "step"]
        reached_at.append(float(steps.iloc[0]) if len(steps) and math.isfinite(goal) else math.nan)
        last = float(curve["step"].max()) if len(curve) else 0.0
        budgets.append(float(budget) if budget is not None and pd.notna(budget) else last)
    out["reached_epoch"] = reached_at
    out["reached"] = out["reached_epoch"].notna()
    out["epochs_to_target"] = [
        r if math.isfinite(r) else b + 1.0 for r, b in zip(reached_at, budgets, strict=True)
    ]
    return out


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
