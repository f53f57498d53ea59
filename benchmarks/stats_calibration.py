"""Calibration of `analysis.stats.compare_losses` on simulated paired studies.

For each shape of the paired differences (normal; heavy-tailed: t with 3 df; skewed: a centred
exponential, skewness 2), each n in {3, 5, 10} and SIMS simulated studies per row, it prints:

* coverage of the 95 % CI of the mean gain, for the default `t` interval and for BCa
  (true gain 0.3, sd of the differences 0.2);
* the false-positive rate of a `gain`/`loss` verdict when there is no effect (one comparison,
  so Holm is the identity and the verdict is p_t < 0.05 with the CI excluding 0);
* power: the share of `gain` verdicts at a planted gain of 0.5 with sd 0.15 (the paper's
  claimed top-5 gain and spread);
* false reassurance: the share of `no detectable difference` verdicts when the true gain is
  `min_effect` = 0.5 with sd 0.3 (that verdict claims the study would have seen such a gain).

Every study of a row goes through one `compare_losses` call (one cell per study), so the
figures are those of the code the report runs. Monte-Carlo sd of a rate p: √(p(1−p)/SIMS).
Usage: .venv/bin/python benchmarks/stats_calibration.py [SIMS] (default 2000)
"""

from __future__ import annotations

import math
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from analysis.stats import compare_losses

Draw = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]

# Mean-0, sd-1 draws of the paired differences' noise.
SHAPES: dict[str, Draw] = {
    "normal": lambda rng, size: rng.standard_normal(size),
    "t, 3 df": lambda rng, size: rng.standard_t(3, size) / math.sqrt(3.0),
    "skewed (exp)": lambda rng, size: rng.exponential(1.0, size) - 1.0,
}


def studies(
    gain: float, sd: float, n: int, sims: int, draw: Draw, rng: np.random.Generator
) -> pd.DataFrame:
    """`sims` paired studies of n seeds in one frame (cell key `sim`): per seed a shared
    per-seed level, the reference's error, and the candidate's = reference − gain − noise, so
    that the paired gain (reference − candidate) is gain + sd·noise."""
    base = rng.normal(30.0, 1.0, (sims, n))
    cand = base - gain - sd * draw(rng, (sims, n))
    sim, seed = np.meshgrid(np.arange(sims), np.arange(n), indexing="ij")
    frames = [
        pd.DataFrame(
            {
                "sim": sim.ravel(),
                "seed": seed.ravel(),
                "loss_label": label,
                "top5_error": values.ravel(),
            }
        )
        for label, values in (("ce", base), ("lace", cand))
    ]
    return pd.concat(frames, ignore_index=True)


def compare(frame: pd.DataFrame, ci_method: str = "t") -> pd.DataFrame:
    return compare_losses(
        frame, "top5_error", cell_keys=["sim"], ci_method=ci_method, n_resamples=999,
        min_effect=0.5,
    )  # fmt: skip


def single_verdicts(rows: pd.DataFrame) -> pd.Series:
    """The verdict each simulated study would get on its own (one comparison: p_holm = p_t);
    `compare` ran them together, where Holm would correct across the studies."""
    significant = rows["p_t"] < 0.05
    return pd.Series(
        np.select(
            [
                significant & (rows["ci_low"] > 0),
                significant & (rows["ci_high"] < 0),
                rows["mde"] <= 0.5,
            ],
            ["gain", "loss", "no detectable difference"],
            "underpowered",
        ),
        index=rows.index,
    )


def main(sims: int) -> None:
    rng = np.random.default_rng(0)
    start = time.monotonic()
    print(
        f"# {sims} simulated studies per row; {platform.machine()}, {platform.node()}, "
        f"numpy {np.__version__}, {datetime.now(UTC):%Y-%m-%d}"
    )
    print(
        "| differences | n | t CI coverage | BCa CI coverage | false gain/loss (null) "
        "| 'gain' (0.5, sd 0.15) | 'no detectable difference' at min_effect |"
    )
    print("|---|---|---|---|---|---|---|")
    for shape, draw in SHAPES.items():
        for n in (3, 5, 10):
            covered = studies(0.3, 0.2, n, sims, draw, rng)
            t_rows, bca_rows = compare(covered, "t"), compare(covered, "bca")
            t_cover = np.mean((t_rows["ci_low"] <= 0.3) & (t_rows["ci_high"] >= 0.3))
            bca_cover = np.mean((bca_rows["ci_low"] <= 0.3) & (bca_rows["ci_high"] >= 0.3))
            null = single_verdicts(compare(studies(0.0, 0.15, n, sims, draw, rng)))
            found = single_verdicts(compare(studies(0.5, 0.15, n, sims, draw, rng)))
            edge = single_verdicts(compare(studies(0.5, 0.3, n, sims, draw, rng)))
            print(
                f"| {shape} | {n} | {t_cover:.3f} | {bca_cover:.3f} "
                f"| {np.mean(null.isin(['gain', 'loss'])):.3f} "
                f"| {np.mean(found == 'gain'):.3f} "
                f"| {np.mean(edge == 'no detectable difference'):.3f} |",
                flush=True,
            )
    mc = math.sqrt(0.95 * 0.05 / sims)
    print(f"\nMonte-Carlo sd of a coverage near 0.95: {mc:.4f}; of a rate near 0.05: {mc:.4f}")
    print(f"wall time {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
