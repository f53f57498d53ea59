"""The losses' own variances per setting (`analysis.loss_variances`), and `seedmodel.fit`'s
choice between the two variance models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import seedmodel
from analysis.loss_variances import Setting, identified, moderate_losses, score_info


def _study(sd: np.ndarray, n: int, rng: np.random.Generator) -> list[seedmodel.Row]:
    """Rows candidate − reference of settings × losses with error sd `sd` (column 0: the
    reference), true gains 0, n seeds, a seed effect that cancels."""
    rows = []
    for s in range(sd.shape[0]):
        y = rng.normal(0, 5, n) + sd[s][:, None] * rng.standard_normal((sd.shape[1], n))
        for c in range(1, sd.shape[1]):
            rows.append(seedmodel.Row(f"c{c}", (s,), pd.Series(y[c] - y[0])))
    return rows


def _reml_loglik(eta: np.ndarray, s: Setting) -> float:
    """The REML log-likelihood of one setting's differences, written out directly."""
    v = np.exp(eta)
    cov = v[0] * (s.seed[:, None] == s.seed[None, :]) + np.diag(v[1 + s.row])
    x = (s.row[:, None] == np.arange(len(eta) - 1)[None, :]).astype(float)
    vinv = np.linalg.inv(cov)
    p = vinv - vinv @ x @ np.linalg.solve(x.T @ vinv @ x, x.T @ vinv)
    return float(-0.5 * (np.linalg.slogdet(cov)[1] + np.linalg.slogdet(x.T @ vinv @ x)[1]
                         + s.y @ p @ s.y))  # fmt: skip


def test_score_is_the_gradient_of_the_reml_likelihood_with_missing_seeds() -> None:
    rng = np.random.default_rng(0)
    diffs = [pd.Series(rng.normal(size=6)), pd.Series(rng.normal(size=6)).drop([1, 4]),
             pd.Series(rng.normal(size=6)).drop([0])]  # fmt: skip
    s = Setting.of(diffs, ["a", "b", "c"])
    eta = np.array([-0.3, 0.2, 0.5, -1.0])
    score, info = score_info(eta, s)
    step = 1e-6
    numeric = [(_reml_loglik(eta + step * e, s) - _reml_loglik(eta - step * e, s)) / (2 * step)
               for e in np.eye(4)]  # fmt: skip
    assert np.allclose(score, numeric, atol=1e-5)
    assert np.all(np.linalg.eigvalsh(info) > 0)


def test_identified_needs_three_rows_two_sharing_two_seeds() -> None:
    one = pd.Series([1.0, 2.0, 4.0])
    assert not identified([Setting.of([one], ["a"])])
    # two rows only just identify three variances: not enough
    assert not identified([Setting.of([one, one * 2 + 1], ["a", "b"])])
    apart = pd.Series([1.0, 3.0, 2.0], index=[5, 6, 7])
    further = pd.Series([0.0, 3.0, 1.0], index=[8, 9, 10])
    assert not identified([Setting.of([one, apart, further], ["a", "b", "c"])])
    assert identified([Setting.of([one, one * 2 + 1, apart], ["a", "b", "c"])])
    assert not identified([Setting.of([one, one * 2 + 1, apart], ["a", "b", "c"]),
                           Setting.of([one, one * 3], ["a", "b"])])  # fmt: skip


def test_the_reference_variance_is_recovered_from_the_rows_covariances() -> None:
    """A noisy reference (sd 3) and stable candidates (sd 1): every row's variance of
    differences is 10, which the rows' sample variances alone cannot split; the losses'
    model finds the reference's 9 from the covariances between rows."""
    rng = np.random.default_rng(1)
    sd = np.tile([3.0, 1.0, 1.0, 1.0], (4, 1))
    rows = _study(sd, 120, rng)
    settings = [Setting.of([r.diffs for r in rows[k * 3 : (k + 1) * 3]], ["c1", "c2", "c3"])
                for k in range(4)]  # fmt: skip
    mod = moderate_losses(settings)
    assert np.allclose(mod.s2, 10, rtol=0.1)
    assert np.allclose(mod.reference_s2, 9, rtol=0.15)
    assert np.all(mod.df > 119)  # pooled over the study: more than one row's own df


