"""`analysis.hardware` and the report's use of it, on trials faked to have run on two kinds of
node: the pairs that straddle them are counted and said beside the verdict, and a study
that pairs on hardware compares only same-hardware pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.hardware import PAIR_COLUMN, hardware_pairs, kinds, mixed_pairs
from analysis.report import with_hardware
from analysis.report_config import ReportConfig
from analysis.stats import compare

A, B = "Xeon (avx512f)", "Xeon (avx512f) + 1× H200"


def _trials() -> pd.DataFrame:
    """ce and lace × 6 seeds; lace's seeds 0-1 ran on B while every ce ran on A."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(6):
        for loss, shift in (("ce", 0.0), ("lace", -1.0)):
            hardware = B if loss == "lace" and seed < 2 else A
            rows.append({"loss_label": loss, "seed": seed, "hardware": hardware,
                         "top1_error": 20.0 + shift + rng.normal(0, 0.3)})  # fmt: skip
    return pd.DataFrame(rows)


def test_pairs_across_two_kinds_of_hardware_are_counted_and_said() -> None:
    trials = _trials()
    assert kinds(trials) == {A: 10, B: 2}
    table = compare(trials, "top1_error", min_effect=1.0).table
    assert mixed_pairs(trials, table, "ce", []) == [2]
    cfg = ReportConfig().resolved({})
    said = with_hardware(table, trials, cfg, [])
    assert said["mixed_hardware_pairs"].tolist() == [2]
    assert "2 of 6 pairs ran on two kinds of hardware" in said["note"].iloc[0]
    # trials that do not say what they ran on: the table is left as it is
    assert "mixed_hardware_pairs" not in with_hardware(table, trials.drop(columns="hardware"),
                                                       cfg, [])  # fmt: skip


def test_pairing_on_hardware_keeps_only_same_hardware_pairs() -> None:
    trials = hardware_pairs(_trials())
    table = compare(trials, "top1_error", pair_key=PAIR_COLUMN, min_effect=1.0).table
    assert table["n_pairs"].tolist() == [4]  # seeds 2-5: both trials on A
    assert trials[PAIR_COLUMN].iloc[0] == f"0 @ {A}"
