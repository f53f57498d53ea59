"""The sequential design (analysis/sequential.py): boundaries by hand, each decision, the
vectorised rule equal to the scalar one, and error control by a small simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.sequential import (
    SequentialDesign,
    boundary,
    decide,
    decide_many,
    decide_with_bounds,
)

PLAN = SequentialDesign((3, 6, 10, 15, 20), alpha=0.05, min_effect=0.5, n_comparisons=4)


def test_obrien_fleming_spending_by_hand() -> None:
    a = 0.05 / 4
    z = stats.norm.ppf(1 - a / 2)
    # alpha(t) = 2 - 2 Phi(z / sqrt(t)); at t = 10/20
    assert PLAN.spent(0.5) == pytest.approx(2 - 2 * stats.norm.cdf(z / math.sqrt(0.5)))
    # at 42 cells and early looks 2 - 2 Phi is 0 in floating point; 2 Phi-bar is not
    early = SequentialDesign((3, 6, 10, 15, 20, 40, 80), n_comparisons=42).levels()[0]
    assert early > 0 and 2 - 2 * stats.norm.cdf(stats.norm.isf(0.05 / 84) / math.sqrt(3 / 80)) == 0
    levels = PLAN.levels()
    assert sum(levels) == pytest.approx(a) and all(x > 0 for x in levels)
    assert levels == sorted(levels)  # O'Brien-Fleming spends little early
    efficacy, futility = PLAN.boundaries()[2]
    assert efficacy == pytest.approx(stats.t.ppf(1 - levels[2] / 2, 9))
    assert futility == pytest.approx(stats.t.ppf(1 - 0.05 / 5, 9))


def test_pocock_spending_sums_to_alpha() -> None:
    plan = SequentialDesign((3, 6, 10), alpha=0.05, n_comparisons=2, spending="pocock")
    assert sum(plan.levels()) == pytest.approx(0.025)
    assert plan.spent(1 / 3) == pytest.approx(0.025 * math.log(1 + (math.e - 1) / 3))


def test_each_decision() -> None:
    rng = np.random.default_rng(0)
    big = 3.0 + rng.normal(0, 0.1, 6)
    assert decide(big, PLAN) == "gain" and decide(-big, PLAN) == "loss"
    tiny = rng.normal(0, 0.01, 6)  # sure to be well below min_effect
    verdict, info = decide_with_bounds(tiny, PLAN)
    assert verdict == "futile" and info["futility_bound"] < 0.5
    assert boundary(verdict, info, PLAN) == "futility: bound < min_effect 0.5"
    assert boundary("gain", info, PLAN) == "efficacy: repeated CI above 0"
    noisy = np.array([1.0, -0.8, 0.5, -0.2, 0.9, -1.1])  # neither: look again
    assert decide(noisy, PLAN) == "continue"


def test_the_last_look_without_a_boundary_is_inconclusive() -> None:
    noisy = np.tile([1.0, -0.8, 0.5, -0.2, 0.9], 4)  # 20 seeds, wide, centred near 0
    verdict, info = decide_with_bounds(noisy, PLAN)
    assert verdict == "inconclusive" and info["futility_bound"] >= 0.5
    assert boundary(verdict, info, PLAN) == "last look, no boundary crossed"


def test_futility_can_be_turned_off_and_identical_differences_decide_nothing() -> None:
    off = SequentialDesign((3, 6, 10, 15, 20), min_effect=0.5, n_comparisons=4, futility=False)
    tiny = np.random.default_rng(0).normal(0, 0.01, 6)
    assert decide(tiny, PLAN) == "futile" and decide(tiny, off) == "continue"
    assert decide(np.full(6, 0.2), PLAN) == "continue"  # no spread: no interval, no decision


@pytest.mark.parametrize("sd", [0.15, 0.5, 1.5])
def test_futile_at_a_true_gain_of_min_effect_stays_below_beta(sd: float) -> None:
    """P(futile | gain = min_effect) ≤ β_futility for every sd (2,000 comparisons each)."""
    rng = np.random.default_rng(3)
    diffs = rng.normal(0.5, sd, (2000, 20))
    out = np.full(len(diffs), "continue", dtype=object)
    for n in PLAN.looks:
        open_ = out == "continue"
        out[open_] = decide_many(diffs[open_, :n], PLAN)
    assert (out == "futile").mean() <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 2000)


def test_bounds_are_the_repeated_ci_by_hand() -> None:
    d = np.array([0.2, 0.5, 0.1, 0.4, 0.3, 0.6])
    _, info = decide_with_bounds(d, PLAN)
    efficacy, futility = PLAN.boundaries()[1]
    se = d.std(ddof=1) / math.sqrt(6)
    assert info["ci_low"] == pytest.approx(d.mean() - efficacy * se)
    assert info["futility_bound"] == pytest.approx(abs(d.mean()) + futility * se)


def test_only_at_a_look_and_a_valid_plan() -> None:
    with pytest.raises(ValueError, match="looks"):
        decide(np.zeros(4), PLAN)
    with pytest.raises(ValueError, match="increasing"):
        SequentialDesign((3, 3))
    with pytest.raises(ValueError, match="spending"):
        SequentialDesign((3, 6), spending="haybittle")


def test_vectorised_rule_is_the_scalar_rule() -> None:
    rng = np.random.default_rng(1)
    for n in PLAN.looks:
        diffs = rng.normal(rng.uniform(-1, 1, (200, 1)), 0.6, (200, n))
        assert list(decide_many(diffs, PLAN)) == [decide(d, PLAN) for d in diffs]


def test_family_wise_error_and_power_by_simulation() -> None:
    """400 null studies of 4 cells: no false gain/loss beyond alpha + 3 MC errors; cells with a
    gain of min_effect at sd 0.3 are won by the last look at least 90 % of the time."""
    rng = np.random.default_rng(2)

    def run(effect: float, studies: int) -> np.ndarray:
        diffs = rng.normal(effect, 0.3, (studies * 4, 20))
        out = np.full(len(diffs), "continue", dtype=object)
        for n in PLAN.looks:
            open_ = out == "continue"
            out[open_] = decide_many(diffs[open_, :n], PLAN)
        return out.reshape(studies, 4)

    null = run(0.0, 400)
    fwer = np.isin(null, ("gain", "loss")).any(axis=1).mean()
    assert fwer <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 400)
    assert (null == "futile").mean() > 0.9  # and it does stop them
    assert (run(0.5, 100) == "gain").mean() >= 0.9
