"""Calibration of the sequential design (`analysis/sequential.py`) by simulation.

    .venv/bin/python benchmarks/sequential_calibration.py [SIMS] [--cells 8 42]

Each row simulates SIMS studies of `cells` comparisons, each comparison's paired differences
drawn N(δ, σ_d) seed by seed and analysed at looks 3, 6, 10, 15, 20 with α = 0.05 and
min_effect = 0.5, decided comparisons getting no more seeds; σ_d / min_effect ∈ {0.3, 1, 3};
futility on (β_futility 0.05) or off. Columns:

* family-wise false positives: every δ = 0, any `gain`/`loss` in the study (target ≤ α);
* power, futile and inconclusive at min_effect: every δ = min_effect, the share of comparisons
  decided `gain`, `futile` (target ≤ β_futility for every σ_d) and `inconclusive`;
* seeds used / fixed design: with every δ = 0, and on the mixed study (half null, a quarter
  at min_effect, a quarter at 3 × min_effect).

Monte-Carlo error of a rate p over S studies: sqrt(p (1 − p) / S). Prints a Markdown table
with the command, machine and date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.sequential import SequentialDesign, decide_many

LOOKS = (3, 6, 10, 15, 20)
MIN_EFFECT = 0.5
SD_RATIOS = (0.3, 1.0, 3.0)


def simulate(
    effects: np.ndarray, plan: SequentialDesign, sigma: float, rng: np.random.Generator
) -> dict:
    """One study per row of `effects` (studies × cells); returns decisions and seeds used."""
    studies, cells = effects.shape
    diffs = rng.normal(effects[..., None], sigma, size=(studies, cells, plan.looks[-1]))
    decision = np.full((studies, cells), "continue", dtype=object)
    used = np.zeros((studies, cells), dtype=int)
    for n in plan.looks:
        open_ = decision == "continue"
        used[open_] = n
        flat = diffs[open_][:, :n]
        if len(flat):
            decision[open_] = decide_many(flat, plan)
    return {"decision": decision, "used": used}


def rate(x: np.ndarray) -> str:
    p = float(np.mean(x))
    return f"{p:.4f} ± {np.sqrt(p * (1 - p) / len(x)):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sims", nargs="?", type=int, default=2000)
    parser.add_argument("--cells", type=int, nargs="+", default=[8, 42])
    parser.add_argument("--spending", default="obrien_fleming")
    args = parser.parse_args()
    rng = np.random.default_rng(20261123)
    start = time.perf_counter()
    print(
        f"# {' '.join(['benchmarks/sequential_calibration.py', *sys.argv[1:]])}: "
        f"{args.sims} simulated studies per row; looks {list(LOOKS)}, α 0.05, min_effect "
        f"{MIN_EFFECT}, spending {args.spending}; {platform.machine()}, "
        f"{os.cpu_count()} cores, {dt.date.today()}\n"
    )
    print("| cells | σ_d / min_effect | futility | family-wise false positives "
          "| power at min_effect | futile at min_effect | inconclusive at min_effect "
          "| seeds used, null | seeds used, mixed |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for cells in args.cells:
        for ratio in SD_RATIOS:
            for futility in (True, False):
                print(row(cells, ratio, futility, args, rng), flush=True)
    print(f"\n({time.perf_counter() - start:.0f} s)")


def row(cells: int, ratio: float, futility: bool, args: argparse.Namespace,
        rng: np.random.Generator) -> str:  # fmt: skip
    plan = SequentialDesign(LOOKS, 0.05, MIN_EFFECT, cells, args.spending, futility=futility)
    sigma, fixed = ratio * MIN_EFFECT, cells * LOOKS[-1]
    null = simulate(np.zeros((args.sims, cells)), plan, sigma, rng)
    fwer = np.isin(null["decision"], ("gain", "loss")).any(axis=1)
    at = simulate(np.full((args.sims, cells), MIN_EFFECT), plan, sigma, rng)["decision"]
    quarter = max(cells // 4, 1)
    effects = np.zeros(cells)
    effects[cells - 2 * quarter : cells - quarter] = MIN_EFFECT
    effects[cells - quarter :] = 3 * MIN_EFFECT
    mixed = simulate(np.tile(effects, (args.sims, 1)), plan, sigma, rng)
    return (
        f"| {cells} | {ratio:g} | {'on' if futility else 'off'} | {rate(fwer)} "
        f"| {(at == 'gain').mean():.3f} | {(at == 'futile').mean():.4f} "
        f"| {(at == 'inconclusive').mean():.3f} | {null['used'].sum(axis=1).mean() / fixed:.3f} "
        f"| {mixed['used'].sum(axis=1).mean() / fixed:.3f} |"
    )


if __name__ == "__main__":
    main()
