"""The seed-level model: moderated variances, max-|t| critical values, families and claims,
and a diverged trial counted as a result."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import maxt
from analysis.claims import Claim, answer, claim_table
from analysis.stats import compare, compare_losses
from analysis.variances import moderate, trigamma_inverse


def _study(rng: np.random.Generator, sds: dict[str, float], settings: int, n: int,
           gains: dict[str, float] | None = None) -> pd.DataFrame:  # fmt: skip
    """Trials of every loss at every setting and seed: a seed effect shared by the losses,
    the loss's own sd; `gains` lowers a loss's error (positive: better than ce)."""
    rows = []
    for s in range(settings):
        for k in range(n):
            b = rng.normal(20, 2)
            for loss, sd in sds.items():
                rows.append(
                    {
                        "loss_label": loss,
                        "seed": k,
                        "cell": s,
                        "top1_error": b - (gains or {}).get(loss, 0.0) + rng.normal(0, sd),
                    }
                )
    return pd.DataFrame(rows)


def test_trigamma_inverse() -> None:
    x = np.array([0.3, 2.0, 11.0])
    assert trigamma_inverse(stats_polygamma(x)) == pytest.approx(x, rel=1e-8)


def stats_polygamma(x: np.ndarray) -> np.ndarray:
    from scipy import special

    return np.asarray(special.polygamma(1, x))


def test_max_t_is_sidak_for_independent_rows_and_dunnett_for_shared_reference() -> None:
    crit = maxt.simulate(np.eye(3), np.full(3, 4.0), seed=1, draws=200_000).critical(0.05)
    sidak = stats.t.ppf(1 - (1 - 0.95 ** (1 / 3)) / 2, 4)
    assert crit == pytest.approx(sidak, rel=0.01)
    # two candidates against one reference (correlation ½), known variance: Dunnett's 2.212
    corr = np.array([[1.0, 0.5], [0.5, 1.0]])
    crit = maxt.simulate(corr, np.full(2, np.inf), seed=2, draws=200_000).critical(0.05)
    assert crit == pytest.approx(2.212, abs=0.015)


def test_moderation_pools_alike_rows_and_keeps_a_noisy_loss_apart() -> None:
    rng = np.random.default_rng(3)
    settings, cands = np.repeat(np.arange(6), 4), np.tile(["a", "b", "c", "noisy"], 6)
    sigma2 = np.where(cands == "noisy", 100.0, 1.0)
    s2 = sigma2 * rng.chisquare(4, len(sigma2)) / 4
    mod = moderate(s2, np.full(len(s2), 4.0), settings, cands)
    assert (mod.df > 4).all()  # pooling buys degrees of freedom
    noisy, calm = mod.s2[cands == "noisy"], mod.s2[cands != "noisy"]
    assert np.median(noisy) > 30 and np.median(calm) < 3  # no borrowing across the two
    assert mod.components["candidate"] > 1.0
    few = moderate(np.array([1.0, 2.0]), np.array([4.0, 4.0]), [0, 1], ["a", "a"])
    assert few.s2 == pytest.approx([1.0, 2.0]) and few.df == pytest.approx([4.0, 4.0])


def test_pooling_never_leaves_a_row_less_certain_than_its_own_sample() -> None:
    """Three rows on 1 df that disagree by 10⁴: pooling cannot tell their levels apart, so
    each keeps its own variance and df; a two-level factor is a fixed difference."""
    wild = moderate(np.array([1.0, 100.0, 10000.0]), np.ones(3), [0, 1, 2], ["a"] * 3)
    assert wild.s2 == pytest.approx([1.0, 100.0, 10000.0]) and wild.df == pytest.approx([1.0] * 3)
    two = moderate(np.array([1.0, 2.0, 1.5, 1.2]), np.full(4, 4.0), [0, 0, 1, 1], list("abab"))
    assert set(two.components) == {"row"}  # setting and candidate: two levels each, fixed


def test_the_model_narrows_the_intervals_at_the_same_data() -> None:
    rng = np.random.default_rng(4)
    trials = _study(rng, {"ce": 0.3, "a": 0.3, "b": 0.3, "c": 0.3}, settings=6, n=5)
    kw = {"setting_keys": ["cell"], "min_effect": 1.0}
    maxt_rows = compare_losses(trials, "top1_error", **kw)
    bonf = compare_losses(trials, "top1_error", family_method="bonferroni", **kw)
    assert (maxt_rows["gain"] == bonf["gain"]).all()
    ratio = (maxt_rows["ci_high"] - maxt_rows["ci_low"]) / (bonf["ci_high"] - bonf["ci_low"])
    assert ratio.median() < 0.7
    assert (maxt_rows["df"] > 4).all() and set(maxt_rows["family_size"]) == {18}
    assert maxt_rows["method"].iloc[0].startswith("seed-level model")
    assert (maxt_rows["tost_low"] == maxt_rows["ci_low"]).all()


def test_primary_candidates_form_the_confirmatory_family() -> None:
    rng = np.random.default_rng(5)
    trials = _study(rng, {"ce": 0.3, "lace": 0.3, "b": 0.3, "c": 0.3}, settings=3, n=5)
    out = compare(trials, "top1_error", setting_keys=["cell"], primary=["lace"]).table
    fams = out.groupby("family")["family_size"].first().to_dict()
    assert fams == {"confirmatory": 3, "exploratory": 6}
    assert set(out.loc[out["candidate"] == "lace", "family"]) == {"confirmatory"}
    # a family of 3 needs a smaller critical value than one of 6
    crit = out.groupby("family")["crit"].first()
    assert crit["confirmatory"] < crit["exploratory"]
    with pytest.raises(ValueError, match="primary"):
        compare(trials, "top1_error", setting_keys=["cell"], primary=["nope"])


def test_claim_answers_by_hand() -> None:
    assert answer(0.2, 1.0, 0.5) == "supported"
    assert answer(0.1, 0.4, 0.5) == "smaller than claimed"
    assert answer(-0.2, 0.3, 0.5) == "not supported"
    assert answer(-0.9, -0.1, 0.5) == "not supported"
    assert answer(-0.2, 0.8, 0.5) == "undecided"
    assert answer(math.nan, math.nan, 0.5) == "undecided"
    assert answer(-1.0, -0.2, -0.5) == "supported"  # a claimed loss, signs turned
    table = pd.DataFrame({"candidate": ["lace", "lace"], "noise.rate": [0.0, 0.4],
                          "gain": [0.6, 0.1], "ci_low": [0.2, -0.3], "ci_high": [1.0, 0.4],
                          "n_pairs": [5, 5], "family": "confirmatory"})  # fmt: skip
    claims = claim_table(table, [Claim("lace", 0.5, "paper", {"noise.rate": 0.0})],
                         ["noise.rate"])  # fmt: skip
    assert list(claims["answer"]) == ["supported"] and claims["source"].iloc[0] == "paper"


def test_a_loss_that_diverges_in_some_seeds_is_no_gain_on_its_survivors() -> None:
    """An unstable loss better than ce on the seeds it survives (2 points) diverges in 2 of
    5 seeds per setting: at its chance-level error the row is no gain, and the table counts
    the diverged trials; dropping them would have read a gain."""
    rng = np.random.default_rng(6)
    trials = _study(rng, {"ce": 0.3, "unstable": 0.3, "b": 0.3}, settings=4, n=5,
                    gains={"unstable": 2.0})  # fmt: skip
    trials["final_diverged"] = 0
    gone = (trials["loss_label"] == "unstable") & trials["seed"].isin([1, 3])
    trials.loc[gone, ["top1_error", "final_diverged"]] = [90.0, 1]  # chance on 10 classes
    out = compare_losses(trials, "top1_error", setting_keys=["cell"], min_effect=1.0)
    unstable = out[out["candidate"] == "unstable"]
    assert not (unstable["verdict"] == "gain").any() and (unstable["gain"] < 0).all()
    assert list(unstable["n_diverged"]) == [2] * 4 and list(unstable["n_pairs"]) == [5] * 4
    survivors = compare_losses(trials[~gone], "top1_error", setting_keys=["cell"], min_effect=1.0)
    assert (survivors[survivors["candidate"] == "unstable"]["verdict"] == "gain").all()
