"""The report's last section: how every figure above it was computed, in words, with the
settings of this report (α, the smallest gain of interest, the method and the families)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis import scale_variances
from analysis.answer import number, unit
from analysis.family import METHOD_NAMES
from analysis.meta import META_METHOD
from analysis.render import Section
from analysis.trends import trend_level


def methods(cfg: Any, comparisons: pd.DataFrame, n_trends: int, sequential: bool) -> Section:
    """`cfg`: the report's `Settings`; `comparisons`: `analysis.stats.compare`'s table."""
    sizes = comparisons.groupby("family")["family_size"].max().to_dict() if len(comparisons) else {}
    used, why = cfg.family_method, ""
    has_method = len(comparisons) and "method" in comparisons
    said = str(comparisons["method"].iloc[0]) if has_method else ""
    if used == "maxt-losses" and said.startswith(METHOD_NAMES["maxt"]):
        # the rows' variances: too few rows in a setting, or a fit that did not settle;
        # the method column says which
        used, why = "maxt", said.removeprefix(METHOD_NAMES["maxt"])
    elif used == "maxt-losses" and scale_variances.NAME in said:
        used = "two-rows"
    text = [*_pairs(), _intervals(cfg, sizes, used, why), _verdicts(cfg), _alpha(cfg, sizes)]
    if n_trends:
        text.append(
            "Across noise settings: per candidate and noise kind, the least-squares slope of "
            "the setting gains over the rates (the clean setting shared by the kinds), per 0.1 "
            "of rate, a fixed contrast of the seed-level model's gains with its variance from "
            "their covariance and Welch–Satterthwaite degrees of freedom; its intervals are "
            f"{trend_level(cfg.alpha, n_trends)}. Noise rates are designed settings, not "
            "exchangeable draws, so they are not pooled into one average."
        )
    text.append(f"Pooling over exchangeable axes (datasets, architectures), descriptive: "
                f"{META_METHOD}.")  # fmt: skip
    if sequential:
        text.append(
            "Sequential study: the verdicts are the group-sequential ones (analysis/"
            "sequential.py: repeated confidence intervals with O'Brien–Fleming-type α "
            "spending, family-wise over all comparisons and looks for gain and loss; "
            "non-binding futility, controlled per comparison at β). The fixed-design "
            "estimates pair each comparison on the seeds both sides ran; after early stopping "
            "they are biased away from 0 and carry no verdict, and no trend, pooling or time "
            "to target is computed from them."
        )
    else:
        text.append(
            "Time to target (descriptive): per comparison, a value of the per-epoch curve "
            "that 90 % of the two losses' trials reach in that setting (from both arms, so "
            "two identical losses are exchangeable); the estimand is the restricted mean "
            "epochs to target, a trial that never reaches it counting as budget + 1; who "
            "misses is compared pair by pair with the mid-p McNemar test (unadjusted)."
        )
    return Section("Methods", "\n\n".join(text))


def _pairs() -> list[str]:
    return [
        "Pairs: a candidate trial and a reference trial at the same setting and seed (same "
        "initialisation, batches and noisy labels); a row pairs the seeds both sides ran. "
        "Gain = reference − candidate for errors, NLL, ECE and Brier, so that a positive gain "
        "means the candidate is better. A diverged trial (a non-finite loss) is a result at "
        "the chance-level value of the data set, never dropped, counted in `n_diverged`.",
    ]


def _intervals(cfg: Any, sizes: dict[str, int], used: str, why: str = "") -> str:
    level = f"{100 * (1 - cfg.alpha):g} %"
    families = ", ".join(f"{k} ({int(v)} row{'s' if int(v) != 1 else ''})"
                         for k, v in sizes.items()) or "none"  # fmt: skip
    name = (f"{METHOD_NAMES['maxt-losses']} ({scale_variances.NAME})" if used == "two-rows"
            else METHOD_NAMES[used])  # fmt: skip
    if used == "bonferroni":
        how = ("each row's own paired t on pairs − 1 degrees of freedom, gain ± t(df, 1 − "
               "α/(2m))·se, m the rows of its family")  # fmt: skip
    elif used == "maxt-losses":
        how = (
            "a seed-level model of every finished trial: each loss's own variance per setting, "
            "identified by the covariances between the setting's rows (they share the "
            "reference's trials) and moderated on the log scale with crossed random effects "
            "of setting and loss (penalised quasi-likelihood, REML; "
            "analysis/loss_variances.py), a row's variance the sum of its two losses'; gain ± "
            "c·se with c the (1 − α) quantile of max |t| over the family, simulated from the "
            "rows' correlation and the moderated degrees of freedom (Hothorn, Bretz & "
            "Westfall 2008)"
        )
    elif used == "two-rows":
        how = (
            "a seed-level model of every finished trial: each loss's own variance per setting, "
            "as a level per setting times a level per loss (two rows per setting give too few "
            "moments to moderate them loss by loss), by maximum likelihood on the settings' "
            "Wishart likelihoods of their paired differences, each row's own variance checked "
            "against its levels (analysis/scale_variances.py); a row's variance the sum of "
            "its two losses', its degrees of freedom by Satterthwaite's rule; gain ± c·se with "
            "c the (1 − α) quantile of max |t| over the family, simulated from the rows' "
            "correlation with the variance estimates drawn independently (Hothorn, Bretz & "
            "Westfall 2008)"
        )
    else:
        how = (
            "a seed-level model of every finished trial: the rows' variances of paired "
            "differences moderated on the log scale by empirical Bayes with crossed random "
            "effects of setting and loss (REML; analysis/variances.py), so an unstable loss "
            "keeps its own level; gain ± c·se with c the (1 − α) quantile of max |t| over the "
            "family, simulated from the rows' correlation (rows of a setting share the "
            "reference's trials) and the moderated degrees of freedom (Hothorn, Bretz & "
            "Westfall 2008)"
        )
        how += why  # " (why the losses' variances were not used)", where they were asked for
    return (
        f"Intervals ({name}): `ci_low`..`ci_high` are simultaneous "
        f"{level} intervals per family — {families} — by {how}. All intervals of a family "
        f"cover their true gains at once with probability ≥ {level}. The row's own "
        f"unadjusted interval ({cfg.ci_method}) is in comparisons.csv and is not read for any "
        "verdict."
    )


def _verdicts(cfg: Any) -> str:
    u = unit(cfg.metric)
    tost = ("the same simultaneous interval" if cfg.family_method != "bonferroni" else
            f"the family-adjusted {100 * (1 - 2 * cfg.alpha):g} % interval (two one-sided "
            "tests at α/m)")  # fmt: skip
    return (
        "Verdicts, read from the printed intervals only: gain when the interval lies above 0; "
        f"loss when below 0; equivalent when the TOST interval `tost_low`..`tost_high` "
        f"({tost}) lies inside ±{number(cfg.min_effect)} {u}, printed beside it; inconclusive "
        "otherwise, and for rows without an interval. Family-wise, a gain or loss at a true "
        f"gain of 0 or of the wrong sign happens with probability ≤ {cfg.alpha:g}, and an "
        f"equivalent at a true |gain| ≥ {number(cfg.min_effect)} with probability ≤ "
        f"{cfg.alpha:g} (benchmarks/stats_calibration.py; docs/analysis.md)."
    )


def _alpha(cfg: Any, sizes: dict[str, int]) -> str:
    if "confirmatory" in sizes:
        split = (f"the confirmatory family ({', '.join(cfg.primary)}) holds α = "
                 f"{cfg.alpha:g}; the exploratory family has its own simultaneous intervals "
                 "and its verdicts are exploratory")  # fmt: skip
    else:
        split = f"every row is one family at α = {cfg.alpha:g} (the study names no primary loss)"
    return (
        f"One α for the report: {split}. Claims are answered from confirmatory rows. The "
        "trends, pooled estimates and time to target describe; no verdict is read from them."
    )
