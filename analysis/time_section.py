"""The report's time to target (`analysis.targets`), descriptive: per comparison, the
restricted mean epochs to a target that 90 % of its two arms' trials reach, compared like any
metric (simultaneous intervals over these rows, min_effect 1 epoch), and the paired misses
(mid-p McNemar, unadjusted). The report's α is spent on its confirmatory family, not here."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.answer import per_setting_table, setting_name
from analysis.load import StudyRuns
from analysis.render import Section, round_table
from analysis.stats import compare_losses
from analysis.targets import COMPARISON, paired_misses, time_to_target
from study.contract import epoch_curve


def time_findings(
    study: StudyRuns, finished: pd.DataFrame, cfg: Any
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The time-to-target comparisons and the paired misses (both empty without curves)."""
    curve = epoch_curve(cfg.metric)
    none = (pd.DataFrame(), pd.DataFrame())
    if study.epochs.empty or curve not in set(study.epochs["metric"]):
        return none
    keys = study.setting_keys
    reached = time_to_target(study.epochs, finished, cfg.metric, cfg.reference, keys)
    if reached.empty or reached["target"].isna().all():
        return none
    rows = compare_losses(
        reached, "epochs_to_target", cfg.reference, [*keys, COMPARISON], alpha=cfg.alpha,
        seed=cfg.seed, min_effect=1.0, higher_better=False, ci_method=cfg.ci_method,
        family_method=cfg.family_method,
    ).drop(columns=[COMPARISON])  # fmt: skip
    return rows, paired_misses(reached, cfg.reference, keys)


def time_to_target_sections(
    rows: pd.DataFrame, misses: pd.DataFrame, keys: list[str], cfg: Any
) -> list[Section]:
    """The two descriptive sections; none without time-to-target rows."""
    if rows.empty:
        return []
    text = (
        f"Descriptive. Epochs until {epoch_curve(cfg.metric)} first reaches a target that "
        f"90 % of the two losses' trials (candidate and {cfg.reference}) reach in that setting. "
        "Gain = epochs saved by the candidate, in restricted mean epochs (a trial that never "
        "reaches the target counts as budget + 1), with simultaneous intervals over these "
        "rows; no verdict is read from them (the report's α is its confirmatory family's)."
    )
    shown = misses.drop(columns=[c for c in ("both_reached", "neither", COMPARISON)
                                 if c in misses])  # fmt: skip
    return [
        Section(
            "Time to target (descriptive)",
            text,
            round_table(per_setting_table(rows, keys, verdict=False)),
        ),
        Section(
            "Time to target: who misses it, pair by pair (descriptive)",
            "Pairs where only the candidate or only the reference reached the comparison's "
            "target, with the mid-p McNemar test of those discordant pairs (unadjusted).",
            round_table(_named(shown, keys)),
        ),
    ]


def _named(misses: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    if misses.empty:
        return misses
    named = misses.drop(columns=keys)
    named.insert(1, "setting", [setting_name(r, keys) for _, r in misses.iterrows()])
    return named
