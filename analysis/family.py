"""A family's simultaneous intervals and verdicts, by one of three methods (numpy, scipy;
statsmodels for Benjamini–Hochberg and the planning figures):

* `maxt-losses` (the default) and `maxt`: each row's moderated standard error and degrees of
  freedom from the seed-level model (`analysis.seedmodel`: each loss's own variance per
  setting, `analysis.loss_variances`, or each row's, `analysis.variances`; with two rows in
  every setting `maxt-losses` uses a level per setting and per loss,
  `analysis.scale_variances`, and the rows' variances where a setting has fewer than three
  rows otherwise), and one critical value c for
  the family from the joint distribution of its t statistics (`analysis.maxt`): the
  intervals gain ± c·se cover every true gain of the family at once with probability
  1 − α. `tost_low`..`tost_high` is
  the same interval: a row is `equivalent` when it lies inside ±min_effect, so a false
  `equivalent` (a true |gain| ≥ min_effect whose interval excludes it) needs an interval that
  misses, whatever the signs of the true gains (a one-sided bound would need them known);
  `p_adj` is the single-step adjusted p-value P(max |T| ≥ |t|);
* `bonferroni`: each row's own paired t on n − 1 degrees of freedom, gain ± t_{n−1, 1 −
  α/(2m)}·se; the TOST interval gain ± t_{n−1, 1 − α/m}·se (two one-sided tests at α/m);
  `p_adj` = min(1, m·p_t).

Either way the verdicts are read from the printed intervals only (`verdicts`): `gain` ⇔
ci_low > 0, `loss` ⇔ ci_high < 0, else `equivalent` ⇔ −min_effect < tost_low and tost_high <
min_effect, else `inconclusive`; a row without an interval is `inconclusive`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from analysis import maxt
from analysis.intervals import t_interval
from analysis.power import minimum_detectable_effect, pairs_needed

METHODS = ("maxt", "maxt-losses", "bonferroni")
METHOD_NAMES = {
    "maxt": "seed-level model, moderated variances, max-|t| over the family",
    "maxt-losses": "seed-level model, the losses' moderated variances, max-|t| over the family",
    "bonferroni": "per-row paired t, Bonferroni over the family",
}
MODEL_METHODS = {"maxt": "rows", "maxt-losses": "losses"}  # the variances of seedmodel.fit
DEFAULT_METHOD = "maxt-losses"  # the narrowest calibrated (docs/analysis.md)


def _has(frame: pd.DataFrame) -> np.ndarray:
    gain, se, df = (frame[c].to_numpy(float) for c in ("gain", "se", "df"))
    return np.isfinite(gain) & np.isfinite(se) & (se > 0) & np.isfinite(df)


def bonferroni(rows: pd.DataFrame, alpha: float, family_size: int | None = None) -> pd.DataFrame:
    """`crit`, `ci_*`, `tost_*`, `p_t`, `p_adj` of per-row Bonferroni intervals; m =
    `family_size`, else the rows that have an interval."""
    out = rows.copy()
    gain, se, df = (out[c].to_numpy(float) for c in ("gain", "se", "df"))
    has = _has(out)
    m = int(family_size if family_size is not None else max(1, int(has.sum())))
    out["family_size"] = m
    out["ci_low"], out["ci_high"] = t_interval(gain, se, df, 1 - alpha / m)
    out["tost_low"], out["tost_high"] = t_interval(gain, se, df, 1 - 2 * alpha / m)
    with np.errstate(invalid="ignore"):
        out["crit"] = np.where(has, stats.t.ppf(1 - alpha / (2 * m), np.where(has, df, 1.0)),
                               math.nan)  # fmt: skip
    out["p_t"] = _p_t(gain, se, df, has)
    out["p_adj"] = np.minimum(1.0, out["p_t"].to_numpy(float) * m)
    return out


def max_t(
    rows: pd.DataFrame, corr: np.ndarray, alpha: float, seed: int, draws: int = maxt.DRAWS,
    wcorr: np.ndarray | None = None,
) -> pd.DataFrame:  # fmt: skip
    """The same columns from the joint distribution of the rows' t statistics (`corr`: the
    correlation of the rows' gains, `wcorr`: of their variance estimates' errors, in the
    rows' order; `analysis.maxt`)."""
    out = rows.copy()
    gain, se, df = (out[c].to_numpy(float) for c in ("gain", "se", "df"))
    has = _has(out)
    idx = np.flatnonzero(has)
    out["family_size"] = max(1, len(idx))
    crit = math.nan
    p_adj = np.full(len(out), math.nan)
    if len(idx):
        sub = None if wcorr is None else wcorr[np.ix_(idx, idx)]
        dist = maxt.simulate(corr[np.ix_(idx, idx)], df[idx], seed, draws, sub)
        crit = dist.critical(alpha)
        p_adj[idx] = dist.adjusted(gain[idx] / se[idx])
    half = np.where(has, crit * se, math.nan)
    out["crit"] = np.where(has, crit, math.nan)
    out["ci_low"], out["ci_high"] = gain - half, gain + half
    out["tost_low"], out["tost_high"] = out["ci_low"], out["ci_high"]
    out["p_t"] = _p_t(gain, se, df, has)
    out["p_adj"] = p_adj
    return out


def _p_t(gain: np.ndarray, se: np.ndarray, df: np.ndarray, has: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(has, 2 * stats.t.sf(np.abs(gain / se), np.where(has, df, 1.0)), math.nan)


def finish(out: pd.DataFrame, alpha: float, min_effect: float, planning: bool) -> pd.DataFrame:
    """Benjamini–Hochberg `q_bh` (screening only), `verdict`, and with `planning` `mde` and
    `seeds_needed` at the row's adjusted two-sided level 2·P(T_df > crit)."""
    from statsmodels.stats.multitest import multipletests

    has = _has(out)
    p_t = out["p_t"].to_numpy(float)
    out["q_bh"] = math.nan
    if has.sum() >= 2:
        out.loc[has, "q_bh"] = multipletests(p_t[has], alpha, method="fdr_bh")[1]
    elif has.sum() == 1:
        out.loc[has, "q_bh"] = p_t[has]
    out["verdict"] = verdicts(out, min_effect)
    out["mde"], out["seeds_needed"] = math.nan, math.nan
    if planning and has.any():
        crit, df = out["crit"].to_numpy(float), out["df"].to_numpy(float)
        level = np.where(has, 2 * stats.t.sf(crit, np.where(has, df, 1.0)), math.nan)
        n = out["n_pairs"].to_numpy(float)
        sd = out["se"].to_numpy(float) * np.sqrt(n)
        out["mde"] = [minimum_detectable_effect(s, int(k), a) if h else math.nan
                      for s, k, a, h in zip(sd, n, level, has, strict=True)]  # fmt: skip
        d_z = out["gain"].to_numpy(float) / sd
        out["seeds_needed"] = [pairs_needed(d, a) if h else math.nan
                               for d, a, h in zip(d_z, level, has, strict=True)]  # fmt: skip
    return out


def verdicts(rows: pd.DataFrame, min_effect: float) -> np.ndarray:
    """The verdict of each row, from its printed intervals alone (module docstring)."""
    low, high = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
    t_low, t_high = rows["tost_low"].to_numpy(float), rows["tost_high"].to_numpy(float)
    equivalent = (t_low > -min_effect) & (t_high < min_effect)
    return np.select(
        [low > 0, high < 0, equivalent], ["gain", "loss", "equivalent"], "inconclusive"
    ).astype(object)