def test_fit_with_losses_pools_and_falls_back_where_a_setting_has_one_row() -> None:
    rng = np.random.default_rng(2)
    rows = _study(np.tile([1.0, 1.0, 1.0, 3.0], (5, 1)), 5, rng)
    by_rows, by_losses = seedmodel.fit(rows), seedmodel.fit(rows, "losses")
    assert np.array_equal(by_rows.gain, by_losses.gain)
    assert not np.allclose(by_rows.se, by_losses.se)
    assert np.all(np.isfinite(by_losses.se)) and np.all(by_losses.df >= 4)
    # the noisy loss keeps its own level: its rows' variances stay above the stable ones'
    noisy = np.array([r.candidate == "c3" for r in rows])
    assert by_losses.se[noisy].min() > by_losses.se[~noisy].max()
    single = [r for r in rows if r.candidate == "c1"]  # one row per setting: not identified
    assert np.allclose(seedmodel.fit(single, "losses").se, seedmodel.fit(single).se)
    with pytest.raises(ValueError, match="variances 'cells'"):
        seedmodel.fit(rows, "cells")


def test_fit_with_losses_keeps_row_order_across_interleaved_settings() -> None:
    rng = np.random.default_rng(3)
    rows = _study(np.tile([1.0, 0.5, 2.0, 1.0], (3, 1)), 6, rng)
    order = [4, 0, 8, 2, 5, 7, 1, 3, 6]  # settings interleaved
    direct = seedmodel.fit(rows, "losses")
    shuffled = seedmodel.fit([rows[i] for i in order], "losses")
    assert np.allclose(shuffled.se, direct.se[order])
    assert np.allclose(shuffled.corr, direct.corr[np.ix_(order, order)])


def test_the_closed_form_of_a_balanced_setting_is_the_general_likelihood() -> None:
    rng = np.random.default_rng(4)
    diffs = [pd.Series(rng.normal(size=5)) for _ in range(3)]
    balanced = Setting.of(diffs, ["a", "b", "c"])
    assert balanced.scatter is not None and balanced.df == 4
    general = Setting(balanced.y, balanced.row, balanced.seed, balanced.candidates)
    eta = np.array([0.4, -0.2, 0.1, 1.3])
    for fast, slow in zip(score_info(eta, balanced), score_info(eta, general), strict=True):
        assert np.allclose(fast, slow)
    assert Setting.of([diffs[0], diffs[1].drop([2])], ["a", "b"]).scatter is None


def test_compare_losses_with_the_losses_model_names_it_and_its_fallback() -> None:
    from analysis.family import METHOD_NAMES
    from analysis.stats import compare_losses

    rng = np.random.default_rng(5)
    rows = []
    for s in range(4):
        for k in range(5):
            b = rng.normal(20, 2)
            for loss, sd in {"ce": 2.0, "a": 0.3, "b": 0.3, "c": 0.3}.items():
                rows.append({"loss_label": loss, "seed": k, "cell": s,
                             "top1_error": b + rng.normal(0, sd)})  # fmt: skip
    trials = pd.DataFrame(rows)
    kw = {"setting_keys": ["cell"], "min_effect": 1.0, "draws": 5_000}
    by_rows = compare_losses(trials, "top1_error", family_method="maxt", **kw)
    by_losses = compare_losses(trials, "top1_error", **kw)  # the default
    assert (by_losses["gain"] == by_rows["gain"]).all()
    assert set(by_losses["method"]) == {METHOD_NAMES["maxt-losses"]}
    assert (by_losses["tost_low"] == by_losses["ci_low"]).all()
    # every row's variance is the noisy reference's 4 plus 0.09: both models see it, and the
    # losses' model knows it on more degrees of freedom (it reads the rows' covariances)
    assert by_losses["df"].median() > by_rows["df"].median()
    two = compare_losses(trials[trials["loss_label"] != "b"], "top1_error",
                         family_method="maxt-losses", **kw)  # fmt: skip
    assert two["method"].iloc[0] == (  # two rows everywhere: analysis.scale_variances
        METHOD_NAMES["maxt-losses"] + " (a level per setting and per loss, two rows per setting)"
    )
    mixed = trials[(trials["loss_label"] != "b") | (trials["cell"] != 0)]  # 2 rows, then 3
    mixed = compare_losses(mixed, "top1_error", family_method="maxt-losses", **kw)
    assert mixed["method"].iloc[0] == (
        METHOD_NAMES["maxt"] + " (the losses' variances need 3 rows in every setting)"
    )


