"""Calibration of `analysis.stats.compare_losses` on simulated paired studies.

Prints, for n pairs in {5, 10}: the false-positive rate of p_t < 0.05 under no effect, the
coverage of the 95 % BCa CI of the mean paired gain, and the share of `gain` verdicts for a
planted gain of 0.5 with paired spread 0.15.
Usage: .venv/bin/python benchmarks/stats_calibration.py [SIMS]
"""

from __future__ import annotations

import math
import platform
import sys

import numpy as np
import pandas as pd

from analysis.stats import compare_losses


def simulate(gain: float, sd: float, n: int, rng: np.random.Generator) -> pd.DataFrame:
    base = rng.normal(30.0, 1.0, n)  # per-seed effect shared by both losses
    ref = base + rng.normal(0, sd / math.sqrt(2), n)
    cand = base - gain + rng.normal(0, sd / math.sqrt(2), n)
    rows = [{"loss_label": "ce", "seed": s, "top5_error": v} for s, v in enumerate(ref)]
    rows += [{"loss_label": "lace", "seed": s, "top5_error": v} for s, v in enumerate(cand)]
    return pd.DataFrame(rows)


def main(sims: int) -> None:
    rng = np.random.default_rng(0)
    print(f"# {sims} simulated studies per row, {platform.machine()}, numpy {np.__version__}")
    print(
        "| n pairs | FP rate of p_t < 0.05 (null) | BCa 95 % CI coverage (gain 0.3, sd 0.2) "
        "| 'gain' verdicts (gain 0.5, sd 0.15) |"
    )
    print("|---|---|---|---|")
    for n in (5, 10):
        fp = np.mean(
            [
                compare_losses(simulate(0.0, 0.15, n, rng), "top5_error", n_resamples=999).iloc[0][
                    "p_t"
                ]
                < 0.05
                for _ in range(sims)
            ]
        )
        cover = []
        for _ in range(sims):
            row = compare_losses(simulate(0.3, 0.2, n, rng), "top5_error", n_resamples=999).iloc[0]
            cover.append(row["ci_low"] <= 0.3 <= row["ci_high"])
        found = np.mean(
            [
                compare_losses(simulate(0.5, 0.15, n, rng), "top5_error", n_resamples=999).iloc[0][
                    "verdict"
                ]
                == "gain"
                for _ in range(sims)
            ]
        )
        print(f"| {n} | {fp:.3f} | {np.mean(cover):.3f} | {found:.3f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
