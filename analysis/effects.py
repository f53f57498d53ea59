"""The replication table of the paper's Table 1 (scipy's t quantiles), and whether a study
ran the paper's protocol."""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from study import contract as c

# The paper's Table 1 (Shim 2025): top-5 error %, mean ± std over 5 trials, epochs 190–200.
PUBLISHED_TOP5 = {"ce": (6.7, 0.1, 5), "lace": (6.2, 0.15, 5)}


def replication(trials: pd.DataFrame, metric: str = c.DEFAULT_METRIC) -> pd.DataFrame:
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
