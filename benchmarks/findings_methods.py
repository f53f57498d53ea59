"""Decided rows under the per-row Bonferroni method and the seed-level model's two variance
models, side by side, and the study's claims answered: the part every findings page shares.

`method_table(work, name)` runs `study report NAME --no-log` three more times in WORKDIR,
every row one family (`--primary ""`): into `reports/NAME-bonferroni` (`--family-method
bonferroni`: per-row paired t, Bonferroni over every row), `reports/NAME-maxt` (`--family-method
maxt`: the model with the rows' moderated variances) and `reports/NAME-maxt-losses` (the
default, `maxt-losses`: the losses' own moderated variances per setting), and reads them with
the study's own report (`reports/NAME`: the default, the study's confirmatory and exploratory
families). Each row names the method its report used (a study with fewer than three
candidates per setting gets the rows' variances under `maxt-losses`, and says so).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

VARIANTS = (  # (folder suffix, extra options, what it is)
    ("-bonferroni", ["--family-method", "bonferroni", "--primary", ""],
     "per-row paired t, Bonferroni; all rows one family"),
    ("-maxt", ["--family-method", "maxt", "--primary", ""],
     "seed-level model, the rows' variances, max-|t|; all rows one family"),
    ("-maxt-losses", ["--family-method", "maxt-losses", "--primary", ""],
     "seed-level model, the losses' variances, max-|t|; all rows one family"),
    ("", [], "the report: the losses' variances, max-|t|; the study's families"),
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
        used = str(comp["method"].iloc[0]) if len(comp) else ""
        if used.endswith(")"):  # the method fell back, and its report says why
            what = f"{what} ({used[used.index('(') + 1 : -1]}: the rows' variances)"
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
