"""Measure a finished `digits_noise` study and write `docs/findings/digits_noise.md` from it.

Every number on the page comes from the run: the study's own console log (run under
`/usr/bin/time -v`, for the wall time and the driver's peak memory), its MLflow database and
Tune storage, and the `study status` / `study report` commands, which this script times.

Usage (from the project root, after the study ran in WORKDIR):
    .venv/bin/python benchmarks/digits_noise_findings.py WORKDIR [--out docs/findings]
where WORKDIR holds `mlflow.db`, `runs/` and `study.log` (`/usr/bin/time -v study run ...`).
"""

from __future__ import annotations

import argparse
import math
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.tracking import MlflowClient

NAME = "digits_noise"
METRIC = "final_paper_top1_error"
FIGURES = {  # report figure → (file here, caption)
    "figure_1.png": ("forest.png", "Paired gain over ce per cell, and pooled (diamonds)"),
    "figure_3.png": ("gain_vs_rate.png", "Gain over ce against the noise rate"),
    "figure_4.png": ("memorisation.png", "Memorisation of the flipped training labels"),
    "figure_2.png": ("curves.png", "Test accuracy per epoch, mean ± std over seeds"),
}


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
    return time.monotonic() - start, proc.stdout


def time_v(log: str, field: str) -> str:
    match = re.search(rf"{re.escape(field)}: (.+)", log)
    return match.group(1).strip() if match else "?"


def wall_seconds(text: str) -> float:
    parts = [float(p) for p in text.split(":")]
    return sum(p * 60**i for i, p in enumerate(reversed(parts)))


def overhead_per_trial(client: MlflowClient, wall_s: float, slots: int) -> tuple[float, int]:
    """(wall × trials at a time − Σ trial run times) / trials: what scheduling, tracking and
    Ray's start cost per trial on this run (an upper bound: it includes idle slots)."""
    exp = client.get_experiment_by_name(NAME)
    runs = client.search_runs(
        [exp.experiment_id], "tags.`lossbench.role` = 'trial'", max_results=5000
    )
    busy = sum((r.info.end_time - r.info.start_time) / 1000 for r in runs if r.info.end_time)
    return (wall_s * slots - busy) / len(runs), len(runs)


def convergence(trials: pd.DataFrame, epochs: pd.DataFrame, last: int, window: int) -> pd.DataFrame:
    """Per loss × noise setting, the mean over seeds of test top-1 error at the last epoch
    minus at `window` epochs before it, largest change first: near 0 = converged."""
    curve = epochs[epochs["metric"] == "test_top1_error"]
    keys = ["loss_label", "noise.kind", "noise.rate"]
    runs = trials.set_index("run_id")[keys]
    ends = curve[curve["step"].isin([last - window, last])].join(runs, on="run_id")
    wide = ends.pivot_table(index=keys, columns="step", values="value", aggfunc="mean")
    out = (wide[last] - wide[last - window]).rename("change").reset_index()
    return out.reindex(out["change"].abs().sort_values(ascending=False).index)


def table(frame: pd.DataFrame, digits: int = 3) -> str:
    def cell(v: object) -> str:
        if not isinstance(v, float):
            return str(v)
        if math.isnan(v):
            return ""
        return f"{v:.{digits}g}" if abs(v) >= 100 else f"{v:.{digits}f}"

    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def measure(work: Path) -> dict:
    """Times `study status` / `study report` on the finished study and reads the run's cost."""
    study = [str(Path(sys.executable).parent / "study")]
    log = (work / "study.log").read_text()
    status_s, status = timed([*study, "status", NAME], work)
    report_s, _ = timed([*study, "report", NAME], work)
    status_s2, _ = timed([*study, "status", NAME], work)  # warm caches, for comparison
    _, plan = timed([*study, "plan", f"search_spaces/{NAME}.yaml"], work)
    wall = time_v(log, "Elapsed (wall clock) time (h:mm:ss or m:ss)")
    overhead, n = overhead_per_trial(
        MlflowClient(f"sqlite:///{work / 'mlflow.db'}"), wall_seconds(wall), slots=2
    )

    def size_mb(folder: Path) -> float:
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20

    return {
        "wall": wall, "planned": plan.strip().splitlines()[-1], "overhead": overhead, "n": n,
        "rss_mb": int(time_v(log, "Maximum resident set size (kbytes)")) / 1024,
        "status_s": status_s, "status_s2": status_s2, "report_s": report_s,
        "status_last": status.strip().splitlines()[-1],
        "db_mb": (work / "mlflow.db").stat().st_size / 2**20,
        "art_mb": size_mb(work / "mlartifacts"), "store_mb": size_mb(work / "runs"),
    }  # fmt: skip


