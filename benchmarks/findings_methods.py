"""Decided rows under the per-row Bonferroni method and the seed-level model, side by side,
and the study's claims answered: the part every findings page shares.

`method_lines(work, name)` runs `study report NAME --no-log` twice more in WORKDIR, into
`reports/NAME-bonferroni` (`--family-method bonferroni --primary ""`: per-row paired t,
Bonferroni over every row, the report's method before the seed-level model) and
`reports/NAME-maxt-one-family` (`--primary ""`: the model, every row one family), and reads
them with the study's own report (`reports/NAME`: the model, the study's confirmatory and
exploratory families).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

VARIANTS = (  # (folder suffix, extra options, what it is)
    ("-bonferroni", ["--family-method", "bonferroni", "--primary", ""],
     "per-row paired t, Bonferroni over all rows (the previous method)"),
    ("-maxt-one-family", ["--primary", ""],
     "seed-level model, max-|t|, all rows one family"),
    ("", [], "seed-level model, max-|t|, the study's families (the report)"),
)  # fmt: skip


def _report(work: Path, name: str, suffix: str, options: list[str]) -> pd.DataFrame:
    out = work / "reports" / f"{name}{suffix}"
    if suffix:
        study = str(Path(sys.executable).parent / "study")
        subprocess.run([study, "report", name, "--out", str(out), "--no-log", *options],
                       cwd=work, check=True, capture_output=True, text=True)  # fmt: skip
    return pd.read_csv(out / "comparisons.csv")


def method_table(work: Path, name: str) -> pd.DataFrame:
    """Per method and family: rows, each verdict's count, decided rows, and the median
    interval width relative to the Bonferroni one on the same rows."""
    found = [(what, _report(work, name, suffix, opts)) for suffix, opts, what in VARIANTS]
    base = found[0][1]
    width0 = (base["ci_high"] - base["ci_low"]).to_numpy()
    rows = []
    for what, comp in found:
        ratio = (comp["ci_high"] - comp["ci_low"]).to_numpy() / width0
        for fam, frame in comp.groupby("family", sort=False):
            counts = frame["verdict"].value_counts()
            decided = int(sum(counts.get(v, 0) for v in ("gain", "loss", "equivalent")))
            rows.append({
                "method": what, "family": fam, "rows m": len(frame),
                **{v: int(counts.get(v, 0)) for v in ("gain", "loss", "equivalent",
                                                      "inconclusive")},
                "decided": f"{decided} of {len(frame)}",
                "median width / Bonferroni": float(pd.Series(ratio[frame.index]).median()),
            })  # fmt: skip
    return pd.DataFrame(rows)


def claim_lines(work: Path, name: str) -> list[str]:
    """The study's claims as its report answers them (`claims.csv`, `answer.txt`)."""
    answer = (work / "reports" / name / "answer.txt").read_text().splitlines()
    claims = [line for line in answer if line.startswith("Claim")]
    return [f"* {line}" for line in claims] or ["* (the study states no claim)"]
