"""The report's sections after the answer: the per-setting table (or, for a sequential
study, its decisions and the estimates without verdicts), the descriptive summaries across
settings (trends in the noise rate, pooling over exchangeable axes), the means per loss and
setting, and the figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis import plots
from analysis.answer import ONE_SETTING, per_setting_table
from analysis.load import StudyRuns
from analysis.render import Section, figure_png, round_table
from study import contract as c

ACCURACY_CURVE = c.TEST_TOP1  # plotted as test accuracy, 100 − error
MEMORISED_CURVE = c.MEMORIZED
FIGURE_CURVES = (ACCURACY_CURVE, MEMORISED_CURVE)  # the per-epoch metrics the figures plot


@dataclass
class Findings:
    """Everything the report computed, for the sections and the files."""

    comparisons: pd.DataFrame
    decisions: pd.DataFrame
    trends: pd.DataFrame
    pooled: pd.DataFrame | None
    answer: list[str] = field(default_factory=list)
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)
    headline: list[str] = field(default_factory=list)  # what opens answer.txt: the claims
    time_rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # time to target
    misses: pd.DataFrame = field(default_factory=pd.DataFrame)  # who misses it, per pair


def decided(decisions: pd.DataFrame) -> pd.DataFrame:
    """The sequential decisions in the shape `plots.forest` draws."""
    return pd.DataFrame({
        "candidate": decisions["candidate"],
        "setting": decisions["setting"].replace("", ONE_SETTING),
        "gain": decisions["mean"], "ci_low": decisions["ci_low"],
        "ci_high": decisions["ci_high"], "verdict": decisions["decision"],
    })  # fmt: skip


def per_setting(found: Findings, keys: list[str]) -> list[Section]:
    if found.decisions.empty:
        two = "exploratory" in set(found.comparisons.get("family", []))
        text = ("Mean paired gain, its family's simultaneous interval, verdict; n = pairs; "
                "n_div c/r = diverged trials among them (candidate/reference), each at its "
                "chance-level value.")  # fmt: skip
        if two:
            text += (" The exploratory rows form their own family: their verdicts are "
                     "exploratory, not part of the confirmatory answer.")  # fmt: skip
        return [
            Section(
                "Per setting",
                text,
                round_table(per_setting_table(found.comparisons, keys, verdict=True)),
            )
        ]
    decisions = found.decisions[["comparison", "decision", "look", "mean", "ci_low", "ci_high",
                                 "boundary"]]  # fmt: skip
    return [
        Section("Sequential decisions", "Per comparison: its verdict, the look (seeds) at which "
                "it stopped, its mean and repeated confidence interval, the boundary crossed.",
                round_table(decisions)),
        Section("Per setting, all seeds (estimates only)",
                "Fixed-design estimates over every seed each comparison ran. After early "
                "stopping they are biased away from 0 and carry no verdict: the verdicts are "
                "the sequential ones above.",
                round_table(per_setting_table(found.comparisons, keys, verdict=False))),
    ]  # fmt: skip


def across(found: Findings, alpha: float) -> list[Section]:
    """Trends in the noise rate and pooling over exchangeable axes: descriptive, the
    report's α is spent on the per-setting families."""
    out = []
    if not found.trends.empty:
        out.append(Section(
            "Across noise settings: how the gain changes with the rate (descriptive)",
            "Per candidate and noise kind, the least-squares slope of the setting gains over "
            "the rates (with the clean setting), per 0.1 of rate: a fixed contrast of the "
            f"seed-level model, its simultaneous {100 * (1 - alpha):g} % interval over every "
            "trend here. A straight line is a summary; the per-setting rows are the answer, "
            "and no verdict is read from these intervals.",
            round_table(found.trends),
        ))  # fmt: skip
    if found.pooled is not None:
        cols = ["candidate", "k_cells", "gain", "ci_low", "ci_high", "pred_low", "pred_high",
                "tau2", "prob_improvement"]  # fmt: skip
        out.append(Section(
            "Pooled over exchangeable settings (descriptive)",
            f"Random-effects pooled gain (HKSJ, Bonferroni over candidates) and the "
            f"{100 * (1 - alpha):g} % prediction interval for a new setting; no verdict is "
            "read from them.",
            round_table(found.pooled[cols]),
        ))  # fmt: skip
    return out


def means(finished: pd.DataFrame, keys: list[str], metric: str) -> Section:
    gone = (pd.to_numeric(finished[c.DIVERGED], errors="coerce") > 0 if c.DIVERGED in finished
            else pd.Series(False, index=finished.index))  # fmt: skip
    grouped = finished.assign(_gone=gone).groupby(["loss_label", *keys], dropna=False)
    summary = grouped[metric].agg(["count", "mean", "std"]).rename(columns={"count": "n"})
    summary["n_diverged"] = grouped["_gone"].sum().astype(int)
    return Section("Per loss and setting", f"{metric}: mean ± std over seeds, a diverged "
                   "trial at its chance-level value (n_diverged of n).",
                   round_table(summary.reset_index()))  # fmt: skip


def figures(
    study: StudyRuns, finished: pd.DataFrame, found: Findings, keys: list[str]
) -> list[Section]:
    accuracy = plots.curves(study.epochs, finished, keys, ACCURACY_CURVE)
    memorised = plots.curves(study.epochs, finished, keys, MEMORISED_CURVE, accuracy=False)
    figures = [
        ("Test accuracy per epoch (mean ± std over seeds)", accuracy),
        ("Gain against noise rate (simultaneous intervals)", plots.gain_vs_rate(found.comparisons)),
        ("Memorisation of flipped labels (share predicted as the noisy label)", memorised),
        ("Reliability (test set, last epoch, pooled)",
         plots.reliability(pooled_bins(study.reliability, finished))),
    ]  # fmt: skip
    sections = []
    for i, (title, fig) in enumerate(figures):
        name, png = figure_png(i + 2, fig)
        if name:
            sections.append(Section(title, figure=name, figure_png=png))
    return sections


def pooled_bins(
    by_run: Mapping[str, Mapping[str, Any]], finished: pd.DataFrame
) -> dict[str, dict[str, np.ndarray]]:
    """Reliability bins pooled per loss over the finished trials (a trial without bins is
    left out): counts summed, confidence and accuracy averaged with the counts as weights."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for loss, run in zip(finished["loss_label"], finished["run_id"], strict=True):
        b = by_run.get(run)
        if b is None:
            continue
        count = np.asarray(b["count"], float)
        zeros = np.zeros_like(count)
        acc = out.setdefault(loss, {"n": zeros, "conf": zeros.copy(), "hit": zeros.copy()})
        acc["n"] += count
        acc["conf"] += count * np.asarray(b["confidence"])
        acc["hit"] += count * np.asarray(b["accuracy"])
    return {
        loss: {
            "count": a["n"],
            "confidence": a["conf"] / np.maximum(a["n"], 1),
            "accuracy": a["hit"] / np.maximum(a["n"], 1),
        }
        for loss, a in out.items()
    }
