"""Adaptive seeding: decide each comparison look by look, with error control that
survives the optional stopping.

Method: a group-sequential paired t-test with an α-spending function (Lan & DeMets 1983,
Biometrika 70:659) of the O'Brien–Fleming type, α(t) = 2·Φ̄(z_{1−α/2} / √t) at information
fraction t = n_k / n_K (Φ̄ = scipy's `norm.sf`, which does not underflow at small α where
2 − 2Φ does), or of the Pocock type, α(t) = α ln(1 + (e − 1) t). At look k a comparison's
two-sided level is the increment a_k = α_c(t_k) − α_c(t_{k−1}) with α_c = α / n_comparisons, and its
repeated confidence interval (Jennison & Turnbull 1989, JRSS-B 51:305) is

    mean(d) ± t_{n_k − 1, 1 − a_k/2} · sd(d) / √n_k.

The union bound over looks and comparisons gives P(any interval misses its mean) ≤ Σ_c Σ_k a_k = α
for normal differences whatever the variance: every look's t quantile is exact at its own n.
So:

* `gain` / `loss`: the interval lies above / below 0 — the family-wise false-positive rate over
  every comparison and look is ≤ α;
* `futile` (only with `futility` on): mean + t_{n_k − 1, 1 − b}·se < min_effect and
  mean − t_{n_k − 1, 1 − b}·se > −min_effect, b = β_futility / K, i.e. |mean| + t·se <
  min_effect — the data rule out a gain of `min_effect` in either direction. At a true gain
  of ±min_effect, each look stops it as futile with probability ≤ b (exact t), so over the
  K looks with probability ≤ β_futility, whatever the sd. Futility is non-binding (Jennison
  & Turnbull 2000, ch. 5): the efficacy levels are computed as if the study never stopped
  for it, so stopping for it only removes chances to reject and never raises the
  false-positive rate;
* `inconclusive`: the last look came and neither boundary was crossed — nothing was shown;
* `continue`: no boundary yet, before the last look.

Estimates of a comparison stopped early are biased away from 0 (a look stops when its mean
happens to be large): the repeated CIs keep their coverage, the means do not estimate the gain
without bias (Jennison & Turnbull 2000, ch. 8).

Differences are `candidate better` positive. scipy gives the t and normal quantiles.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

DECISIONS = ("gain", "loss", "futile", "inconclusive", "continue")
SPENDING = ("obrien_fleming", "pocock")


@dataclass(frozen=True)
class SequentialDesign:
    looks: tuple[int, ...]  # seeds per comparison at which it is analysed, increasing, first >= 2
    alpha: float = 0.05  # family-wise over all comparisons and looks
    min_effect: float = 0.5  # the smallest gain of interest (metric units)
    n_comparisons: int = 1  # comparisons the family-wise α is shared by
    spending: str = "obrien_fleming"
    beta_futility: float = 0.05  # chance of stopping a true gain of min_effect as futile
    futility: bool = True  # stop a comparison early when it rules out min_effect

    def __post_init__(self) -> None:
        looks = tuple(self.looks)
        increasing = looks and looks[0] >= 2 and all(b > a for a, b in itertools.pairwise(looks))
        checks = (
            (increasing, "looks", list(looks), "increasing seed counts, the first >= 2"),
            (0 < self.alpha < 1, "alpha", self.alpha, "in (0, 1)"),
            (0 < self.beta_futility < 1, "beta_futility", self.beta_futility, "in (0, 1)"),
            (self.min_effect > 0, "min_effect", self.min_effect, "> 0"),
            (self.n_comparisons >= 1, "n_comparisons", self.n_comparisons, ">= 1"),
            (self.spending in SPENDING, "spending", self.spending, ", ".join(SPENDING)),
        )
        for ok, key, value, allowed in checks:
            if not ok:  # the message of study.coerce.check: the spec names its section
                raise ValueError(f"{key}: invalid value {value!r} (allowed: {allowed})")
        object.__setattr__(self, "looks", looks)

    def spent(self, fraction: float) -> float:
        """α spent by information fraction `fraction`, for one comparison."""
        a = self.alpha / self.n_comparisons
        if fraction <= 0:
            return 0.0
        if self.spending == "pocock":
            return a * math.log(1 + (math.e - 1) * min(fraction, 1.0))
        z = stats.norm.isf(a / 2)
        return float(2 * stats.norm.sf(z / math.sqrt(min(fraction, 1.0))))

    def levels(self) -> list[float]:
        """Each look's two-sided level a_k (they sum to α / n_comparisons)."""
        last = self.looks[-1]
        spent = [self.spent(n / last) for n in self.looks]
        return [s - p for s, p in zip(spent, [0.0, *spent[:-1]], strict=True)]

    def boundaries(self) -> list[tuple[float, float]]:
        """(efficacy t quantile, futility t quantile) per look."""
        k = len(self.looks)
        return [
            (
                float(stats.t.ppf(1 - a / 2, n - 1)),
                float(stats.t.ppf(1 - self.beta_futility / k, n - 1)),
            )
            for n, a in zip(self.looks, self.levels(), strict=True)
        ]


