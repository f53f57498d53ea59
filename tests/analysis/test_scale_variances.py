"""A level per setting and per loss (`analysis.scale_variances`): the losses' variances of a
study with two rows in every setting, and when `seedmodel.fit` declines them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import scale_variances, seedmodel
from analysis.loss_variances import Setting

# sd of each loss's errors per setting (column 0 the reference): the settings 40× apart, the
# first candidate 3× noisier than the other two losses, as the calibration's `het`
SD = np.geomspace(1 / 3, 13.4, 6)[:, None] * np.array([1.0, 3.0, 1.0]) * 0.3 / np.sqrt(2)


def _trials(sd: np.ndarray, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Every loss × setting × seed: a seed effect shared by the losses, true gains 0."""
    return pd.DataFrame([
        {"loss_label": ("ce", "a", "b")[j], "seed": k, "cell": s, "top1_error": b + e}
        for s in range(sd.shape[0]) for k, b in enumerate(rng.normal(30, 2, n))
        for j, e in enumerate(rng.standard_normal(sd.shape[1]) * sd[s])
    ])  # fmt: skip


def _settings(sd: np.ndarray, n: int, rng: np.random.Generator) -> list[Setting]:
    y = sd[..., None] * rng.standard_normal((*sd.shape, n))
    return [Setting.of([pd.Series(y[s, c] - y[s, 0]) for c in (1, 2)], ["a", "b"])
            for s in range(sd.shape[0])]  # fmt: skip


def test_the_levels_recover_known_variances() -> None:
    mod = scale_variances.moderate_scales(_settings(SD, 400, np.random.default_rng(0)))
    rows = (SD[:, 1:] ** 2 + SD[:, :1] ** 2).ravel()
    assert np.allclose(mod.s2, rows, rtol=0.1)
    assert np.allclose(mod.reference_s2, np.repeat(SD[:, 0] ** 2, 2), rtol=0.2)
    assert mod.errors_corr is None  # drawn independently by analysis.maxt
    assert mod.df.min() > 200


def test_two_rows_per_setting_take_the_levels_and_narrower_intervals() -> None:
    from analysis.family import METHOD_NAMES
    from analysis.stats import compare_losses

    trials = _trials(SD, 3, np.random.default_rng(1))
    kw = {"setting_keys": ["cell"], "min_effect": 1.0, "draws": 5_000}
    by_levels = compare_losses(trials, "top1_error", **kw)  # the default
    by_rows = compare_losses(trials, "top1_error", family_method="maxt", **kw)
    assert set(by_levels["method"]) == {f"{METHOD_NAMES['maxt-losses']} ({scale_variances.NAME})"}
    assert (by_levels["gain"] == by_rows["gain"]).all()
    width = (by_levels["ci_high"] - by_levels["ci_low"]) / (by_rows["ci_high"] - by_rows["ci_low"])
    assert width.median() < 0.8
    assert (by_levels["df"] > 2).all()  # more than each row's own n − 1


def test_a_row_off_its_levels_falls_back_to_the_rows_variances() -> None:
    sd = SD.copy()
    sd[2, 2] *= 30  # one loss unstable in one setting only
    rng = np.random.default_rng(2)
    with pytest.raises(scale_variances.NotScaled, match="off its levels"):
        scale_variances.moderate_scales(_settings(sd, 5, rng))
    y = sd[..., None] * rng.standard_normal((*sd.shape, 5))
    rows = [seedmodel.Row(name, (s,), pd.Series(y[s, c] - y[s, 0]))
            for s in range(6) for c, name in ((1, "a"), (2, "b"))]  # fmt: skip
    fit = seedmodel.fit(rows, "losses")
    assert fit.variances == "rows" and "off its levels" in fit.fallback
    assert np.allclose(fit.se, seedmodel.fit(rows).se)


def test_rows_without_shared_seeds_or_with_too_few_fall_back() -> None:
    settings = _settings(SD, 5, np.random.default_rng(3))
    apart = Setting.of([pd.Series(settings[0].y[:5]), pd.Series(settings[0].y[5:]).drop([4])],
                       ["a", "b"])  # fmt: skip
    with pytest.raises(scale_variances.NotScaled, match="share their seeds"):
        scale_variances.moderate_scales([apart, *settings[1:]])
    with pytest.raises(scale_variances.NotScaled, match="2 seeds"):
        scale_variances.moderate_scales(_settings(SD, 2, np.random.default_rng(3)))
    with pytest.raises(scale_variances.NotScaled, match="one setting"):
        scale_variances.moderate_scales(settings[:1])


def test_the_methods_text_describes_the_levels() -> None:
    from analysis.methods import methods
    from analysis.report_config import Settings
    from analysis.stats import compare_losses

    trials = _trials(SD, 3, np.random.default_rng(4))
    table = compare_losses(trials, "top1_error", setting_keys=["cell"], min_effect=1.0,
                           draws=2_000)  # fmt: skip
    text = methods(Settings("top1_error", "ce", 0.05, 1.0, 0, 99, "t"), table, 0, False).text
    assert "a level per setting times a level per loss" in text
    assert scale_variances.NAME in text and "the rows' variances of paired" not in text
