"""Claims under test: a published gain, answered from the simultaneous interval of its row
(pandas only; the intervals are `analysis.stats`').

A study states what it tests (`analysis.claims` of its spec): a candidate beats the
reference by a gain c (metric units, positive = candidate better), optionally in the
settings that match a mapping of dotted keys. Each matching row's interval [L, H] (its
family's simultaneous interval: the claimed candidates are primary, so confirmatory)
answers it; for c < 0 read everything with the sign turned:

* `supported`: the interval excludes 0 and does not lie below the claim (L > 0, H ≥ c);
* `smaller than claimed`: it excludes 0 and lies below the claim (L > 0, H < c);
* `not supported`: it excludes the claim and includes 0 (L ≤ 0 ≤ H < c), or lies below 0
  (H < 0);
* `undecided`: it includes both 0 and the claim, or the row has no interval.

Each answer is read from an interval that covers the true gain, with the family's others,
with probability ≥ 1 − α: a `supported` where the true gain is ≤ 0, or a `not supported`
where it is ≥ c, happens with probability ≤ α.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

ANSWERS = ("supported", "smaller than claimed", "not supported", "undecided")
CLAIM_COLUMNS = (
    "candidate", "setting", "claimed", "gain", "ci_low", "ci_high", "answer", "n_pairs",
    "family", "source",
)  # fmt: skip


@dataclass(frozen=True)
class Claim:
    candidate: str
    gain: float
    source: str = ""
    setting: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Claim:
        return cls(str(raw["candidate"]), float(raw["gain"]), str(raw.get("source", "")),
                   dict(raw.get("setting") or {}))  # fmt: skip


def answer(low: float, high: float, claimed: float) -> str:
    """The answer to a claimed gain from an interval (module docstring)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undecided"
    if claimed < 0:
        low, high, claimed = -high, -low, -claimed
    if low > 0:
        return "smaller than claimed" if high < claimed else "supported"
    return "not supported" if high < claimed else "undecided"


def claim_table(
    comparisons: pd.DataFrame, claims: Sequence[Claim], keys: Sequence[str]
) -> pd.DataFrame:
    """One row per claim × matching comparison row (a claim no row matches is `undecided`
    with no interval)."""
    from analysis.answer import setting_name

    rows = []
    for claim in claims:
        match = comparisons[comparisons["candidate"] == claim.candidate]
        for key, value in claim.setting.items():
            # a key that is not a setting axis is constant: the spec checked it matches
            match = match[match[key] == value] if key in match else match
        for _, r in match.iterrows():
            rows.append({
                "candidate": claim.candidate, "setting": setting_name(r, keys),
                "claimed": claim.gain, "gain": r["gain"], "ci_low": r["ci_low"],
                "ci_high": r["ci_high"], "answer": answer(r["ci_low"], r["ci_high"], claim.gain),
                "n_pairs": r["n_pairs"], "family": r["family"], "source": claim.source,
            })  # fmt: skip
        if match.empty:
            rows.append({"candidate": claim.candidate, "setting": "no matching row",
                         "claimed": claim.gain, "gain": math.nan, "ci_low": math.nan,
                         "ci_high": math.nan, "answer": "undecided", "n_pairs": 0,
                         "family": "", "source": claim.source})  # fmt: skip
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))


def claim_lines(table: pd.DataFrame, metric: str, reference: str) -> list[str]:
    """`Claim from Shim 2025, Table 1: lace beats ce by 0.5 points of test top-5 error —
    supported: 0.62 points [0.21, 1.03] (confirmatory, n = 5)`."""
    from analysis.answer import metric_label, number, unit

    u = unit(metric)
    lines = []
    for _, r in table.iterrows():
        where = "" if r["setting"] == "the one setting" else f" at {r['setting']}"
        source = f" from {r['source']}" if r["source"] else ""
        interval = (f"{number(r['gain'])} {u} [{number(r['ci_low'])}, {number(r['ci_high'])}]"
                    if math.isfinite(r["ci_low"]) else "no interval")  # fmt: skip
        lines.append(
            f"Claim{source}: {r['candidate']} beats {reference} by {number(r['claimed'])} {u} "
            f"of {metric_label(metric)}{where} — {r['answer']}: {interval} "
            f"({r['family'] or 'no row'}, n = {int(r['n_pairs'])})"
        )
    return lines