def decide(diffs: np.ndarray, design: SequentialDesign) -> str:
    """One comparison at one look: `gain`, `loss`, `futile`, `inconclusive` (at the last look) or
    `continue` (before it).
    `diffs`: its paired differences so far, positive = candidate better; `len(diffs)` must be
    one of `design.looks`."""
    return decide_with_bounds(diffs, design)[0]


def decide_with_bounds(diffs: np.ndarray, design: SequentialDesign) -> tuple[str, dict[str, float]]:
    """`decide`, plus what it looked at: the mean, the repeated CI and the futility bound."""
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    if n not in design.looks:
        raise ValueError(f"{n} differences: a decision is taken at looks {design.looks} only")
    k = design.looks.index(n)
    efficacy, futility = design.boundaries()[k]
    mean = float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n)
    se = se if np.ptp(d) > 0 else math.nan  # identical differences: no interval, no decision
    info = {
        "n": float(n),
        "mean": mean,
        "ci_low": mean - efficacy * se,
        "ci_high": mean + efficacy * se,
        "futility_bound": abs(mean) + futility * se,
    }
    if info["ci_low"] > 0:
        return "gain", info
    if info["ci_high"] < 0:
        return "loss", info
    if design.futility and info["futility_bound"] < design.min_effect:
        return "futile", info
    return ("inconclusive" if k == len(design.looks) - 1 else "continue"), info


def boundary(decision: str, info: dict[str, float], design: SequentialDesign) -> str:
    """Which boundary a decision crossed, in words (the report's `boundary` column)."""
    if decision == "gain":
        return "efficacy: repeated CI above 0"
    if decision == "loss":
        return "efficacy: repeated CI below 0"
    if decision == "futile":
        return f"futility: bound < min_effect {design.min_effect:g}"
    return "last look, no boundary crossed" if decision == "inconclusive" else "none yet"


def decide_many(diffs: np.ndarray, design: SequentialDesign) -> np.ndarray:
    """Vectorised `decide` for the simulation benchmark: `diffs` is comparisons × n (n a look);
    returns one decision per row (the same rule, checked against `decide` in the tests)."""
    d = np.asarray(diffs, dtype=float)
    n = d.shape[1]
    k = design.looks.index(n)
    efficacy, futility = design.boundaries()[k]
    mean = d.mean(axis=1)
    se = d.std(axis=1, ddof=1) / math.sqrt(n)
    se[np.ptp(d, axis=1) == 0] = math.nan
    last = k == len(design.looks) - 1
    out = np.full(len(d), "inconclusive" if last else "continue", dtype=object)
    if design.futility:
        out[np.abs(mean) + futility * se < design.min_effect] = "futile"
    out[mean + efficacy * se < 0] = "loss"
    out[mean - efficacy * se > 0] = "gain"
    return out


def null_seeds(design: SequentialDesign, sd: float, sims: int = 2000, seed: int = 0) -> np.ndarray:
    """Seeds each comparison uses when no comparison has an effect and the paired differences
    have standard deviation `sd`: sims × design.n_comparisons, simulated (seeded); `study plan`
    prints the expected cost from it."""
    rng = np.random.default_rng(seed)
    diffs = rng.normal(0.0, sd, size=(sims * design.n_comparisons, design.looks[-1]))
    used = np.full(len(diffs), design.looks[-1], dtype=int)
    open_ = np.ones(len(diffs), dtype=bool)
    for n in design.looks:
        idx = np.flatnonzero(open_)
        decided = decide_many(diffs[idx, :n], design) != "continue"
        used[idx[decided]] = n
        open_[idx[decided]] = False
    return used.reshape(sims, design.n_comparisons)
