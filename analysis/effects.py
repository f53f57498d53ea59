"""Paired differences per seed, the dependence of the gain on the cell (OLS with HC3 robust
errors, statsmodels formula API) and the replication table of the paper's Table 1."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from scipy import stats

from analysis.orientation import higher_is_better

# The paper's Table 1 (Shim 2025): top-5 error %, mean ± std over 5 trials, epochs 190–200.
PUBLISHED_TOP5 = {"ce": (6.7, 0.1, 5), "lace": (6.2, 0.15, 5)}


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



def is_paper_protocol(trials: pd.DataFrame) -> bool:
    expected = {
        "data.name": "cifar100", "model.width": 64, "schedule.epochs": 200,
        "schedule.batch_size": 100, "optim.lr": 0.1, "noise.kind": "none",
    }  # fmt: skip
    return all(k in trials and (trials[k] == v).all() for k, v in expected.items())
