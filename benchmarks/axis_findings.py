"""Write `docs/findings/<study>.md` from a finished study that varies one axis beside the
loss and the noise: `digits_arch` (the network) or `digits_optim` (the optimiser).

Usage (from the project root, after the study ran in WORKDIR and `study report <study>`
wrote WORKDIR/reports/<study>):
    .venv/bin/python benchmarks/axis_findings.py WORKDIR --study digits_arch [--out docs/findings]
    .venv/bin/python benchmarks/axis_findings.py WORKDIR --study digits_optim --twin ARCH_WORKDIR
where WORKDIR holds `mlflow.db`, `runs/`, `reports/<study>/` and `study.log`
(`/usr/bin/time -v study run ...`); `--twin`: digits_arch's WORKDIR, whose ResNet-18 half
runs the same trial configs as digits_optim's SGD half (the page says whether they repeat).
Every number on the page comes from those files.

Does the answer depend on the axis? Per candidate × noise setting, the per-seed double
difference dd_s = gain_s(second level) − gain_s(first level), gain_s = reference − candidate
at seed s (both levels see the same seeds and noise draws); its mean with a paired t interval,
Bonferroni over the rows of that table (scipy t quantiles, `analysis.intervals.t_interval`).
"""

from __future__ import annotations

import argparse
import math
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.intervals import t_interval

METRIC = "final_paper_top1_error"
ALPHA = 0.05


@dataclass(frozen=True)
class Axis:
    """What a study varies beside the loss and the noise, and how its page speaks of it."""

    column: str  # the dotted param in trials.parquet
    levels: tuple[str, str]  # the first is the baseline of the double difference
    word: str  # "architecture"
    names: tuple[str, str]  # the levels as a reader knows them
    design: str  # the study in a sentence, after "N finished trials = "
    other: str  # a paragraph on what the study keeps fixed


AXES = {
    "digits_arch": Axis(
        "model.name", ("resnet18", "vgg5"), "architecture", ("ResNet-18", "VGG-5"),
        "ce, lace, minent, mixent × {ResNet-18 (CIFAR variant), VGG-5 (SpinalNet's)} at width "
        "16 × {no noise, symmetric 0.4} × 10 seeds on scikit-learn's digits upsampled to 16 × "
        "16; SGD 0.02 / momentum 0.9 / wd 5e-4, 15 epochs, StepLR ×0.1 every 6, for both "
        "networks (at the first paper's lr 0.1 VGG-5 did not train reliably: the YAML's "
        "comments).",
        "**The optimiser** is not varied here: both networks train with the same SGD "
        "(momentum 0.9, lr 0.02, StepLR); `digits_optim` varies it "
        "([digits_optim.md](digits_optim.md)).",
    ),
    "digits_optim": Axis(
        "optim.name", ("sgd", "adam"), "optimiser", ("SGD", "Adam"),
        "ce, lace, minent, mixent × {SGD (lr 0.02, momentum 0.9, wd 5e-4), Adam (lr 0.001, no "
        "weight decay)} × {no noise, symmetric 0.4} × 10 seeds, ResNet-18 (CIFAR variant) at "
        "width 16 on scikit-learn's digits upsampled to 16 × 16; 15 epochs, StepLR ×0.1 every "
        "6, for both optimisers.",
        "**The network** is not varied here (ResNet-18 at width 16); `digits_arch` varies it "
        "with SGD ([digits_arch.md](digits_arch.md)).",
    ),
}  # fmt: skip


def table(frame: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.3f}"
        return str(v)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in r) + " |" for r in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def setting(kind: str, rate: float) -> str:
    return "no noise" if kind == "none" else f"{kind} {rate:g}"


def dependence(trials: pd.DataFrame, reference: str, axis: Axis) -> pd.DataFrame:
    """The double differences of the module docstring, one row per candidate × noise."""
    done = trials[trials["status"] == "FINISHED"]
    wide = done.pivot_table(index=["noise.kind", "noise.rate", "seed"],
                            columns=["loss_label", axis.column], values=METRIC)  # fmt: skip
    first, second = axis.levels
    rows = []
    for cand in sorted({c for c, _ in wide.columns} - {reference}):
        gain = {lev: wide[(reference, lev)] - wide[(cand, lev)] for lev in axis.levels}
        dd = (gain[second] - gain[first]).dropna()
        for (kind, rate), d in dd.groupby(level=["noise.kind", "noise.rate"]):
            n = len(d)
            rows.append({
                "candidate": cand, "setting": setting(kind, rate), "n": n,
                f"gain_{first}": float(gain[first].xs((kind, rate)).mean()),
                f"gain_{second}": float(gain[second].xs((kind, rate)).mean()),
                "difference": float(d.mean()), "se": float(d.std(ddof=1) / math.sqrt(n)),
            })  # fmt: skip
    out = pd.DataFrame(rows)
    low, high = t_interval(out["difference"].to_numpy(), out["se"].to_numpy(),
                           (out["n"] - 1).to_numpy(float), 1 - ALPHA / len(out))  # fmt: skip
    out["ci_low"], out["ci_high"] = low, high
    out["depends"] = np.where((low > 0) | (high < 0), "yes", "not shown")
    return out.drop(columns=["se"])


