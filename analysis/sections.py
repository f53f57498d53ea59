"""The report's sections after the answer: the per-setting table (or, for a sequential
study, its decisions and the estimates without verdicts), the answer across settings, the
means per loss and setting, and the figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import plots
from analysis.answer import comparison_parts, per_setting_table
from analysis.load import StudyRuns, load_reliability_bins
from analysis.render import Section, round_table, save_figure

ACCURACY_CURVE = "test_top1_error"  # plotted as test accuracy, 100 − error
MEMORISED_CURVE = "train_noisy_memorized"
FIGURE_CURVES = (ACCURACY_CURVE, MEMORISED_CURVE)  # the per-epoch metrics the figures plot


@dataclass
class Findings:
    """Everything the report computed, for the sections and the files."""

    comparisons: pd.DataFrame
    decisions: pd.DataFrame
    regression: pd.DataFrame
    regression_notes: list[str]
    pooled: pd.DataFrame | None
    answer: list[str] = field(default_factory=list)


def decided(decisions: pd.DataFrame) -> pd.DataFrame:
    """The sequential decisions in the shape `plots.forest` draws."""
    parts = decisions["comparison"].map(comparison_parts)
    return pd.DataFrame({
        "candidate": [c for c, _ in parts], "setting": [s for _, s in parts],
        "gain": decisions["mean"], "ci_low": decisions["ci_low"],
        "ci_high": decisions["ci_high"], "verdict": decisions["decision"],
    })  # fmt: skip


def per_setting(found: Findings, keys: list[str]) -> list[Section]:
    if found.decisions.empty:
        return [Section(
            "Per setting", "Mean paired gain, simultaneous interval, verdict; n = pairs.",
            round_table(per_setting_table(found.comparisons, keys, verdict=True)),
        )]  # fmt: skip
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
    out = []
    if not found.regression.empty or found.regression_notes:
        table = found.regression.drop(columns=["df", "k"])
        out.append(Section(
            "Across noise settings: how the gain changes with the rate",
            "Random-effects meta-regression of each candidate's setting gains on the design "
            "(the gain at rate 0, shared by the noise kinds, and a slope per 0.1 of rate per "
            "kind), simultaneous intervals over every coefficient. A straight line is a "
            "summary: a bend shows up as τ² and wider intervals.",
            round_table(table), bullets=found.regression_notes,
        ))  # fmt: skip
    if found.pooled is not None:
        cols = ["candidate", "k_cells", "gain", "ci_low", "ci_high", "pred_low", "pred_high",
                "tau2", "prob_improvement"]  # fmt: skip
        out.append(Section(
            "Pooled over exchangeable settings",
            f"Random-effects pooled gain (HKSJ, Bonferroni over candidates) and the "
            f"{100 * (1 - alpha):g} % prediction interval for a new setting.",
            round_table(found.pooled[cols]),
        ))  # fmt: skip
    return out


def means(finished: pd.DataFrame, keys: list[str], metric: str) -> Section:
    summary = (
        finished.groupby(["loss_label", *keys], dropna=False)[metric]
        .agg(["count", "mean", "std"]).reset_index().rename(columns={"count": "n"})
    )  # fmt: skip
    return Section("Per loss and setting", f"{metric}: mean ± std over seeds.",
                   round_table(summary))  # fmt: skip


def figures(
    study: StudyRuns,
    finished: pd.DataFrame,
    found: Findings,
    keys: list[str],
    out_dir: Path,
    tracking_uri: str,
) -> list[Section]:
    accuracy = plots.curves(study.epochs, finished, keys, ACCURACY_CURVE)
    memorised = plots.curves(study.epochs, finished, keys, MEMORISED_CURVE, accuracy=False)
    figures = [
        ("Test accuracy per epoch (mean ± std over seeds)", accuracy),
        ("Gain against noise rate (simultaneous intervals)", plots.gain_vs_rate(found.comparisons)),
        ("Memorisation of flipped labels (share predicted as the noisy label)", memorised),
        ("Reliability (test set, last epoch, pooled)",
         plots.reliability(load_reliability_bins(tracking_uri, finished))),
    ]  # fmt: skip
    sections = []
    for i, (title, fig) in enumerate(figures):
        name, png = save_figure(out_dir, i + 2, fig)
        if name:
            sections.append(Section(title, figure=name, figure_png=png))
    return sections