def commit_of(where: Path) -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=where).stdout.strip()  # fmt: skip


def cost_lines(m: dict) -> list[str]:
    n = m["n"]
    return [
        "## What scale cost (measured on this run)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| wall time, `study run` (Ray start to summary) | {m['wall']} |",
        f"| `study plan`'s estimate before the run | {m['planned']} |",
        f"| scheduling + tracking overhead per trial, (wall × 2 slots − Σ trial times) / {n} "
        f"| {m['overhead']:.2f} s |",
        "| driver peak RSS (`/usr/bin/time -v`, the `study run` process) "
        f"| {m['rss_mb']:,.0f} MB |",
        f"| `study status {NAME}` | {m['status_s']:.1f} s (again: {m['status_s2']:.1f} s) |",
        f"| `study report {NAME}` | {m['report_s']:.1f} s |",
        f"| MLflow DB (SQLite) | {m['db_mb']:.1f} MB = {m['db_mb'] / n * 100:.2f} MB per 100 "
        "trials |",
        f"| MLflow artifacts | {m['art_mb']:.1f} MB |",
        f"| Tune storage (states, results) | {m['store_mb']:.1f} MB |",
        "",
        "`study status` output, last line: `" + m["status_last"] + "`",
        "",
        *([m["context"], ""] if m["context"] else []),
    ]


