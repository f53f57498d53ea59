"""Report figures (matplotlib, Agg backend): each function returns a Figure or None when the
study has nothing to show for it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.answer import setting_name
from study.contract import TEST_TOP1

MAX_PANELS = 12


def _setting_name(keys: Sequence[str], values: Sequence[object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)) or "all trials"


def _settings(trials: pd.DataFrame, setting_keys: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    if not setting_keys:
        return [("all trials", trials)]
    out = []
    for values, frame in trials.groupby(list(setting_keys), dropna=False):
        vals = values if isinstance(values, tuple) else (values,)
        out.append((_setting_name(setting_keys, vals), frame))
    return out[:MAX_PANELS]


def _grid(n: int) -> tuple[Figure, list[plt.Axes]]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def curves(
    epochs: pd.DataFrame,
    trials: pd.DataFrame,
    setting_keys: Sequence[str],
    metric: str = TEST_TOP1,
    accuracy: bool = True,
) -> Figure | None:
    """Per setting, per loss: mean ± std over seeds of a per-epoch metric (the paper's Figs. 1–2
    show test accuracy, i.e. 100 − top-1 error)."""
    data = epochs[epochs["metric"] == metric]
    if data.empty:
        return None
    data = data.merge(trials[["run_id", "loss_label", *setting_keys]], on="run_id")
    if accuracy:
        data = data.assign(value=100.0 - data["value"])
    settings = _settings(data, setting_keys)
    fig, axes = _grid(len(settings))
    for ax, (name, frame) in zip(axes, settings, strict=True):
        for loss, sub in frame.groupby("loss_label"):
            stat = sub.groupby("step")["value"].agg(["mean", "std", "count"])
            ax.plot(stat.index, stat["mean"], label=f"{loss} (n={int(stat['count'].max())})")
            spread = stat["std"].fillna(0)
            ax.fill_between(stat.index, stat["mean"] - spread, stat["mean"] + spread, alpha=0.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)" if accuracy else metric)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def forest(
    comparisons: pd.DataFrame,
    setting_keys: Sequence[str],
    metric: str,
    meta: pd.DataFrame | None = None,
    min_effect: float | None = None,
    interval: str | None = None,
) -> Figure | None:
    """Paired gain (positive = candidate better) with its simultaneous interval, one row per
    candidate × setting, coloured by verdict; dashed lines at ±`min_effect` (the equivalence
    margins); `interval` names the intervals drawn (default: the simultaneous ones of
    `compare_losses`). With `meta` (from `analysis.meta.meta_analysis`, exchangeable settings
    only), each candidate's settings are followed by its pooled gain as a diamond spanning the
    pooled CI, and the prediction interval as a thin line through it."""
    if comparisons.empty:
        return None
    rows = comparisons.sort_values("candidate", kind="stable").reset_index(drop=True)
    pooled = {} if meta is None else {r["candidate"]: r for _, r in meta.iterrows()}
    items: list[tuple[str, str, pd.Series]] = []  # (kind, label, row)
    for cand, frame in rows.groupby("candidate", sort=True):
        for _, r in frame.iterrows():
            items.append(("row", f"{cand} | {setting_name(r, setting_keys)}", r))
        if cand in pooled and math.isfinite(pooled[cand]["gain"]):
            k = int(pooled[cand]["k_cells"])
            items.append(("pooled", f"{cand} | pooled over {k} settings", pooled[cand]))
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(items) + 1.6))
    y = np.arange(len(items))[::-1]
    colors = {"gain": "tab:green", "loss": "tab:red", "equivalent": "tab:blue",
              "futile": "tab:blue"}  # fmt: skip
    for yi, (kind, _, r) in zip(y, items, strict=True):
        if kind == "row":
            color = colors.get(r["verdict"], "tab:gray")
            # an `equivalent` is drawn with the TOST interval it was read from
            low, high = (("tost_low", "tost_high") if r["verdict"] == "equivalent"
                         and "tost_low" in r else ("ci_low", "ci_high"))  # fmt: skip
            ax.plot([r[low], r[high]], [yi, yi], color=color)
            ax.plot([r["gain"]], [yi], "o", color=color)
            continue
        if math.isfinite(r["pred_low"]):
            ax.plot([r["pred_low"], r["pred_high"]], [yi, yi], color="tab:purple", linewidth=0.8)
        xs = [r["ci_low"], r["gain"], r["ci_high"], r["gain"]]
        ax.fill(xs, [yi, yi + 0.3, yi, yi - 0.3], color="tab:purple")
    ax.axvline(0.0, color="black", linewidth=0.8)
    if min_effect:
        for x in (-min_effect, min_effect):
            ax.axvline(x, color="tab:gray", linewidth=0.8, linestyle="--")
    ax.set_yticks(y, [label for _, label, _ in items], fontsize=7)
    interval = interval or _intervals_drawn(rows)
    xlabel = (
        f"paired gain in {metric} (> 0: candidate better)\n{interval}\n"
        "green gain, red loss, blue equivalent or futile (dashed: ±min_effect), grey "
        "inconclusive"
    )
    if pooled:
        xlabel += "; diamond: pooled gain and CI, thin line: prediction interval"
    ax.set_xlabel(xlabel, fontsize=8)
    fig.tight_layout()
    return fig


def _intervals_drawn(rows: pd.DataFrame) -> str:
    """`simultaneous 95 % interval per family (confirmatory 6 rows, ...; method)`."""
    method = str(rows["method"].iloc[0]) if "method" in rows else "Bonferroni"
    sizes = (rows.groupby("family")["family_size"].max().to_dict() if "family" in rows
             else {"all": len(rows)})  # fmt: skip
    over = ", ".join(f"{k} {int(v)}" if k != "all" else f"{int(v)}" for k, v in sizes.items())
    return (f"simultaneous 95 % interval per family (rows: {over}; equivalent: its TOST "
            f"interval)\n{method}")  # fmt: skip


def gain_vs_rate(comparisons: pd.DataFrame) -> Figure | None:
    """Gain against noise rate per candidate (one line per noise kind)."""
    if "noise.rate" not in comparisons or comparisons["noise.rate"].nunique() < 2:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    group_cols = ["candidate", "noise.kind"] if "noise.kind" in comparisons else ["candidate"]
    for key, frame in comparisons.groupby(group_cols):
        frame = frame.sort_values("noise.rate")
        label = " / ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        ax.errorbar(
            frame["noise.rate"], frame["gain"],
            yerr=[frame["gain"] - frame["ci_low"], frame["ci_high"] - frame["gain"]],
            marker="o", capsize=3, label=label,
        )  # fmt: skip
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("noise rate")
    ax.set_ylabel("paired gain (simultaneous 95 % interval)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def reliability(bins: Mapping[str, Mapping[str, np.ndarray]]) -> Figure | None:
    """Reliability diagram per loss (test set, last epoch, pooled over trials): accuracy against
    mean confidence per bin, marker size ∝ samples in the bin."""
    if not bins:
        return None
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="black", linewidth=0.8, linestyle="--")
    for loss, b in sorted(bins.items()):
        count = np.asarray(b["count"], float)
        keep = count > 0
        ax.plot(
            np.asarray(b["confidence"])[keep], np.asarray(b["accuracy"])[keep], marker="o",
            markersize=3, label=f"{loss} (n={int(count.sum())})",
        )  # fmt: skip
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
