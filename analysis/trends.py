"""How the gain changes with the noise rate: pre-specified linear trend contrasts of the
seed-level model's row gains, per candidate and noise kind (numpy; the simultaneous
intervals by `analysis.maxt`).

Noise rates are designed settings, not draws from a population of settings, so they are not
pooled by random effects (that stays for exchangeable axes: `analysis.meta`). Per candidate,
per noise kind k and per setting of any other varying axis, the trend is the least-squares
slope of the row gains ĝ_s over that kind's rates together with the clean rows (no noise, or
rate 0: the same setting for every kind), per 0.1 of rate:

    slope = Σ_s w_s ĝ_s,   w_s = 0.1·(x_s − x̄) / Σ_s (x_s − x̄)²   (x_s the rate),

a fixed contrast of the design. Its variance is wᵀ Σ w with Σ the model's covariance of
the row gains (se_i se_j corr_ij: rows of one setting share the reference); its degrees of
freedom by Welch–Satterthwaite, (Σ w_s² se_s²)² / Σ w_s⁴ se_s⁴ / ν_s, from the rows'
moderated degrees of freedom ν_s. The intervals are simultaneous over every trend of the
report (max-|t| with the trends' correlation). They describe; no verdict is read from them,
and the report's α is not spent on them (docs/analysis.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import maxt

NOISE_KEYS = ("noise.kind", "noise.rate")
TREND_COLUMNS = (
    "candidate", "setting", "kind", "rates", "slope", "se", "df", "ci_low", "ci_high",
)  # fmt: skip


def _contrasts(
    comparisons: pd.DataFrame, setting_keys: Sequence[str]
) -> list[tuple[str, str, str, np.ndarray, np.ndarray]]:
    """(candidate, other axes' setting, kind, row positions, weights) of every trend."""
    others = [k for k in setting_keys if k not in NOISE_KEYS
              and comparisons[k].nunique(dropna=False) > 1]  # fmt: skip
    rate = comparisons["noise.rate"].astype(float).to_numpy()
    kind = (comparisons["noise.kind"].astype(str).to_numpy() if "noise.kind" in comparisons
            else np.full(len(comparisons), "noise"))  # fmt: skip
    clean = (kind == "none") | (rate == 0)
    usable = np.isfinite(comparisons["se"].to_numpy(float))
    out = []
    for key, frame in comparisons.groupby(["candidate", *others], sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        setting = ", ".join(f"{k} {v}" for k, v in zip(others, key[1:], strict=True)) or "all"
        pos = frame.index.to_numpy()
        for k in sorted(set(kind[pos][~clean[pos]])):
            rows = pos[((kind[pos] == k) | clean[pos]) & usable[pos]]
            x = rate[rows]
            if len(np.unique(x)) < 2:
                continue
            w = 0.1 * (x - x.mean()) / np.sum((x - x.mean()) ** 2)
            out.append((str(key[0]), setting, k, rows, w))
    return out


def noise_trends(
    comparisons: pd.DataFrame,
    corr: np.ndarray,
    setting_keys: Sequence[str],
    alpha: float = 0.05,
    seed: int = 0,
    draws: int = maxt.DRAWS,
) -> pd.DataFrame:
    """One row per trend (module docstring), from `analysis.stats.compare` output: its table
    (`gain`, `se`, `df`, the setting keys, positional index) and the rows' correlation `corr`.
    Empty when the noise rate does not vary."""
    if "noise.rate" not in setting_keys or comparisons["noise.rate"].nunique() < 2:
        return pd.DataFrame(columns=list(TREND_COLUMNS))
    table = comparisons.reset_index(drop=True)
    found = _contrasts(table, setting_keys)
    if not found:
        return pd.DataFrame(columns=list(TREND_COLUMNS))
    gain, se, df = (table[c].to_numpy(float) for c in ("gain", "se", "df"))
    cov = corr * np.outer(np.nan_to_num(se), np.nan_to_num(se))
    weights = np.zeros((len(found), len(table)))
    for i, (_, _, _, rows, w) in enumerate(found):
        weights[i, rows] = w
    est = weights @ np.nan_to_num(gain)
    var = np.einsum("ij,jk,ik->i", weights, cov, weights)
    part = (weights * np.nan_to_num(se)) ** 2
    dof = var**2 / np.sum(np.where(part > 0, part**2 / np.where(df > 0, df, 1.0), 0.0), axis=1)
    sd = np.sqrt(var)
    trend_corr = (weights @ cov @ weights.T) / np.outer(sd, sd)
    crit = maxt.simulate(trend_corr, dof, seed, draws).critical(alpha)
    return pd.DataFrame({
        "candidate": [f[0] for f in found], "setting": [f[1] for f in found],
        "kind": [f[2] for f in found],
        "rates": [", ".join(f"{r:g}" for r in sorted(set(table.loc[f[3], "noise.rate"])))
                  for f in found],
        "slope": est, "se": sd, "df": dof, "ci_low": est - crit * sd, "ci_high": est + crit * sd,
    }, columns=list(TREND_COLUMNS))  # fmt: skip


def trend_level(alpha: float, trends: int) -> str:
    """How the intervals of a trends table of `trends` rows hold, in words."""
    return (f"simultaneous {100 * (1 - alpha):g} % (max-|t| over {max(1, trends)} trend"
            f"{'s' if trends != 1 else ''}), descriptive")  # fmt: skip