def test_a_fit_that_does_not_settle_falls_back_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from analysis import loss_variances

    rng = np.random.default_rng(6)
    rows = _study(np.tile([1.0, 1.0, 1.0, 3.0], (4, 1)), 5, rng)
    monkeypatch.setattr(loss_variances, "ITERATIONS", 1)  # one round cannot settle
    with pytest.raises(loss_variances.NotSettled):
        loss_variances.moderate_losses(
            [Setting.of([r.diffs for r in rows[k * 3 : (k + 1) * 3]], ["c1", "c2", "c3"])
             for k in range(4)]
        )  # fmt: skip
    fit = seedmodel.fit(rows, "losses")
    assert fit.variances == "rows" and fit.fallback.endswith("did not settle: NotSettled")
    assert np.allclose(fit.se, seedmodel.fit(rows).se)


def test_a_two_solution_cycle_settles_on_the_larger_components(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A study (7 candidates × 6 settings, n = 3, every sd alike) on which REML of the working
    response alternates between an interaction τ² near 0.43 and 0: the fit keeps the larger,
    within a few rounds, instead of cycling until `ITERATIONS`."""
    from analysis import loss_variances

    rng = np.random.default_rng(11)
    for _ in range(10):  # the tenth study of this stream cycles
        errors = rng.standard_normal((6, 8, 3)) * 0.3 / np.sqrt(2)
    settings = [Setting.of([pd.Series(errors[s, c + 1] - errors[s, 0]) for c in range(7)],
                           [f"c{c}" for c in range(7)]) for s in range(6)]  # fmt: skip
    rounds: list[np.ndarray] = []
    reml = loss_variances.reml
    monkeypatch.setattr(loss_variances, "reml", lambda *a, **k: rounds.append(reml(*a, **k))
                        or rounds[-1])  # fmt: skip
    mod = loss_variances.moderate_losses(settings)
    assert len(rounds) < 20
    assert any(r[0] < 0.01 for r in rounds)  # it met the other solution, and left it
    assert mod.components["interaction"] > 0.4


def test_the_methods_text_names_the_variances_used_and_why() -> None:
    from analysis.methods import methods
    from analysis.report_config import Settings
    from analysis.stats import compare_losses

    rng = np.random.default_rng(7)
    trials = pd.DataFrame([
        {"loss_label": loss, "seed": k, "cell": s, "top1_error": 20 + rng.normal(0, 1)}
        for s in range(3) for k in range(5) for loss in ("ce", "a", "b", "c")
    ])  # fmt: skip
    cfg = Settings("top1_error", "ce", 0.05, 1.0, 0, 99, "t")
    kw = {"setting_keys": ["cell"], "min_effect": 1.0, "draws": 2_000}
    three = compare_losses(trials, "top1_error", **kw)
    text = methods(cfg, three, 0, False).text
    assert "each loss's own variance per setting" in text and "need 3 rows" not in text
    mixed = compare_losses(trials[(trials["loss_label"] != "c") | (trials["cell"] != 0)],
                           "top1_error", **kw)  # fmt: skip
    text = methods(cfg, mixed, 0, False).text
    assert "the rows' variances of paired differences" in text
    assert "(the losses' variances need 3 rows in every setting)" in text
