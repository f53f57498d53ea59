"""Paired statistics for "does loss X beat the reference loss?" — pure, typed, seeded.

A *pair* is a candidate trial and a reference trial at the same cell (every grid axis but the
loss and the seed) and the same seed: same initialisation, batches and noisy labels. The gain
is oriented so that positive means the candidate is better (for errors, NLL, ECE, Brier:
reference − candidate). Per candidate × cell, `compare_losses` reports:

* `gain`: mean paired difference; `se`: its standard error (sd / √n); `ci_low`, `ci_high`: a
  95 % CI of that mean by `ci_method` (named in `ci_method`): `t` (default) the paired
  t-interval, exact for normal differences and nominal at n = 3–10 (see docs/analysis.md);
  `bca` / `percentile` the bootstrap intervals of scipy.stats.bootstrap (seeded), which
  undercover with 5–10 pairs (82 % at n = 5 for a nominal 95 %);
* `p_t`: paired t-test; `p_wilcoxon`: Wilcoxon signed-rank, exact for small n — with n = 5
  pairs its smallest two-sided p is 2/2⁵ = 0.0625, so it can never reach 0.05;
* `p_holm` (family-wise: "the gain holds in every cell") and `q_bh` (Benjamini–Hochberg,
  screening) over all rows, from `p_t`, with statsmodels' `multipletests`;
* `prob_improvement`: share of pairs where the candidate is better (ties count ½), with a
  Wilson 95 % interval (`pi_low`, `pi_high`);
* `d_z`: Cohen's d for paired data, mean / sd of the differences;
* `mde`: the smallest gain a two-sided paired t-test at α detects with power 0.8, given the
  observed sd of differences and n (noncentral t; statsmodels `TTestPower`), and
  `seeds_needed`: pairs needed to detect the observed gain with that power;
* `verdict`: `gain` / `loss` when p_holm < α and the CI excludes 0 on that side; otherwise
  `no detectable difference` when the study could detect `min_effect` (mde ≤ min_effect),
  else `underpowered`.

Unmatched seeds in a cell (a trial missing on one side) fall back to Welch's t-test on the two
groups (`paired` = False, `note` says so; the `t` CI is then Welch's); the Wilcoxon and d_z
columns are then empty.

`meta_analysis(comparisons)` pools each candidate's per-cell gains into one random-effects
estimate (statsmodels' `combine_effects`, DerSimonian–Laird τ²) with its CI, τ², I², the
prediction interval for a new cell (Higgins, Thompson & Spiegelhalter 2009, J. R. Stat. Soc. A
172:137) and the probability of improvement pooled over every pair.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

LOWER_IS_BETTER = ("error", "nll", "ece", "brier", "loss", "epochs_to")
CI_METHODS = ("t", "bca", "percentile")
VERDICTS = ("gain", "loss", "no detectable difference", "underpowered")
COLUMNS = (
    "candidate", "n_pairs", "gain", "se", "ci_low", "ci_high", "ci_method", "p_t", "p_wilcoxon",
    "p_holm", "q_bh",
    "prob_improvement", "pi_low", "pi_high", "d_z", "mde", "seeds_needed", "verdict", "paired",
    "note",
)  # fmt: skip


def higher_is_better(metric: str) -> bool:
    """Errors, NLL, ECE, Brier and losses are better when lower; anything else when higher."""
    return not any(word in metric for word in LOWER_IS_BETTER)


def mean_ci(
    diffs: np.ndarray,
    alpha: float = 0.05,
    method: str = "t",
    seed: int = 0,
    n_resamples: int = 9999,
) -> tuple[float, float]:
    """(1 − α) CI of the mean of `diffs` (shape (n,)): `t` = x̄ ± t_{n−1, 1−α/2}·s/√n
    (scipy's `ttest_1samp(...).confidence_interval`), `bca` / `percentile` = bootstrap.
    A degenerate sample (all equal) gives a point; fewer than 2 values give (nan, nan)."""
    if method not in CI_METHODS:
        raise ValueError(f"ci_method {method!r}: allowed {', '.join(CI_METHODS)}")
    diffs = np.asarray(diffs, dtype=float)
    if len(diffs) < 2 or np.ptp(diffs) == 0:
        mean = float(np.mean(diffs)) if len(diffs) else math.nan
        return (mean, mean) if len(diffs) >= 2 else (math.nan, math.nan)
    if method == "t":
        ci = stats.ttest_1samp(diffs, 0.0).confidence_interval(1 - alpha)
        return float(ci.low), float(ci.high)
    return bootstrap_ci(diffs, alpha, seed, n_resamples, method)


def bootstrap_ci(
    diffs: np.ndarray,
    alpha: float = 0.05,
    seed: int = 0,
    n_resamples: int = 9999,
    method: str = "bca",
) -> tuple[float, float]:
    """Bootstrap CI (`bca` or `percentile`) of the mean of `diffs`; a degenerate sample gives
    a point."""
    diffs = np.asarray(diffs, dtype=float)
    if len(diffs) < 2 or np.ptp(diffs) == 0:
        mean = float(np.mean(diffs)) if len(diffs) else math.nan
        return (mean, mean) if len(diffs) >= 2 else (math.nan, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BCa warns on very small or lumpy samples
        res = stats.bootstrap(
            (diffs,),
            np.mean,
            confidence_level=1 - alpha,
            method="BCa" if method == "bca" else "percentile",
            n_resamples=n_resamples,
            rng=np.random.default_rng(seed),
        )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):  # BCa can fail: use percentiles
        res = stats.bootstrap(
            (diffs,), np.mean, confidence_level=1 - alpha, method="percentile",
            n_resamples=n_resamples, rng=np.random.default_rng(seed),
        )  # fmt: skip
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return low, high


def minimum_detectable_effect(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest mean paired difference a two-sided one-sample t-test detects with `power`."""
    if n < 2 or not math.isfinite(sd):
        return math.inf
    if sd == 0:
        return 0.0
    return _detectable_d(n, alpha, power) * sd


@functools.lru_cache(maxsize=256)
def _detectable_d(n: int, alpha: float, power: float) -> float:
    """Standardised effect a paired t-test with n pairs detects (statsmodels `TTestPower`);
    cached: it depends on n alone, and a large study asks for it once per row."""
    from statsmodels.stats.power import TTestPower

    return float(TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power))


