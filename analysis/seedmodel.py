"""The seed-level model behind every comparison of a report (numpy, pandas; the variances by
`analysis.variances`, the simultaneous intervals by `analysis.maxt`).

Every finished trial's metric (a diverged trial at its chance-level value) enters:

    y(loss, setting, seed) = μ(setting) + θ(loss, setting) + b(setting, seed) + ε,
    ε ~ N(0, σ²(loss, setting)),

where a *setting* is every grid axis but the loss and the seed, and b carries the pairing:
the losses of one setting and seed share the initialisation, the batches and the noisy
labels. A row is a candidate × setting; its gain θ(candidate) − θ(reference) (oriented:
positive = candidate better) is estimated by the mean of the paired differences over the
seeds both sides ran (b cancels in each difference), so a comparison stopped early, or a
reference with extra seeds, keeps its pairing. The differences of row i have variance
σ²(candidate) + σ²(reference): one per loss and setting, estimated on n_i − 1 degrees of
freedom and moderated over all rows (`fit(rows, "rows")`, `analysis.variances`; the
report's `--family-method maxt`), or each loss's own variance per setting, which the
covariances between a setting's rows identify (`fit(rows, "losses")`,
`analysis.loss_variances`; the report's default, `maxt-losses`; with two rows in every
setting, too few to moderate them loss by loss, a level per setting and per loss,
`analysis.scale_variances`; all calibrated in docs/analysis.md). Rows of one setting share the
reference's trials, so their estimates are correlated:

    Cov(ĝ_i, ĝ_j) = σ²(reference, setting) · n_ij / (n_i n_j),

n_ij the seeds both rows use; σ²(reference, setting) is the mean sample covariance of the
two rows' differences over their shared seeds (every pair of rows of the setting, weighted
by its degrees of freedom), or the losses' model's own estimate, kept between 0 and the
smallest moderated variance of the setting. The simultaneous intervals of a family come
from the joint distribution of the rows' t statistics with that correlation and the
dependence of their moderated variances (`analysis.maxt`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import loss_variances, scale_variances
from analysis.variances import moderate


@dataclass(frozen=True)
class Row:
    """One candidate × setting: its paired differences (positive = candidate better) by seed."""

    candidate: str
    setting: tuple[object, ...]
    diffs: pd.Series  # indexed by the pairing key (seed)
    n_diverged: int = 0  # diverged candidate trials among the pairs
    n_diverged_reference: int = 0


def paired_rows(
    trials: pd.DataFrame,
    metric: str,
    reference: str,
    setting_keys: Sequence[str],
    pair_key: str,
    candidate_key: str,
    sign: float,
    diverged_key: str | None = None,
) -> list[Row]:
    """The rows of a study, candidates sorted within each setting; a candidate or reference
    trial whose seed the other side lacks is left out of the pairs (and a seed run twice on
    one side keeps its last trial)."""
    data = trials.dropna(subset=[metric])
    groups = (
        data.groupby(list(setting_keys), dropna=False, sort=True) if setting_keys else [((), data)]
    )
    rows = []
    for key, frame in groups:
        setting = key if isinstance(key, tuple) else (key,)
        by = {name: g.drop_duplicates(pair_key, keep="last").set_index(pair_key)
              for name, g in frame.groupby(candidate_key)}  # fmt: skip
        ref = by.get(reference, frame.iloc[:0].set_index(pair_key))
        for name in sorted(set(by) - {reference}):
            cand = by[name]
            seeds = cand.index.intersection(ref.index)
            diffs = sign * (cand.loc[seeds, metric] - ref.loc[seeds, metric])
            rows.append(Row(
                name, setting, diffs.astype(float),
                _count(cand, seeds, diverged_key), _count(ref, seeds, diverged_key),
            ))  # fmt: skip
    return rows


def _count(frame: pd.DataFrame, seeds: pd.Index, key: str | None) -> int:
    if key is None or key not in frame or not len(seeds):
        return 0
    return int((pd.to_numeric(frame.loc[seeds, key], errors="coerce") > 0).sum())


@dataclass(frozen=True)
class Fit:
    """The model's per-row gain, standard error and degrees of freedom (nan: no interval),
    the correlation of the rows' gains (`corr`) and of their variance estimates' errors
    (`wcorr`, `analysis.variances`), and the variance components."""

    gain: np.ndarray
    se: np.ndarray
    df: np.ndarray
    corr: np.ndarray
    components: dict[str, float]
    wcorr: np.ndarray | None  # None: the variance estimates' errors drawn independently
    variances: str = "rows"  # the variance model used (`losses` falls back to `rows`)
    fallback: str = ""  # why `losses` fell back to `rows`
    detail: str = ""  # which of the losses' models: "" or the two-row one's name


VARIANCES = ("rows", "losses")


def fit(rows: Sequence[Row], variances: str = "rows") -> Fit:
    """Gains, moderated standard errors and their correlation (module docstring). A row
    with fewer than 2 pairs, or whose differences are all equal, gets no interval.
    `variances`: `rows` moderates each row's variance of differences
    (`analysis.variances`); `losses` moderates each loss's own variance per setting
    (`analysis.loss_variances`), where every setting identifies them; where every setting
    has two rows, as a level per setting and per loss (`analysis.scale_variances`, `detail`
    names it) if the study takes it; else as `rows` (`fallback` says why)."""
    if variances not in VARIANCES:
        raise ValueError(f"variances {variances!r}: allowed {', '.join(VARIANCES)}")
    n = np.array([len(r.diffs) for r in rows], dtype=float)
    gain = np.array([r.diffs.mean() if len(r.diffs) else math.nan for r in rows])
    s2 = np.array([r.diffs.var(ddof=1) if len(r.diffs) >= 2 else math.nan for r in rows])
    has = np.isfinite(s2) & (s2 > 0)
    se, df = np.full(len(rows), math.nan), np.full(len(rows), math.nan)
    kept = [i for i in range(len(rows)) if has[i]]
    by_losses, ref, fallback, detail = (
        _by_losses(rows, kept) if variances == "losses" else (None, None, "", "")
    )
    mod = by_losses or moderate(s2[has], n[has] - 1, [str(rows[i].setting) for i in kept],
                                [rows[i].candidate for i in kept])  # fmt: skip
    v = np.full(len(rows), math.nan)
    v[has], df[has] = mod.s2, mod.df
    se[has] = np.sqrt(v[has] / n[has])
    wcorr: np.ndarray | None = None  # the variance estimates drawn independently
    if mod.errors_corr is not None:
        wcorr = np.eye(len(rows))
        wcorr[np.ix_(has, has)] = mod.errors_corr
    return Fit(gain, se, df, correlation(rows, v, ref), mod.components, wcorr,
               "losses" if by_losses is not None else "rows", fallback, detail)  # fmt: skip


def _by_losses(
    rows: Sequence[Row], kept: Sequence[int]
) -> tuple[loss_variances.LossModerated, np.ndarray, str, str] | tuple[None, None, str, str]:
    """The losses' model for the rows `kept` (their order), with each row's reference
    variance (nan elsewhere) and which model it is; (None, None, why, "") where a setting
    does not identify it or the fit does not settle. Where every setting has fewer than
    `loss_variances.MIN_ROWS` rows, the levels per setting and per loss of
    `analysis.scale_variances`."""
    by_setting: dict[tuple[object, ...], list[int]] = {}
    for i in kept:
        by_setting.setdefault(rows[i].setting, []).append(i)
    settings = [loss_variances.Setting.of([rows[i].diffs for i in idx],
                                          [rows[i].candidate for i in idx])
                for idx in by_setting.values()]  # fmt: skip
    detail = ""
    try:
        if settings and loss_variances.identified(settings):
            mod = loss_variances.moderate_losses(settings)
        elif settings and all(len(s.candidates) < loss_variances.MIN_ROWS for s in settings):
            mod, detail = scale_variances.moderate_scales(settings), scale_variances.NAME
        else:
            return (None, None, f"the losses' variances need {loss_variances.MIN_ROWS} rows "
                    "in every setting", "")  # fmt: skip
    except scale_variances.NotScaled as error:
        return (None, None, f"the losses' variances need {loss_variances.MIN_ROWS} rows in "
                f"every setting; {scale_variances.NAME}: {error}", "")  # fmt: skip
    except (loss_variances.NotSettled, np.linalg.LinAlgError) as error:
        return None, None, f"the losses' variances did not settle: {type(error).__name__}", ""
    if not (np.all(np.isfinite(mod.s2)) and np.all(np.isfinite(mod.df))):
        return None, None, "the losses' variances did not settle: non-finite estimates", ""
    order = np.argsort([i for idx in by_setting.values() for i in idx])  # back to `kept`'s order
    ref = np.full(len(rows), math.nan)
    ref[np.asarray(sorted(kept))] = mod.reference_s2[order]
    corr = None if mod.errors_corr is None else mod.errors_corr[np.ix_(order, order)]
    return loss_variances.LossModerated(
        mod.s2[order], mod.df[order], mod.components, corr, mod.reference_s2[order],
    ), ref, "", detail  # fmt: skip


def correlation(
    rows: Sequence[Row], v: np.ndarray, reference: np.ndarray | None = None
) -> np.ndarray:
    """Correlation of the rows' gains, given each row's variance of differences `v` (nan:
    no interval): shared reference trials within a setting (module docstring); rows without
    an interval are uncorrelated with the rest. `reference`: the reference's variance per
    row where a model gives it (else it is the rows' mean sample covariance)."""
    corr = np.eye(len(rows))
    by_setting: dict[tuple[object, ...], list[int]] = {}
    for i, r in enumerate(rows):
        if np.isfinite(v[i]):
            by_setting.setdefault(r.setting, []).append(i)
    for idx in by_setting.values():
        if len(idx) < 2:
            continue
        seeds = sorted(set().union(*(rows[i].diffs.index for i in idx)), key=str)
        d = np.array([rows[i].diffs.reindex(seeds).to_numpy(float) for i in idx])
        ok = np.isfinite(d)
        shared = ok.astype(float) @ ok.T.astype(float)  # seeds both rows use
        num = den = 0.0
        for a in range(len(idx)):
            for b in range(a + 1, len(idx)):
                both = ok[a] & ok[b]
                if both.sum() >= 2:
                    num += (both.sum() - 1) * np.cov(d[a, both], d[b, both])[0, 1]
                    den += both.sum() - 1
        given = reference[idx[0]] if reference is not None else math.nan
        pooled = given if np.isfinite(given) else num / den if den else 0.0
        ref_var = min(max(pooled, 0.0), 0.999 * float(v[idx].min()))
        n = ok.sum(axis=1).astype(float)
        block = ref_var * shared / np.sqrt(np.outer(n * v[idx], n * v[idx]))
        np.fill_diagonal(block, 1.0)
        corr[np.ix_(idx, idx)] = block
    return _nearest_correlation(corr)


def _nearest_correlation(corr: np.ndarray) -> np.ndarray:
    """`corr` with negative eigenvalues clipped and unit diagonal restored (unequal seed
    counts can leave the plug-in matrix just outside the positive semidefinite cone)."""
    w, q = np.linalg.eigh(corr)
    if w.min() >= 0:
        return corr
    fixed = (q * np.maximum(w, 1e-9)) @ q.T
    d = np.sqrt(np.diag(fixed))
    return np.asarray(fixed / np.outer(d, d))
