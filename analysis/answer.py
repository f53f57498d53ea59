"""The answer in words, one sentence per candidate, from the verdicts and the intervals that
the report prints beside them (fixed design: `analysis.stats`; sequential: the stored
decisions of `analysis.sequential`). Pure pandas; no statistics of its own."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from study import contract as c

NAMES = {
    c.PAPER_TOP1: "test top-1 error",
    c.PAPER_TOP5: "test top-5 error",
    c.BEST_TEST_TOP1: "best-epoch test top-1 error",
    c.FINAL_PREFIX + c.TEST_NLL: "test NLL",
    c.FINAL_PREFIX + c.TEST_ECE: "test ECE",
    "epochs_to_target": "epochs to target",
}


def metric_label(metric: str) -> str:
    """A metric's name for a reader: `final_paper_top1_error` → `test top-1 error`."""
    return NAMES.get(metric, metric.replace("_", " "))


def unit(metric: str) -> str:
    """The unit of a gain in `metric`: percentage points for errors, epochs for time."""
    if metric.startswith("epochs"):
        return "epochs"
    return "points" if metric.endswith("error") or "_error" in metric else "units"


def margin(min_effect: float, metric: str) -> str:
    """`±1 point`, `±0.5 points`."""
    u = unit(metric)
    return f"±{number(min_effect)} {u[:-1] if min_effect == 1 else u}"


def number(value: float) -> str:
    """3 significant digits, with a real minus sign."""
    if not math.isfinite(value):
        return "n/a"
    text = f"{value:.3g}" if abs(value) >= 0.001 else "0"
    return text.replace("-", "−")


ONE_SETTING = "the one setting"  # a study without settings


def setting_name(row: pd.Series | dict, keys: Sequence[str]) -> str:
    """`pairflip 0.2`, `no noise`, `vgg5, symmetric 0.4`, or `lr=0.05` for other axes: a name
    is shown alone, the noise setting last."""
    rest = [k for k in keys if k not in ("noise.kind", "noise.rate")]
    named = [k for k in rest if k.endswith(".name") or k == "setting"]
    parts = [str(row[k]) if k in named else f"{k.split('.')[-1]}={row[k]}" for k in rest]
    if "noise.kind" in keys or "noise.rate" in keys:
        kind = str(row.get("noise.kind", "noise"))
        rate = row.get("noise.rate", math.nan)
        parts.append("no noise" if kind == "none" else f"{kind} {float(rate):g}")
    return ", ".join(parts) or ONE_SETTING


def per_setting_table(
    comparisons: pd.DataFrame, keys: Sequence[str], verdict: bool
) -> pd.DataFrame:
    """The few columns of `compare_losses` output that fit a page (all are in the CSV): the
    family when there are two, the diverged trials among the pairs (`n_div c/r`: candidate /
    reference),
    and the TOST interval `equivalent` is read from where it is not the printed one."""
    table = pd.DataFrame({
        "candidate": comparisons["candidate"],
        "setting": [setting_name(r, keys) for _, r in comparisons.iterrows()],
        "n": comparisons["n_pairs"], "gain": comparisons["gain"],
        "ci_low": comparisons["ci_low"], "ci_high": comparisons["ci_high"],
    })  # fmt: skip
    if "family" in comparisons and set(comparisons["family"]) - {"all"}:
        table.insert(1, "family", comparisons["family"])
    if "n_diverged" in comparisons:
        table["n_div c/r"] = [f"{int(a)}/{int(b)}" for a, b in
                             zip(comparisons["n_diverged"], comparisons["n_diverged_reference"],
                                 strict=True)]  # fmt: skip
    if "tost_low" in comparisons and not _same(comparisons):
        table["tost_low"], table["tost_high"] = comparisons["tost_low"], comparisons["tost_high"]
    if verdict:
        table["verdict"] = comparisons["verdict"]
    if "mixed_hardware_pairs" in comparisons and comparisons["mixed_hardware_pairs"].any():
        table["pairs on 2 hardware"] = comparisons["mixed_hardware_pairs"]  # beside the verdict
    return table


def _same(comparisons: pd.DataFrame) -> bool:
    """Whether every row's TOST interval is its printed interval (the max-t method)."""
    pairs = (("ci_low", "tost_low"), ("ci_high", "tost_high"))
    return all(((comparisons[a] == comparisons[b]) | comparisons[a].isna()).all()
               for a, b in pairs)  # fmt: skip


def family_label(family: str) -> str:
    """` (confirmatory)`, ` (exploratory)`, or nothing for a report with one family."""
    return "" if family in ("all", "") else f" ({family})"