def paired_t_power(d_z: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test with n pairs at standardised effect d_z
    (noncentral t with n − 1 degrees of freedom and noncentrality d_z·√n)."""
    crit = stats.t.ppf(1 - alpha / 2, n - 1)
    nc = abs(d_z) * math.sqrt(n)
    return float(stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc))


def pairs_needed(
    d_z: float, alpha: float = 0.05, power: float = 0.8, limit: int = 100_000
) -> float:
    """Fewest pairs (≥ 2) for the paired t-test to detect |d_z| with `power`; inf if none."""
    if not math.isfinite(d_z) or d_z == 0:
        return math.inf
    n = 2
    while paired_t_power(d_z, n, alpha) < power:
        n = n * 2 if n < 64 else n + max(1, n // 8)
        if n > limit:
            return math.inf
    low = max(2, n // 2)  # refine: first n in (n/2, n] reaching the power
    while low < n:
        mid = (low + n) // 2
        if paired_t_power(d_z, mid, alpha) >= power:
            n = mid
        else:
            low = mid + 1
    return float(n)


def paired_row(
    diffs: np.ndarray, alpha: float, seed: int, n_resamples: int, ci_method: str = "t"
) -> dict[str, Any]:
    """Statistics of one vector of paired differences (positive = candidate better)."""
    from statsmodels.stats.proportion import proportion_confint

    diffs = np.asarray(diffs, dtype=float)
    n = len(diffs)
    mean = float(np.mean(diffs)) if n else math.nan
    sd = float(np.std(diffs, ddof=1)) if n >= 2 else math.nan
    low, high = mean_ci(diffs, alpha, ci_method, seed, n_resamples)
    if n >= 2 and sd > 0:
        p_t = float(stats.ttest_1samp(diffs, 0.0).pvalue)
    elif n >= 2:  # every pair differs by the same amount
        p_t = 1.0 if mean == 0 else 0.0
    else:
        p_t = math.nan
    p_w = math.nan
    if n >= 1 and np.any(diffs != 0):
        p_w = float(stats.wilcoxon(diffs).pvalue)
    elif n >= 1:
        p_w = 1.0
    wins = float(np.sum(diffs > 0) + 0.5 * np.sum(diffs == 0))
    pi_low, pi_high = (math.nan, math.nan)
    if n:
        pi_low, pi_high = (float(v) for v in proportion_confint(wins, n, alpha, method="wilson"))
    d_z = mean / sd if n >= 2 and sd > 0 else (math.inf if n >= 2 and mean != 0 else math.nan)
    return {
        "n_pairs": n,
        "gain": mean,
        "se": sd / math.sqrt(n) if n >= 2 else math.nan,
        "ci_low": low,
        "ci_high": high,
        "ci_method": ci_method,
        "p_t": p_t,
        "p_wilcoxon": p_w,
        "prob_improvement": wins / n if n else math.nan,
        "pi_low": pi_low,
        "pi_high": pi_high,
        "d_z": d_z,
        "mde": minimum_detectable_effect(sd, n, alpha) if n >= 2 else math.inf,
        "seeds_needed": pairs_needed(d_z, alpha),
        "paired": True,
        "note": "",
    }


def welch_row(
    cand: np.ndarray,
    ref: np.ndarray,
    alpha: float,
    seed: int,
    n_resamples: int,
    ci_method: str = "t",
) -> dict[str, Any]:
    """Unmatched groups (values already oriented: larger = better): Welch's t-test, and
    Welch's CI (`t`) or a percentile bootstrap of the difference of means (otherwise)."""
    from statsmodels.stats.power import TTestIndPower

    cand, ref = np.asarray(cand, float), np.asarray(ref, float)
    gain = float(cand.mean() - ref.mean()) if len(cand) and len(ref) else math.nan
    p_t, low, high, mde, se = math.nan, math.nan, math.nan, math.inf, math.nan
    if len(cand) >= 2 and len(ref) >= 2:
        welch = stats.ttest_ind(cand, ref, equal_var=False)
        p_t = float(welch.pvalue)
        se = math.sqrt(cand.var(ddof=1) / len(cand) + ref.var(ddof=1) / len(ref))
        if ci_method == "t":
            ci = welch.confidence_interval(1 - alpha)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ci = stats.bootstrap(
                    (cand, ref), lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
                    confidence_level=1 - alpha, method="percentile", n_resamples=n_resamples,
                    rng=np.random.default_rng(seed),
                ).confidence_interval  # fmt: skip
        low, high = float(ci.low), float(ci.high)
        pooled = math.sqrt((cand.var(ddof=1) + ref.var(ddof=1)) / 2)
        if pooled > 0:
            d = TTestIndPower().solve_power(
                effect_size=None, nobs1=len(cand), ratio=len(ref) / len(cand), alpha=alpha,
                power=0.8,
            )  # fmt: skip
            mde = float(d) * pooled
    return {
        "n_pairs": min(len(cand), len(ref)),
        "gain": gain,
        "se": se,
        "ci_low": low,
        "ci_high": high,
        "ci_method": ci_method if ci_method == "t" else "percentile",
        "p_t": p_t,
        "p_wilcoxon": math.nan,
        "prob_improvement": math.nan,
        "pi_low": math.nan,
        "pi_high": math.nan,
        "d_z": math.nan,
        "mde": mde,
        "seeds_needed": math.nan,
        "paired": False,
        "note": f"unmatched seeds ({len(cand)} vs {len(ref)} trials): Welch's t-test",
    }


def verdict(row: dict[str, Any], alpha: float, min_effect: float) -> str:
    p = row["p_holm"]
    if isinstance(p, float) and math.isfinite(p) and p < alpha:
        if row["ci_low"] > 0:
            return "gain"
        if row["ci_high"] < 0:
            return "loss"
    if row["n_pairs"] >= 2 and row["mde"] <= min_effect:
        return "no detectable difference"
    return "underpowered"


def compare_losses(
    trials: pd.DataFrame,
    metric: str,
    reference: str = "ce",
    cell_keys: Sequence[str] = (),
    pair_key: str = "seed",
    alpha: float = 0.05,
    seed: int = 0,
    min_effect: float = 0.5,
    candidate_key: str = "loss_label",
    n_resamples: int = 9999,
    higher_better: bool | None = None,
    ci_method: str = "t",
) -> pd.DataFrame:
    """One row per candidate loss × cell; see the module docstring for every column.

    trials: one row per finished trial with `candidate_key`, `pair_key`, the `cell_keys` and
    `metric`. `min_effect`: the smallest gain of interest, in the metric's units (default 0.5:
    the paper's claimed top-5 gain, 6.7 → 6.2 points). `ci_method`: `t` (default), `bca` or
    `percentile` (bootstrap, `n_resamples` resamples seeded by `seed`).
    """
    from statsmodels.stats.multitest import multipletests

    if ci_method not in CI_METHODS:
        raise ValueError(f"ci_method {ci_method!r}: allowed {', '.join(CI_METHODS)}")
    missing = [c for c in (candidate_key, pair_key, metric, *cell_keys) if c not in trials]
    if missing:
        raise KeyError(f"trials lack column(s) {missing}")
    sign = 1.0 if (higher_is_better(metric) if higher_better is None else higher_better) else -1.0
    data = trials.dropna(subset=[metric])
    if reference not in set(data[candidate_key]):
        raise ValueError(f"reference {reference!r} not among {sorted(set(data[candidate_key]))}")
    rows: list[dict[str, Any]] = []
    groups = data.groupby(list(cell_keys), dropna=False) if cell_keys else [((), data)]
    for cell, frame in groups:
        cell_values = cell if isinstance(cell, tuple) else (cell,)
        ref = frame[frame[candidate_key] == reference].set_index(pair_key)[metric]
        for cand_name in sorted(set(frame[candidate_key]) - {reference}):
            cand = frame[frame[candidate_key] == cand_name].set_index(pair_key)[metric]
            matched = (
                cand.index.is_unique and ref.index.is_unique and set(cand.index) == set(ref.index)
            )
            if matched:
                diffs = sign * (cand - ref.loc[cand.index]).to_numpy()
                row = paired_row(diffs, alpha, seed, n_resamples, ci_method)
            else:
                row = welch_row(
                    sign * cand.to_numpy(), sign * ref.to_numpy(), alpha, seed, n_resamples,
                    ci_method,
                )  # fmt: skip
            row["candidate"] = cand_name
            row.update(dict(zip(cell_keys, cell_values, strict=True)))
            rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=[*COLUMNS[:1], *cell_keys, *COLUMNS[1:]])
    out["p_holm"], out["q_bh"] = math.nan, math.nan
    ok = out["p_t"].notna()
    if ok.sum() == 1:  # one test: both corrections are the identity (and statsmodels' Holm
        out.loc[ok, "p_holm"] = out.loc[ok, "q_bh"] = out.loc[ok, "p_t"]  # runs gc.collect)
    elif ok.any():
        out.loc[ok, "p_holm"] = multipletests(out.loc[ok, "p_t"], alpha, method="holm")[1]
        out.loc[ok, "q_bh"] = multipletests(out.loc[ok, "p_t"], alpha, method="fdr_bh")[1]
    out["verdict"] = [verdict(r, alpha, min_effect) for r in out.to_dict("records")]
    return out[[COLUMNS[0], *cell_keys, *COLUMNS[1:]]]


