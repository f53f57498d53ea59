"""The report's last section: how every figure above it was computed, in words, with the
settings of this report (α, the smallest gain of interest, the family size)."""

from __future__ import annotations

from analysis.across import regression_level
from analysis.answer import number, unit
from analysis.meta import META_METHOD
from analysis.render import Section


def methods(
    metric: str,
    alpha: float,
    min_effect: float,
    family_size: int,
    ci_method: str,
    regression_terms: int,
    sequential: bool,
) -> Section:
    text = _fixed_design(metric, alpha, min_effect, family_size, ci_method)
    if regression_terms:
        text.append(
            "Across settings: a random-effects meta-regression of each candidate's setting "
            "gains on the noise design (gain at rate 0 shared by the noise kinds, a slope per "
            "0.1 of rate per kind; method-of-moments τ², Knapp–Hartung standard errors with "
            f"max(1, q)); its intervals are {regression_level(alpha, regression_terms)}. "
            "Noise rates are designed settings, not exchangeable draws, so they are not "
            "pooled into one average."
        )
    text.append(f"Pooling over exchangeable axes (datasets, architectures): {META_METHOD}.")
    if sequential:
        text.append(
            "Sequential study: the verdicts are the group-sequential ones (analysis/"
            "sequential.py: repeated confidence intervals with O'Brien–Fleming-type α "
            "spending, family-wise over all comparisons and looks; non-binding futility). The "
            "fixed-design estimates use every seed a comparison ran; after early stopping "
            "they are biased away from 0 and carry no verdict."
        )
    text.append(
        "Time to target: a value of the per-epoch curve that the reference reaches in ≥ 90 % "
        "of its seeds in that setting; the estimand is the restricted mean epochs to target, "
        "a trial that never reaches it counting as budget + 1; who misses is compared pair by "
        "pair with the exact McNemar test."
    )
    return Section("Methods", "\n\n".join(text))


def _fixed_design(
    metric: str, alpha: float, min_effect: float, family_size: int, ci_method: str
) -> list[str]:
    """Pairs, intervals, verdicts and the other columns of comparisons.csv."""
    level = f"{100 * (1 - alpha):g} %"
    u = unit(metric)
    return [
        "Pairs: a candidate trial and a reference trial at the same setting and seed (same "
        "initialisation, batches and noisy labels). Gain = reference − candidate for errors, "
        "NLL, ECE and Brier, so that a positive gain means the candidate is better.",
        f"Intervals: `ci_low`..`ci_high` are simultaneous {level} intervals over the "
        f"{family_size} candidate × setting rows of this report, Bonferroni t intervals: "
        f"gain ± t(df, 1 − α/(2·{family_size}))·se, df = pairs − 1 (Welch's for unmatched "
        "rows). All of them cover their true gains at once with probability ≥ "
        f"{level}. The row's own unadjusted interval ({ci_method}) is in comparisons.csv "
        "(`ci_low_unadjusted`, `ci_high_unadjusted`) and is not read for any verdict.",
        f"Verdicts, read from those intervals only: gain when the interval lies above 0; loss "
        f"when below 0; equivalent when the family-adjusted {100 * (1 - 2 * alpha):g} % "
        f"interval (`tost_low`..`tost_high`) lies inside ±{number(min_effect)} {u}: the two "
        f"one-sided tests (TOST; Lakens 2017) each reject at α/{family_size}; inconclusive "
        "otherwise, and for rows without an interval (one pair, or identical differences). "
        f"So, family-wise, a gain or loss is declared wrongly with probability ≤ {alpha:g}, "
        f"and equivalence at a true gain of ±{number(min_effect)} or beyond with probability "
        f"≤ {alpha:g} (benchmarks/stats_calibration.py measures both; docs/analysis.md).",
        "Other columns of comparisons.csv: the paired t-test `p_t` and its Bonferroni "
        "adjustment `p_adj` (below α exactly when the interval excludes 0); `q_bh`, "
        "Benjamini–Hochberg, for screening only; Wilcoxon signed-rank (exact); the "
        "probability of improvement with a Wilson interval; d_z; and two planning figures at "
        f"the adjusted level α/{family_size}: `mde`, the smallest gain detectable with power "
        "0.8, and `seeds_needed` for the observed gain.",
    ]
