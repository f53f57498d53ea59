"""Calibration of the fixed-design verdicts (`analysis.stats`) on simulated whole families.

    .venv/bin/python benchmarks/stats_calibration.py [SIMS] [--rows 12 42]

A family is what one report judges at once: m candidate × setting rows, each with n paired
differences gain + sd·ε (ε standard normal). min_effect = 1, α = 0.05; n ∈ {3, 5, 10},
sd / min_effect ∈ {0.3, 1, 3}, m ∈ {12, 42}. Per row of the table, SIMS families of each kind:

* P(equivalent | gain = ±min_effect): every row's true gain is +min_effect or −min_effect
  (alternating); the share of families with any row labelled `equivalent` (target ≤ α);
* P(any CI misses): a mixed family (a third null, a third at ±min_effect, a third at 3·sd);
  the share of families in which any printed simultaneous interval misses its row's true
  gain (target ≤ α);
* P(false gain/loss): the share of null families (every gain 0) with any `gain` / `loss`;
* P(equivalent | 0): per row, at a true gain of 0 — what the equivalence verdict can show;
* P(3 sd found): per row, a gain of 3 sd labelled `gain` (the mixed family's 3-sd rows).

Per-row statistics (mean, se, df) are computed here, vectorised; the intervals and verdicts
come from `analysis.stats.adjust_family`, the function the report runs, which is first
checked against `compare_losses` on one family. Monte-Carlo sd of a rate p: √(p(1−p)/SIMS).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.stats import adjust_family, compare_losses

ALPHA, MIN_EFFECT = 0.05, 1.0


def verdict_frame(diffs: np.ndarray, m: int) -> pd.DataFrame:
    """Verdicts of families of m rows: `diffs` is (families · m) × n, in family order."""
    n = diffs.shape[1]
    sd = diffs.std(axis=1, ddof=1)
    rows = pd.DataFrame({
        "gain": diffs.mean(axis=1), "se": sd / math.sqrt(n), "df": float(n - 1), "n_pairs": n,
        "d_z": diffs.mean(axis=1) / sd, "paired": True,
    })  # fmt: skip
    return adjust_family(rows, ALPHA, MIN_EFFECT, family_size=m, planning=False)


def check_against_compare_losses(rng: np.random.Generator) -> None:
    """The fast path gives `compare_losses`'s intervals and verdicts on one family."""
    m, n = 12, 5
    diffs = rng.normal(rng.choice([0.0, 1.0, 3.0], (m, 1)), 0.8, (m, n))
    base = rng.normal(30, 1, (m, n))
    frame = pd.concat([
        pd.DataFrame({"cell": np.repeat(np.arange(m), n), "seed": np.tile(np.arange(n), m),
                      "loss_label": label, "error": values.ravel()})
        for label, values in (("ce", base), ("lace", base - diffs))
    ])  # fmt: skip
    slow = compare_losses(frame, "error", cell_keys=["cell"], min_effect=MIN_EFFECT)
    fast = verdict_frame(diffs, m)
    assert (slow["verdict"].to_numpy() == fast["verdict"].to_numpy()).all()
    assert np.allclose(slow["ci_low"], fast["ci_low"]) and np.allclose(
        slow["tost_high"], fast["tost_high"]
    )


def family_rates(m: int, n: int, ratio: float, sims: int, rng: np.random.Generator) -> dict:
    sd = ratio * MIN_EFFECT
    sign = np.where(np.arange(m) % 2 == 0, 1.0, -1.0)
    edge = np.tile(sign * MIN_EFFECT, sims)
    eq = verdict_frame(rng.normal(edge[:, None], sd, (sims * m, n)), m)
    any_eq = (eq["verdict"].to_numpy() == "equivalent").reshape(sims, m).any(axis=1)
    third = m // 3
    mixed_gain = np.zeros(m)
    mixed_gain[third : 2 * third] = sign[third : 2 * third] * MIN_EFFECT
    mixed_gain[2 * third :] = 3 * sd
    truth = np.tile(mixed_gain, sims)
    mixed = verdict_frame(rng.normal(truth[:, None], sd, (sims * m, n)), m)
    missed = (mixed["ci_low"].to_numpy() > truth) | (mixed["ci_high"].to_numpy() < truth)
    null = verdict_frame(rng.normal(0.0, sd, (sims * m, n)), m)["verdict"].to_numpy()
    big = np.tile(np.arange(m) >= 2 * third, sims)
    return {
        "equivalent at ±min_effect": any_eq.mean(),
        "any CI misses": missed.reshape(sims, m).any(axis=1).mean(),
        "false gain/loss": np.isin(null, ("gain", "loss")).reshape(sims, m).any(axis=1).mean(),
        "equivalent at 0": (null == "equivalent").mean(),
        "3 sd found": (mixed["verdict"].to_numpy()[big] == "gain").mean(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sims", nargs="?", type=int, default=4000)
    parser.add_argument("--rows", type=int, nargs="+", default=[12, 42])
    args = parser.parse_args()
    rng = np.random.default_rng(20261201)
    start = time.monotonic()
    check_against_compare_losses(rng)
    print(
        f"# benchmarks/stats_calibration.py {' '.join(sys.argv[1:])}: {args.sims} simulated "
        f"families per cell of the table; α {ALPHA}, min_effect {MIN_EFFECT}; "
        f"{platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
        f"{datetime.now(UTC):%Y-%m-%d}\n"
    )
    print("| rows m | n | sd / min_effect | P(equivalent \\| gain = ±min_effect) "
          "| P(any CI misses) | P(false gain/loss) | P(equivalent \\| 0), per row "
          "| P(3 sd found), per row |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for m in args.rows:
        for n in (3, 5, 10):
            for ratio in (0.3, 1.0, 3.0):
                r = family_rates(m, n, ratio, args.sims, rng)
                line = (
                    f"| {m} | {n} | {ratio:g} | {pm(r['equivalent at ±min_effect'], args.sims)} "
                    f"| {pm(r['any CI misses'], args.sims)} "
                    f"| {pm(r['false gain/loss'], args.sims)} "
                    f"| {r['equivalent at 0']:.3f} | {r['3 sd found']:.3f} |"
                )
                print(line, flush=True)
    exact = ", ".join(f"{1 - (1 - ALPHA / m) ** m:.4f} at m = {m}" for m in args.rows)
    print(f"\nRates ± their Monte-Carlo sd. For independent rows, Bonferroni's family-wise "
          f"miss rate is exactly 1 − (1 − α/m)^m: {exact}. Wall time "
          f"{time.monotonic() - start:.0f} s")  # fmt: skip


def pm(p: float, sims: int) -> str:
    return f"{p:.4f} ± {math.sqrt(p * (1 - p) / sims):.4f}"


if __name__ == "__main__":
    main()