META_COLUMNS = (
    "candidate", "k_cells", "gain", "se", "ci_low", "ci_high", "tau2", "i2", "pred_low",
    "pred_high", "share_cells_ci_above_0", "n_pairs", "prob_improvement", "prob_low",
    "prob_high", "method",
)  # fmt: skip
META_METHOD = "random effects: DerSimonian–Laird τ² (≥ 0), Hartung–Knapp–Sidik–Jonkman CI"


def meta_analysis(comparisons: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Does the gain hold across cells? One row per candidate of `compare_losses` output.

    * `gain`, `se`, `ci_low`, `ci_high`: the random-effects pooled gain μ over the candidate's
      cells, weighted 1 / (se_i² + τ²) with τ² by DerSimonian–Laird, truncated at 0
      (statsmodels `combine_effects(method_re="dl")`); the CI is Hartung–Knapp–Sidik–
      Jonkman's (t with k − 1 df), which keeps its level with few cells where the normal
      DL interval does not (IntHout et al. 2014, BMC Med. Res. Methodol. 14:25).
    * `tau2`: between-cell variance of the true gain; `i2`: share of the spread of the cell
      gains due to that heterogeneity, max(0, (Q − (k − 1)) / Q).
    * `pred_low`, `pred_high`: where the gain of a new cell is expected to fall,
      μ ± t_{k−2, 1−α/2}·√(τ² + se_μ²) (Higgins, Thompson & Spiegelhalter 2009); needs k ≥ 3.
    * `share_cells_ci_above_0`: share of the candidate's cells whose own CI lies above 0.
    * `prob_improvement` (`prob_low`, `prob_high`: Wilson interval): share of all its pairs,
      over every cell, where the candidate is better (ties ½); paired rows only.

    Cells whose gain has no positive standard error (one pair, or identical differences) have
    no weight and are left out of the pooled gain (`k_cells` counts the cells used).
    """
    from statsmodels.stats.meta_analysis import combine_effects
    from statsmodels.stats.proportion import proportion_confint

    rows = []
    for cand, frame in comparisons.groupby("candidate", sort=True):
        use = frame[np.isfinite(frame["gain"]) & (frame["se"] > 0)]
        k = len(use)
        row: dict[str, Any] = dict.fromkeys(META_COLUMNS, math.nan)
        row.update(candidate=cand, k_cells=k, method=META_METHOD)
        if k == 1:
            only = use.iloc[0]
            row.update(gain=only["gain"], se=only["se"], ci_low=only["ci_low"],
                       ci_high=only["ci_high"])  # fmt: skip
        elif k >= 2:
            effects, variances = use["gain"].to_numpy(float), use["se"].to_numpy(float) ** 2
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # τ² = 0 and k = 2 divide by zero inside
                res = combine_effects(effects, variances, method_re="dl", use_t=True, alpha=alpha)
                if res.tau2 < 0:
                    # statsmodels 0.15 leaves DL's τ² = (Q − (k − 1)) / c negative when
                    # Q < k − 1; the estimator is truncated at 0, which is exactly what its
                    # Paule–Mandel path returns in that case (its first step stops at τ² = 0).
                    res = combine_effects(
                        effects, variances, method_re="iterated", use_t=True, alpha=alpha
                    )
                    assert res.tau2 == 0
                hksj = res.summary_frame().loc["random effect wls"]
            mu, se_mu, tau2 = float(res.mean_effect_re), float(res.sd_eff_w_re), float(res.tau2)
            q = float(res.q)
            row.update(
                gain=mu, se=se_mu, ci_low=float(hksj["ci_low"]), ci_high=float(hksj["ci_upp"]),
                tau2=tau2, i2=max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0,
            )  # fmt: skip
            if k >= 3:
                half = stats.t.ppf(1 - alpha / 2, k - 2) * math.sqrt(tau2 + se_mu**2)
                row.update(pred_low=mu - half, pred_high=mu + half)
        row["share_cells_ci_above_0"] = float((frame["ci_low"] > 0).mean())
        paired = frame[frame["paired"].astype(bool) & frame["prob_improvement"].notna()]
        n = int(paired["n_pairs"].sum())
        row["n_pairs"] = n
        if n:
            wins = float((paired["prob_improvement"] * paired["n_pairs"]).sum())
            low, high = proportion_confint(wins, n, alpha, method="wilson")
            row.update(prob_improvement=wins / n, prob_low=float(low), prob_high=float(high))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(META_COLUMNS))


def paired_differences(
    trials: pd.DataFrame,
    metric: str,
    reference: str = "ce",
    cell_keys: Sequence[str] = (),
    pair_key: str = "seed",
    candidate_key: str = "loss_label",
) -> pd.DataFrame:
    """Long table of matched pairs: candidate, cell keys, seed, gain (positive = better)."""
    sign = 1.0 if higher_is_better(metric) else -1.0
    keys = [*cell_keys, pair_key]
    ref = trials[trials[candidate_key] == reference][[*keys, metric]]
    cand = trials[trials[candidate_key] != reference][[candidate_key, *keys, metric]]
    merged = cand.merge(ref, on=keys, suffixes=("", "_ref"))
    merged["gain"] = sign * (merged[metric] - merged[f"{metric}_ref"])
    return merged.rename(columns={candidate_key: "candidate"})[["candidate", *keys, "gain"]]


def gain_model(pairs: pd.DataFrame, cell_keys: Sequence[str]) -> pd.DataFrame:
    """Does the gain depend on the cell? OLS of the paired gain on the cell keys, per candidate:
    numeric keys enter linearly, text keys as categories, and a noise kind × noise rate
    interaction when both are present. HC3 robust standard errors. Rows: candidate, term,
    coef, se, p, n."""
    import statsmodels.formula.api as smf

    rows = []
    for cand, frame in pairs.groupby("candidate"):
        frame = frame.rename(columns={k: k.replace(".", "_") for k in cell_keys})
        terms = []
        for key in cell_keys:
            col = key.replace(".", "_")
            if frame[col].nunique() < 2:
                continue
            numeric = pd.api.types.is_numeric_dtype(frame[col])
            terms.append(col if numeric else f"C({col})")
        kind_varies = "noise_kind" in terms or "C(noise_kind)" in terms
        if kind_varies and "noise_rate" in terms:
            terms.append("C(noise_kind):noise_rate")
        if not terms or len(frame) <= len(terms) + 1:
            continue
        fit = smf.ols("gain ~ " + " + ".join(terms), data=frame).fit(cov_type="HC3")
        for term in fit.params.index:
            rows.append(
                {
                    "candidate": cand,
                    "term": term,
                    "coef": float(fit.params[term]),
                    "se": float(fit.bse[term]),
                    "p": float(fit.pvalues[term]),
                    "n": int(fit.nobs),
                }
            )
    return pd.DataFrame(rows, columns=["candidate", "term", "coef", "se", "p", "n"])


# The paper's Table 1 (Shim 2025): top-5 error %, mean ± std over 5 trials, epochs 190–200.
PUBLISHED_TOP5 = {"ce": (6.7, 0.1, 5), "lace": (6.2, 0.15, 5)}


def replication(trials: pd.DataFrame, metric: str = "final_paper_top5_error") -> pd.DataFrame:
    """Our mean ± std (n) next to the published value, with a 95 % t-interval of our mean and
    whether the published mean lies in it."""
    rows = []
    for loss, (pub_mean, pub_sd, pub_n) in PUBLISHED_TOP5.items():
        values = trials.loc[trials["loss_label"] == loss, metric].dropna().to_numpy(float)
        n = len(values)
        mean = float(values.mean()) if n else math.nan
        sd = float(values.std(ddof=1)) if n >= 2 else math.nan
        half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n >= 2 else math.nan
        rows.append(
            {
                "loss": loss,
                "n": n,
                "mean": mean,
                "std": sd,
                "ci_low": mean - half,
                "ci_high": mean + half,
                "published_mean": pub_mean,
                "published_std": pub_sd,
                "published_n": pub_n,
                "published_in_ci": bool(n >= 2 and mean - half <= pub_mean <= mean + half),
            }
        )
    return pd.DataFrame(rows)
