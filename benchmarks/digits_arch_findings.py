"""Write `docs/findings/digits_arch.md` from a finished `digits_arch` study.

Usage (from the project root, after the study ran in WORKDIR and `study report digits_arch`
wrote WORKDIR/reports/digits_arch):
    .venv/bin/python benchmarks/digits_arch_findings.py WORKDIR [--out docs/findings]
where WORKDIR holds `mlflow.db`, `runs/`, `reports/digits_arch/` and `study.log`
(`/usr/bin/time -v study run ...`). Every number on the page comes from those files.

Does the answer depend on the architecture? Per candidate × noise setting, the per-seed
double difference dd_s = gain_s(VGG-5) − gain_s(ResNet-18), gain_s = reference − candidate at
seed s (both networks see the same seeds and noise draws); its mean with a paired t interval,
Bonferroni over the rows of that table (scipy t quantiles, `analysis.intervals.t_interval`).
"""

from __future__ import annotations

import argparse
import math
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.intervals import t_interval

NAME = "digits_arch"
METRIC = "final_paper_top1_error"
ALPHA = 0.05


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


def architecture_dependence(trials: pd.DataFrame, reference: str) -> pd.DataFrame:
    """The double differences of the module docstring, one row per candidate × noise."""
    done = trials[trials["status"] == "FINISHED"]
    wide = done.pivot_table(index=["noise.kind", "noise.rate", "seed"],
                            columns=["loss_label", "model.name"], values=METRIC)  # fmt: skip
    rows = []
    for cand in sorted({c for c, _ in wide.columns} - {reference}):
        gain = {arch: wide[(reference, arch)] - wide[(cand, arch)]
                for arch in ("resnet18", "vgg5")}  # fmt: skip
        dd = (gain["vgg5"] - gain["resnet18"]).dropna()
        for (kind, rate), d in dd.groupby(level=["noise.kind", "noise.rate"]):
            n = len(d)
            rows.append({
                "candidate": cand, "setting": setting(kind, rate), "n": n,
                "gain_resnet18": float(gain["resnet18"].xs((kind, rate)).mean()),
                "gain_vgg5": float(gain["vgg5"].xs((kind, rate)).mean()),
                "difference": float(d.mean()), "se": float(d.std(ddof=1) / math.sqrt(n)),
            })  # fmt: skip
    out = pd.DataFrame(rows)
    low, high = t_interval(out["difference"].to_numpy(), out["se"].to_numpy(),
                           (out["n"] - 1).to_numpy(float), 1 - ALPHA / len(out))  # fmt: skip
    out["ci_low"], out["ci_high"] = low, high
    out["depends"] = np.where((low > 0) | (high < 0), "yes", "not shown")
    return out.drop(columns=["se"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/findings"))
    args = parser.parse_args()
    work = args.workdir.resolve()
    reports = work / "reports" / NAME
    log = (work / "study.log").read_text()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.+)", log)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=work).stdout.strip()  # fmt: skip
    comp = pd.read_csv(reports / "comparisons.csv")
    trials = pd.read_parquet(reports / "trials.parquet")
    answer = (reports / "answer.txt").read_text().strip().splitlines()
    dependence = architecture_dependence(trials, "ce")
    cells = comp[["candidate", "model.name", "noise.kind", "noise.rate", "n_pairs", "gain",
                  "ci_low", "ci_high", "verdict"]]  # fmt: skip
    means = (
        trials[trials["status"] == "FINISHED"]
        .groupby(["model.name", "noise.kind", "noise.rate", "loss_label"])[METRIC]
        .agg(["count", "mean", "std"]).reset_index()
    )  # fmt: skip
    n = int((trials["status"] == "FINISHED").sum())
    lines = [
        "# Findings: does the answer depend on the architecture?",
        "",
        f"Study `{NAME}` (`search_spaces/{NAME}.yaml`): {n} finished trials = ce, lace, "
        "minent, mixent × {ResNet-18 (CIFAR variant), VGG-5 (SpinalNet's)} at width 16 × {no "
        "noise, symmetric 0.4} × 10 seeds on scikit-learn's digits upsampled to 16 × 16; SGD "
        "0.02 / momentum 0.9 / wd 5e-4, 15 epochs, StepLR ×0.1 every 6, for both networks "
        "(at the first paper's lr 0.1 VGG-5 did not train reliably: the YAML's comments). "
        f"Metric: test top-1 error (%), mean of the last 3 epochs (`{METRIC}`); reference ce; "
        "smallest gain of interest 1 point. minent and mixent at the second paper's settings "
        "under the plain reading (docs/losses.md).",
        "",
        f"Run on {platform.machine()} ({platform.node()}, 2 cores, no GPU), "
        f"{datetime.now(UTC):%Y-%m-%d}, commit `{commit}`, from a clean clone: `make venv && "
        "/usr/bin/time -v .venv/bin/study run search_spaces/digits_arch.yaml > study.log 2>&1` "
        f"({wall.group(1).strip() if wall else '?'} wall), then `.venv/bin/study report "
        "digits_arch` and `.venv/bin/python benchmarks/digits_arch_findings.py WORKDIR`.",
        "",
        "## The answer",
        "",
        "Verdicts read from simultaneous 95 % intervals over the "
        f"{int(comp['family_size'].iloc[0])} candidate × setting rows (docs/analysis.md):",
        "",
        *[f"* {line}" for line in answer],
        "",
        "**Does the answer depend on the architecture?** Per candidate and noise setting, the "
        "gain on VGG-5 minus the gain on ResNet-18, paired by seed (same seeds and noise draws "
        f"for both networks), with Bonferroni t intervals over the {len(dependence)} rows:",
        "",
        table(dependence),
        "",
        "Architecture dependence shown in "
        f"{int((dependence['depends'] == 'yes').sum())} of {len(dependence)} rows"
        + (
            ": "
            + "; ".join(
                f"{r['candidate']} at {r['setting']} ({r['difference']:+.2f} points "
                f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}])"
                for _, r in dependence[dependence["depends"] == "yes"].iterrows()
            )
            if (dependence["depends"] == "yes").any()
            else ""
        )
        + ".",
        "",
        "**The optimiser** is not varied here: both networks train with the same SGD (momentum "
        "0.9, lr 0.02, StepLR). The second paper's Adam and random-restart recipe is "
        "`search_spaces/emnist_letters.yaml` (and its fair variant), which needs a GPU.",
        "",
        "## Per loss × architecture × noise setting (paired, simultaneous intervals)",
        "",
        table(cells),
        "",
        "## Mean test top-1 error (%) per architecture, noise setting and loss",
        "",
        table(means),
        "",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / (NAME + '.md')}")


if __name__ == "__main__":
    main()