def _listed(rows: pd.DataFrame, keys: Sequence[str], u: str, tost: bool = False) -> str:
    """`(pairflip 0.2: −1.59 points [−2.9, −0.3]; ...)`; `tost`: the TOST interval."""
    low, high = ("tost_low", "tost_high") if tost else ("ci_low", "ci_high")
    items = [
        f"{setting_name(r, keys)}: {number(r['gain'])} {u} [{number(r[low])}, {number(r[high])}]"
        for _, r in rows.iterrows()
    ]
    return f" ({'; '.join(items)})" if items else ""


def answer_lines(
    comparisons: pd.DataFrame,
    keys: Sequence[str],
    metric: str,
    reference: str,
    min_effect: float,
) -> list[str]:
    """Per candidate (and family): `lace vs ce (confirmatory), test top-1 error: gain in 0 of
    6 settings; loss in 1 (pairflip 0.2: −1.59 points [−2.9, −0.3]); equivalent within ±1
    point in 1 (no noise: 0.1 points [−0.5, 0.7]); inconclusive in 4`. An `equivalent` is
    printed beside the TOST interval it was read from."""
    u = unit(metric)
    lines = []
    frames = comparisons.assign(family=comparisons.get("family", "all"))
    for (fam, cand), frame in frames.groupby(["family", "candidate"], sort=True):
        head = f"{cand} vs {reference}{family_label(str(fam))}, {metric_label(metric)}"
        k = len(frame)
        if k == 1:
            r = frame.iloc[0]
            eq = r["verdict"] == "equivalent"
            low, high = ("tost_low", "tost_high") if eq else ("ci_low", "ci_high")
            within = f", within {margin(min_effect, metric)}" if eq else ""
            interval = (
                f" [{number(r[low])}, {number(r[high])}]"
                if pd.notna(r["ci_low"]) else f"; {r['note'] or 'no interval'}"
            )  # fmt: skip
            lines.append(f"{head}: {r['verdict']} ({number(r['gain'])} {u}{interval}{within})")
            continue
        by = {v: frame[frame["verdict"] == v] for v in ("gain", "loss", "equivalent")}
        n_inc = k - sum(len(f) for f in by.values())
        lines.append(
            f"{head}: gain in {len(by['gain'])} of {k} "
            f"setting{'s' if k != 1 else ''}{_listed(by['gain'], keys, u)}; loss in "
            f"{len(by['loss'])}{_listed(by['loss'], keys, u)}; equivalent within "
            f"{margin(min_effect, metric)} in {len(by['equivalent'])}"
            f"{_listed(by['equivalent'], keys, u, tost=True)}; inconclusive in {n_inc}"
        )
    return lines


def sequential_lines(
    decisions: pd.DataFrame, metric: str, reference: str, min_effect: float,
    beta: float | None = None,
) -> list[str]:  # fmt: skip
    """Per candidate, the sequential verdicts: gain / loss (with the look and the repeated
    CI, family-wise), futile (a gain of min_effect ruled out, per comparison at error rate
    `beta`: not family-wise), inconclusive (the last look showed nothing)."""
    u = unit(metric)
    rate = "β" if beta is None else f"β = {beta:g}"
    frame = decisions.assign(setting=decisions["setting"].replace("", ONE_SETTING))
    lines = []
    for cand, rows in frame.groupby("candidate", sort=True):
        counts = rows["decision"].value_counts()

        def listed(decision: str, rows: pd.DataFrame = rows) -> str:
            chosen = rows[rows["decision"] == decision]
            items = [
                f"{r['setting']}, look {int(r['look'])}: {number(r['mean'])} {u} "
                f"[{number(r['ci_low'])}, {number(r['ci_high'])}]"
                for _, r in chosen.iterrows()
            ]
            return f" ({'; '.join(items)})" if items else ""

        open_ = int(counts.get("continue", 0))
        lines.append(
            f"{cand} vs {reference}, {metric_label(metric)} (sequential): gain in "
            f"{int(counts.get('gain', 0))} of {len(rows)} setting{'s' if len(rows) != 1 else ''}"
            f"{listed('gain')}; loss in "
            f"{int(counts.get('loss', 0))}{listed('loss')}; futile in "
            f"{int(counts.get('futile', 0))} (per comparison: each rules out a gain of "
            f"{number(min_effect)} {u} at error rate {rate}, not family-wise); "
            f"inconclusive in {int(counts.get('inconclusive', 0))}"
            + (f"; still open in {open_}" if open_ else "")
        )
    return lines