def trend_sentence(trends: pd.DataFrame, candidate: str) -> str:
    """`lace`'s trends in words, with their simultaneous intervals."""
    rows = trends[trends["candidate"] == candidate]
    return "; ".join(
        f"{r['kind']}: {r['slope']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
        for _, r in rows.iterrows()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/findings"))
    parser.add_argument("--context", default="", help="what else ran on the machine meanwhile")
    parser.add_argument("--commit", help="the commit the study ran at (default: WORKDIR's)")
    args = parser.parse_args()
    work = args.workdir.resolve()
    m = measure(work)
    m["context"] = args.context
    commit = args.commit or commit_of(work)
    measuring = commit_of(Path(__file__).resolve().parent)
    reports = work / "reports" / NAME
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import json

    from study.orchestration.spec import spec_from_dict

    # what ran, as stored (its resolved spec; `load_record` would refuse a record written by
    # an earlier version whose config had fewer keys, which is what resuming needs)
    stored = json.loads((work / "runs" / NAME / "lossbench_spec.json").read_text())
    spec = spec_from_dict(stored["resolved"])
    out = args.out
    (out / NAME).mkdir(parents=True, exist_ok=True)
    for src, (dst, _) in FIGURES.items():
        if (reports / src).is_file():
            shutil.copy(reports / src, out / NAME / dst)
    lines = [
        *intro_lines(spec, m["n"], commit, measuring),
        *answer_lines(reports, spec, work),
        *table_lines(reports, spec),
        *cost_lines(m),
        *convergence_lines(reports, spec),
    ]
    (out / f"{NAME}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / (NAME + '.md')}")


def intro_lines(spec: Any, n: int, commit: str, measuring: str) -> list[str]:
    sched, window = spec.base.schedule, spec.base.eval.final_window
    n_losses, n_noise, n_seeds = (len(spec.grid[k]) for k in ("loss", "noise", "seed"))
    return [
        "# Findings: does the adaptive gain hold on digits under label noise?",
        "",
        f"Study `{NAME}` (`search_spaces/{NAME}.yaml`): {n} trials = {n_losses} losses × "
        f"{n_noise} noise settings × {n_seeds} seeds, each seed with its own noise draw "
        "(`noise.seed: trial`), pairs sharing it. ResNet-18 (CIFAR variant) at width "
        f"{spec.base.model.width} on scikit-learn's digits (1,347 training / 450 test images, "
        f"10 classes), the paper's optimiser (SGD {spec.base.optim.lr:g}, momentum "
        f"{spec.base.optim.momentum:g}, wd {spec.base.optim.weight_decay:g}), {sched.epochs} "
        f"epochs, StepLR ×{sched.gamma:g} every {sched.step_size}. Metric: test top-1 error (%) "
        f"averaged over the last {window} epochs (`{METRIC}`); reference: cross entropy; "
        f"smallest gain of interest {spec.analysis.min_effect:g} point.",
        "",
        f"Run on {platform.machine()} ({platform.node()}, 2 cores, no GPU), "
        f"{datetime.now(UTC):%Y-%m-%d}, commit `{commit}`, from a clean clone: "
        "`make venv && /usr/bin/time -v .venv/bin/study run search_spaces/digits_noise.yaml "
        "> study.log 2>&1`, then `.venv/bin/study report digits_noise`; this page: "
        "`.venv/bin/python benchmarks/digits_noise_findings.py WORKDIR` at commit "
        f"`{measuring}` (which also re-ran `study report` and timed it with `study status`).",
        "",
    ]


def answer_lines(reports: Path, spec: Any, work: Path) -> list[str]:
    from findings_methods import claim_lines, method_table

    comp = pd.read_csv(reports / "comparisons.csv")
    trends = pd.read_csv(reports / "trends.csv")
    answer = [line for line in (reports / "answer.txt").read_text().strip().splitlines()
              if not line.startswith("Claim")]  # fmt: skip
    me = spec.analysis.min_effect
    sizes = comp.groupby("family")["family_size"].first().to_dict()
    gains = comp[comp["verdict"] == "gain"]
    return [
        "## The claim",
        "",
        *claim_lines(work, NAME),
        "",
        "## The answer",
        "",
        "Each verdict below is read from its family's simultaneous 95 % interval "
        f"({', '.join(f'{k}: {v} rows' for k, v in sizes.items())}; the report's method: "
        f"{comp['method'].iloc[0]}, docs/analysis.md); `equivalent` means that interval "
        f"lies within ±{me:g} point. Decided rows, the same runs read by each method:",
        "",
        table(method_table(work, NAME)),
        "",
        *[f"* {line}" for line in answer],
        "",
        "**lace (the paper's loss) against cross entropy on digits:** "
        + "; ".join(
            verdict_list(comp[comp["candidate"] == "lace"], v)
            for v in ("gain", "loss", "equivalent")
        )
        + ".",
        "",
        "**How lace's gain changes with the noise rate** (descriptive: slope per 0.1 of rate, "
        f"simultaneous 95 % intervals over {len(trends)} trends): "
        + trend_sentence(trends, "lace")
        + ".",
        "",
        "**Which losses gain, and where:** "
        + (
            "; ".join(
                f"{r['candidate']} at {setting(r)} ({r['gain']:+.2f} [{r['ci_low']:+.2f}, "
                f"{r['ci_high']:+.2f}], {r['family']})"
                for _, r in gains.iterrows()
            )
            or "none"
        )
        + ".",
        "",
        *limits_lines(spec),
    ]


def verdict_list(rows: pd.DataFrame, verdict: str) -> str:
    """`gain in none` or `loss in pairflip 0.2 (−1.59 [−2.28, −0.90])`."""
    chosen = rows[rows["verdict"] == verdict]
    low, high = ("tost_low", "tost_high") if verdict == "equivalent" else ("ci_low", "ci_high")
    items = [f"{setting(r)} ({r['gain']:+.2f} [{r[low]:+.2f}, {r[high]:+.2f}])"
             for _, r in chosen.iterrows()]  # fmt: skip
    return f"{verdict} in {', '.join(items) if items else 'no setting'}"


def setting(row: pd.Series) -> str:
    kind, rate = row["noise.kind"], row["noise.rate"]
    return "no noise" if kind == "none" else f"{kind} {rate:g}"


def limits_lines(spec: Any) -> list[str]:
    epochs = spec.base.schedule.epochs
    params = "; ".join(
        f"{loss['name']}: " + ", ".join(f"{k} = {v:g}" for k, v in loss.items() if k != "name")
        for loss in spec.grid["loss"] if len(loss) > 1
    )  # fmt: skip
    return [
        "### Limits",
        "",
        "Digits is not CIFAR-100: 10 classes of 8×8 images, 1,347 training images, a small "
        f"network trained for {epochs} epochs. What transfers is the *shape* of the answer "
        "(where a loss helps as noise grows), not its size: the paper's claim is about top-5 "
        "error on 100 classes, where top-5 here is near 0. At CIFAR-100 scale, with 200 "
        "epochs, memorisation of noisy labels late in training matters more (the curves stop "
        f"at {epochs} epochs), and the noise-robust losses (gce, sce, nce_rce) are known to "
        "need their hyperparameters tuned per data set; here they run at their authors' "
        f"settings ({params}). With 10 seeds per setting and 42 rows in the family, a row "
        "needs a gain of several sd of its paired differences to be called: `inconclusive` "
        "means the data do not decide, not that the losses are alike. "
        "`search_spaces/noise.yaml` is the same study at the paper's scale (GPU).",
        "",
    ]


def table_lines(reports: Path, spec: Any) -> list[str]:
    comp = pd.read_csv(reports / "comparisons.csv")
    trends = pd.read_csv(reports / "trends.csv")
    trials = pd.read_parquet(reports / "trials.parquet")
    ttt = pd.read_csv(reports / "time_to_target.csv")
    misses = pd.read_csv(reports / "paired_misses.csv")
    cells = comp[["candidate", "family", "noise.kind", "noise.rate", "n_pairs", "n_diverged",
                  "n_diverged_reference", "gain", "ci_low", "ci_high", "verdict"]]  # fmt: skip
    verdicts = comp.groupby(["candidate", "verdict"]).size().unstack(fill_value=0).reset_index()
    means = (
        trials[trials["status"] == "FINISHED"]
        .groupby(["noise.kind", "noise.rate", "loss_label"])[METRIC].mean().reset_index()
        .pivot_table(index=["noise.kind", "noise.rate"], columns="loss_label", values=METRIC)
        .reset_index()
    )  # fmt: skip
    keys = ["noise.kind", "noise.rate"]
    lace_ttt = ttt[ttt["candidate"] == "lace"][[*keys, "gain", "ci_low", "ci_high"]]
    lace_miss = misses[misses["candidate"] == "lace"].drop(columns=["candidate"])
    return [
        "## Per loss × noise setting (paired, 10 seeds; simultaneous intervals)",
        "",
        table(cells),
        "",
        table(verdicts),
        "",
        f"![forest]({NAME}/forest.png)",
        "",
        "## Across the noise settings: trends in the rate (descriptive)",
        "",
        "Per candidate and noise kind: the least-squares slope of the setting gains over the "
        "rates (the no-noise setting shared by both kinds), per 0.1 of rate, a fixed contrast "
        "of the seed-level model's gains with Welch–Satterthwaite df; simultaneous 95 % "
        f"intervals over the {len(trends)} trends. Noise rates are designed settings, so they "
        "are not pooled into one average; no verdict is read from these intervals.",
        "",
        table(trends.drop(columns=["setting"])),
        "",
        f"![gain vs rate]({NAME}/gain_vs_rate.png)",
        "",
        f"## Mean test top-1 error (%) per loss and setting ({spec.grid and len(spec.grid['seed'])}"
        " seeds each)",
        "",
        table(means),
        "",
        "## Memorisation and training curves",
        "",
        f"![memorisation]({NAME}/memorisation.png)",
        "",
        f"![curves]({NAME}/curves.png)",
        "",
        "## Time to target (lace vs ce, descriptive)",
        "",
        "Restricted mean epochs saved to reach, per setting, an error 90 % of the two losses' "
        "trials reach (never reached = budget + 1); simultaneous intervals over the "
        "time-to-target rows. Then who reached it, pair by pair (mid-p McNemar).",
        "",
        table(lace_ttt),
        "",
        table(lace_miss),
        "",
    ]


def convergence_lines(reports: Path, spec: Any) -> list[str]:
    trials = pd.read_parquet(reports / "trials.parquet")
    epochs = pd.read_parquet(reports / "epochs.parquet")
    window = spec.base.eval.final_window
    converged = convergence(trials, epochs, spec.base.schedule.epochs, window)
    top = converged.iloc[0]
    return [
        f"## Convergence: change of the mean test top-1 error over the last {window} epochs",
        "",
        f"The largest change of any loss × setting's mean over its last {window} epochs is "
        f"{converged['change'].abs().max():.2f} points ({top['loss_label']}, "
        f"{top['noise.kind']} {top['noise.rate']:g}); the five largest:",
        "",
        table(converged.head(5)),
    ]


if __name__ == "__main__":
    main()
