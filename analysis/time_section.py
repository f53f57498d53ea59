"""The report's time-to-target section (`analysis.targets`): the restricted mean epochs to a
target the reference reaches in ≥ 90 % of its seeds, compared like any metric (its own family
of simultaneous intervals, min_effect 1 epoch), and the paired misses (exact McNemar)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from analysis.answer import per_setting_table, setting_name
from analysis.load import StudyRuns
from analysis.render import Section, round_table
from analysis.stats import compare_losses
from analysis.targets import paired_misses, time_to_target
from study.contract import epoch_curve


def time_to_target_sections(
    study: StudyRuns, finished: pd.DataFrame, cfg: Any, out_dir: Path
) -> list[Section]:
    """Sections and `time_to_target.csv` / `paired_misses.csv`; none without curves."""
    curve = epoch_curve(cfg.metric)
    if study.epochs.empty or curve not in set(study.epochs["metric"]):
        return []
    keys = study.cell_keys
    reached = time_to_target(study.epochs, finished, cfg.metric, cfg.reference, keys)
    if reached["target"].isna().all():
        return []
    rows = compare_losses(
        reached, "epochs_to_target", cfg.reference, keys, alpha=cfg.alpha, seed=cfg.seed,
        min_effect=1.0, higher_better=False, ci_method=cfg.ci_method,
    )  # fmt: skip
    rows.to_csv(out_dir / "time_to_target.csv", index=False)
    misses = paired_misses(reached, cfg.reference, keys)
    misses.to_csv(out_dir / "paired_misses.csv", index=False)
    text = (
        f"Epochs until {curve} first reaches a target that {cfg.reference} reaches in ≥ 90 % "
        "of its seeds in that setting. Gain = epochs saved by the candidate, in restricted "
        "mean epochs (a trial that never reaches the target counts as budget + 1); "
        "simultaneous intervals over these rows; equivalent = within ±1 epoch. Identical "
        "differences in every pair give no interval and read inconclusive."
    )
    shown = misses.drop(columns=[c for c in ("both_reached", "neither") if c in misses])
    return [
        Section("Time to target", text, round_table(per_setting_table(rows, keys, True))),
        Section(
            "Time to target: who misses it, pair by pair",
            "Pairs where only the candidate or only the reference reached the target, with "
            "the exact McNemar test of those discordant pairs (unadjusted).",
            round_table(_named(shown, keys)),
        ),
    ]


def _named(misses: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    if misses.empty:
        return misses
    named = misses.drop(columns=keys)
    named.insert(1, "setting", [setting_name(r, keys) for _, r in misses.iterrows()])
    return named