def commit_of(where: Path) -> str:
    """The short commit of the clone at `where`."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=where).stdout.strip()  # fmt: skip


TWINS = {  # a study's half, and the half of another study that runs the same trial configs
    "digits_optim": (("optim.name", "sgd", "SGD"), "digits_arch",
                     ("model.name", "resnet18", "ResNet-18")),
}  # fmt: skip


def twin_sentence(name: str, trials: pd.DataFrame, work: Path, twin_work: Path) -> str:
    """Whether the trials this study shares with its twin (`TWINS`), run in another clone,
    gave the same final errors: both reports' trials.parquet, joined on loss, noise and
    seed."""
    (here_col, here_level, here_word), other, (there_col, there_level, there_word) = TWINS[name]
    there = pd.read_parquet(twin_work / "reports" / other / "trials.parquet")
    keys = ["loss_label", "noise.kind", "noise.rate", "seed"]
    a = trials[trials[here_col] == here_level].set_index(keys)[METRIC]
    b = there[there[there_col] == there_level].set_index(keys)[METRIC]
    both = a.to_frame("here").join(b.rename("there"), how="inner")
    equal = int((both["here"] == both["there"]).sum())
    where = "at the same commit" if commit_of(twin_work) == commit_of(work) else "at another commit"
    return (
        f"The {here_word} half of this study is the same {len(both)} trial configs as "
        f"{other}'s {there_word} half, run {where} from another fresh clone: {equal} of "
        f"{len(both)} final errors are equal (both reports' trials.parquet, joined on loss, "
        "noise and seed)."
    )


def run_line(work: Path, name: str, context: str, twin: bool) -> str:
    """Where, when and how the study ran (from its log and its clone)."""
    log = (work / "study.log").read_text()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.+)", log)
    commit = commit_of(work)
    return (
        f"Run on {platform.machine()} ({platform.node()}, 2 cores, no GPU), "
        f"{datetime.now(UTC):%Y-%m-%d}, commit `{commit}`, from a clean clone: `make venv && "
        f"/usr/bin/time -v .venv/bin/study run search_spaces/{name}.yaml > study.log 2>&1` "
        f"({wall.group(1).strip() if wall else '?'} wall), then `.venv/bin/study report "
        f"{name}` and `.venv/bin/python benchmarks/axis_findings.py WORKDIR --study {name}"
        + (f" --twin {TWINS[name][1].upper()}_WORKDIR" if twin else "")
        + "`."
        + (f" {context}" if context else "")
    )


def dependence_lines(dep: pd.DataFrame, axis: Axis) -> list[str]:
    shown = dep[dep["depends"] == "yes"]
    which = "; ".join(
        f"{r['candidate']} at {r['setting']} ({r['difference']:+.2f} points "
        f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}])"
        for _, r in shown.iterrows()
    )
    return [
        f"**Does the answer depend on the {axis.word}?** Per candidate and noise setting, the "
        f"gain with {axis.names[1]} minus the gain with {axis.names[0]}, paired by seed (same "
        f"seeds and noise draws for both), with Bonferroni t intervals over the {len(dep)} "
        "rows:",
        "",
        table(dep),
        "",
        f"{axis.word.capitalize()} dependence shown in {len(shown)} of {len(dep)} rows"
        + (f": {which}." if which else "."),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--study", choices=sorted(AXES), required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/findings"))
    parser.add_argument("--context", default="", help="what else ran on the machine meanwhile")
    parser.add_argument("--twin", type=Path,
                        help="the workdir of the study that shares trial configs with this "
                        "one (digits_optim: digits_arch's), to check they repeat")  # fmt: skip
    args = parser.parse_args()
    name, axis = args.study, AXES[args.study]
    work = args.workdir.resolve()
    reports = work / "reports" / name
    comp = pd.read_csv(reports / "comparisons.csv")
    trials = pd.read_parquet(reports / "trials.parquet")
    twin = f" {twin_sentence(name, trials, work, args.twin.resolve())}" if args.twin else ""
    answer = (reports / "answer.txt").read_text().strip().splitlines()
    dep = dependence(trials, "ce", axis)
    keys = [axis.column, "noise.kind", "noise.rate"]
    cells = comp[["candidate", "family", *keys, "n_pairs", "n_diverged", "gain", "ci_low",
                  "ci_high", "verdict"]]  # fmt: skip
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from findings_methods import claim_lines, method_table

    means = (
        trials[trials["status"] == "FINISHED"]
        .groupby([*keys, "loss_label"])[METRIC]
        .agg(["count", "mean", "std"]).reset_index()
    )  # fmt: skip
    n = int((trials["status"] == "FINISHED").sum())
    lines = [
        f"# Findings: does the answer depend on the {axis.word}?",
        "",
        f"Study `{name}` (`search_spaces/{name}.yaml`): {n} finished trials = {axis.design} "
        f"Metric: test top-1 error (%), mean of the last 3 epochs (`{METRIC}`); reference ce; "
        "smallest gain of interest 1 point. minent and mixent at the second paper's settings "
        "under the plain reading (docs/losses.md).",
        "",
        run_line(work, name, args.context, args.twin is not None),
        "",
        "## The claim",
        "",
        *claim_lines(work, name),
        "",
        "## The answer",
        "",
        "Verdicts read from each family's simultaneous 95 % intervals (the report's method: "
        f"{comp['method'].iloc[0]}; docs/analysis.md). Decided rows, the same runs read by "
        "each method:",
        "",
        table(method_table(work, name)),
        "",
        *[f"* {line}" for line in answer if not line.startswith("Claim")],
        "",
        *dependence_lines(dep, axis),
        "",
        axis.other + twin,
        "",
        f"## Per loss × {axis.word} × noise setting (paired, simultaneous intervals)",
        "",
        table(cells),
        "",
        f"## Mean test top-1 error (%) per {axis.word}, noise setting and loss",
        "",
        table(means),
        "",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / (name + '.md')}")


if __name__ == "__main__":
    main()
