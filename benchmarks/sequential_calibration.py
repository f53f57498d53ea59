"""Calibration of the sequential design (`analysis/sequential.py`) by simulation.

    .venv/bin/python benchmarks/sequential_calibration.py [SIMS] [--cells 8 42]

Each row simulates SIMS studies of `cells` cells, each cell's paired differences drawn
N(δ, σ_d = 0.3) seed by seed and analysed at looks 3, 6, 10, 15, 20 with α = 0.05 and
min_effect = 0.5 (the issue's plan), decided cells getting no more seeds. Rows:

* null: every δ = 0; the family-wise false-positive rate (any `gain`/`loss` in the study);
* power: every δ = min_effect; the share of cells decided `gain` by the last look;
* mixed: half the cells null, a quarter at min_effect, a quarter at 3 × min_effect; the seeds
  used as a share of the fixed design's (every cell to the last look), and the error rates.

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
from analysis.sequential import SequentialPlan, decide_many

LOOKS = (3, 6, 10, 15, 20)
SIGMA = 0.3
MIN_EFFECT = 0.5


def simulate(effects: np.ndarray, plan: SequentialPlan, rng: np.random.Generator) -> dict:
    """One study per row of `effects` (studies × cells); returns decisions and seeds used."""
    studies, cells = effects.shape
    diffs = rng.normal(effects[..., None], SIGMA, size=(studies, cells, plan.looks[-1]))
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
        f"{MIN_EFFECT}, σ_d {SIGMA}, spending {args.spending}; {platform.machine()}, "
        f"{os.cpu_count()} cores, {dt.date.today()}\n"
    )
    print("| cells | study | family-wise false positives | power at min_effect "
          "| seeds used / fixed design | wrong-sign decisions |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for cells in args.cells:
        plan = SequentialPlan(LOOKS, 0.05, MIN_EFFECT, cells, args.spending)
        null = simulate(np.zeros((args.sims, cells)), plan, rng)
        fwer = np.isin(null["decision"], ("gain", "loss")).any(axis=1)
        used = null["used"].sum(axis=1) / (cells * LOOKS[-1])
        print(f"| {cells} | null | {rate(fwer)} | – | {used.mean():.3f} | – |")
        power = simulate(np.full((args.sims, cells), MIN_EFFECT), plan, rng)
        won = (power["decision"] == "gain").mean(axis=1)
        used = power["used"].sum(axis=1) / (cells * LOOKS[-1])
        wrong = (power["decision"] == "loss").any(axis=1)
        print(f"| {cells} | all at min_effect | – | {won.mean():.3f} | {used.mean():.3f} "
              f"| {rate(wrong)} |")  # fmt: skip
        quarter = max(cells // 4, 1)
        effects = np.zeros(cells)
        effects[cells - 2 * quarter : cells - quarter] = MIN_EFFECT
        effects[cells - quarter :] = 3 * MIN_EFFECT
        mixed = simulate(np.tile(effects, (args.sims, 1)), plan, rng)
        nulls = effects == 0
        false = np.isin(mixed["decision"][:, nulls], ("gain", "loss")).any(axis=1)
        won = (mixed["decision"][:, effects == MIN_EFFECT] == "gain").mean()
        used = mixed["used"].sum(axis=1) / (cells * LOOKS[-1])
        wrong = (mixed["decision"][:, ~nulls] == "loss").any(axis=1)
        print(f"| {cells} | mixed (½ null, ¼ min_effect, ¼ 3×) | {rate(false)} | {won:.3f} "
              f"| {used.mean():.3f} | {rate(wrong)} |")  # fmt: skip
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
