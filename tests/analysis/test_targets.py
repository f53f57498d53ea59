"""Time to target (`analysis.targets`) by hand: restricted mean epochs to a target from both
arms, paired misses and their mid-p McNemar test."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.stats import compare_losses


def test_time_to_target_by_hand() -> None:
    from analysis.targets import epoch_curve, never_reached, paired_misses, time_to_target

    assert epoch_curve("final_paper_top5_error") == "test_top5_error"
    assert epoch_curve("final_test_nll") == "test_nll"
    curves = {  # test_top5_error per epoch 1..4
        "r0": [9.0, 7.0, 5.5, 6.0], "r1": [9.0, 8.0, 7.0, 5.0],  # ce: best 5.5, 5.0
        "c0": [8.0, 5.5, 5.0, 5.0], "c1": [9.0, 9.0, 9.0, 9.0],  # lace: c1 never gets there
    }  # fmt: skip
    epochs = pd.DataFrame(
        [
            {"run_id": run, "metric": "test_top5_error", "step": i + 1, "value": v}
            for run, values in curves.items()
            for i, v in enumerate(values)
        ]
    )
    trials = pd.DataFrame(
        {
            "run_id": list(curves), "loss_label": ["ce", "ce", "lace", "lace"],
            "seed": [0, 1, 0, 1], "final_paper_top5_error": [6.0, 5.0, 5.0, 9.0],
            "schedule.epochs": 4,
        }
    )  # fmt: skip
    default = time_to_target(epochs, trials, "final_paper_top5_error")
    # from both arms: bests 5.5, 5.0 (ce), 5.0, 9.0 (lace); ⌈0.9·4⌉ = 4th best
    assert set(default["target"]) == {9.0} and set(default["comparison"]) == {"lace"}
    out = time_to_target(epochs, trials, "final_paper_top5_error", target=5.5).set_index("run_id")
    assert out["reached_epoch"].to_dict() == pytest.approx(
        {"r0": 3.0, "r1": 4.0, "c0": 2.0, "c1": math.nan}, nan_ok=True
    )
    assert out.loc["c1", "epochs_to_target"] == 5.0 and not out.loc["c1", "reached"]
    counts = never_reached(out.reset_index()).set_index("loss_label")
    assert counts.loc["lace", "never_reached"] == 1 and counts.loc["ce", "never_reached"] == 0
    row = compare_losses(out.reset_index(), "epochs_to_target",
                         setting_keys=["comparison"]).iloc[0]  # fmt: skip
    assert row["gain"] == pytest.approx(((3 - 2) + (4 - 5)) / 2)  # epochs saved, censored at 5
    misses = paired_misses(out.reset_index()).iloc[0]  # seed 0 both reached, seed 1 only ce
    assert (misses["both_reached"], misses["only_candidate"], misses["only_reference"]) == (1, 0, 1)
    assert misses["p_mcnemar_mid"] == pytest.approx(0.5)  # 2·(P(X ≤ 0) − ½·P(X = 0)), X ~ Bin(1, ½)


def test_a_target_from_both_arms_serves_each_comparison() -> None:
    """Each candidate's comparison has its own target from its two arms, and the reference's
    trials appear in each."""
    from analysis.targets import time_to_target

    values = {"r": [9.0, 4.0], "a": [9.0, 2.0], "b": [9.0, 8.0]}  # best: 4, 2, 8
    epochs = pd.DataFrame(
        [
            {"run_id": run, "metric": "test_top1_error", "step": i + 1, "value": v}
            for run, vs in values.items()
            for i, v in enumerate(vs)
        ]
    )
    trials = pd.DataFrame({"run_id": ["r", "a", "b"], "loss_label": ["ce", "a", "b"],
                           "seed": 0, "final_paper_top1_error": 1.0})  # fmt: skip
    out = time_to_target(epochs, trials, "final_paper_top1_error")
    targets = out.groupby("comparison")["target"].first().to_dict()
    assert targets == {"a": 4.0, "b": 8.0}  # ⌈0.9·2⌉ = 2nd best of each comparison's two
    assert (out["loss_label"] == "ce").sum() == 2


def test_paired_misses_mcnemar_by_hand() -> None:
    from analysis.targets import paired_misses

    frame = pd.DataFrame({
        "loss_label": ["ce"] * 8 + ["lace"] * 8, "seed": list(range(8)) * 2,
        "reached": [True] * 8 + [False] * 7 + [True],
    })  # fmt: skip
    row = paired_misses(frame).iloc[0]
    assert (row["only_candidate"], row["only_reference"], row["n_pairs"]) == (0, 7, 8)
    # mid-p: 2·(P(X ≤ 0) − ½·P(X = 0)) = 0.5⁷, half the exact test's 2·0.5⁷
    assert row["p_mcnemar_mid"] == pytest.approx(0.5**7)


def test_time_to_target_without_spread_is_inconclusive() -> None:
    frame = pd.DataFrame({"loss_label": ["ce"] * 3 + ["lace"] * 3, "seed": [0, 1, 2] * 2,
                          "epochs_to_target": [5.0, 6.0, 7.0, 4.0, 5.0, 6.0]})  # fmt: skip
    row = compare_losses(frame, "epochs_to_target", min_effect=1.0).iloc[0]
    assert row["gain"] == 1.0 and row["verdict"] == "inconclusive"
    assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])
