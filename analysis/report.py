"""`study report`: from a study's MLflow runs to a report a reviewer can check.

Writes to the output folder: `report.html` (self-contained: figures embedded, opens offline),
`report.md` (with the figures as PNG files beside it), `comparisons.csv`, `trials.parquet`,
`epochs.parquet`; then logs them as artifacts of the study's parent run (`report/`).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import plots
from analysis.load import StudyRuns, load_study
from analysis.stats import (
    META_METHOD,
    compare_losses,
    gain_model,
    meta_analysis,
    paired_differences,
    replication,
)
from analysis.targets import epoch_curve, never_reached, time_to_target


@dataclass(frozen=True)
class ReportConfig:
    """None = the study's own `analysis` section (recorded on its parent run), else the
    defaults: final_paper_top5_error, reference ce, smallest gain of interest 0.5."""

    metric: str | None = None
    reference: str | None = None
    alpha: float = 0.05
    min_effect: float | None = None
    seed: int = 0
    n_resamples: int = 9999
    ci_method: str = "t"

    def resolved(self, parent_params: dict[str, str]) -> Settings:
        def pick(value: object, key: str, default: object) -> str:
            chosen = value if value is not None else parent_params.get(f"analysis.{key}", default)
            return str(chosen)

        return Settings(
            metric=pick(self.metric, "metric", "final_paper_top5_error"),
            reference=pick(self.reference, "reference", "ce"),
            alpha=self.alpha,
            min_effect=float(pick(self.min_effect, "min_effect", 0.5)),
            seed=self.seed,
            n_resamples=self.n_resamples,
            ci_method=self.ci_method,
        )


@dataclass(frozen=True)
class Settings:
    """A `ReportConfig` with every choice made."""

    metric: str
    reference: str
    alpha: float
    min_effect: float
    seed: int
    n_resamples: int
    ci_method: str


@dataclass
class Section:
    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    figure: str | None = None  # file name of a PNG in the output folder
    figure_png: bytes = b""
    extra: list[str] = field(default_factory=list)


def build_report(
    tracking_uri: str, experiment: str, out_dir: Path, cfg: ReportConfig, log: bool = True
) -> list[Path]:
    """Load the study, compute the statistics, write every output; returns the files written."""
    study = load_study(tracking_uri, experiment)
    settings = cfg.resolved(study.parent["params"])
    trials = study.trials
    # the tuning stage of a tune-then-evaluate study is never compared (it saw the holdout)
    finished = (
        trials[(trials["status"] == "FINISHED") & (trials["stage"] != "tune")]
        if not trials.empty
        else trials
    )
    if finished.empty or settings.metric not in finished:
        raise ValueError(
            f"experiment {experiment!r} has no finished trial with metric {settings.metric!r}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    comparisons = compare_losses(
        finished,
        settings.metric,
        settings.reference,
        study.cell_keys,
        alpha=settings.alpha,
        seed=settings.seed,
        min_effect=settings.min_effect,
        n_resamples=settings.n_resamples,
        ci_method=settings.ci_method,
    )
    meta = meta_analysis(comparisons, settings.alpha)
    sections = _sections(study, finished, comparisons, meta, settings, out_dir, tracking_uri)
    files = [
        _write_table(comparisons, out_dir / "comparisons.csv"),
        _write_table(meta, out_dir / "meta_analysis.csv"),
        _write_parquet(study.trials, out_dir / "trials.parquet"),
        _write_parquet(study.epochs, out_dir / "epochs.parquet"),
    ]
    files += [out_dir / s.figure for s in sections if s.figure]
    files += [p for p in [out_dir / "time_to_target.csv"] if p.is_file()]
    header = _header(study, finished, settings)
    (out_dir / "report.md").write_text(_markdown(header, sections))
    (out_dir / "report.html").write_text(_html(header, sections, experiment))
    files += [out_dir / "report.md", out_dir / "report.html"]
    if log:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=tracking_uri)
        for path in files:
            client.log_artifact(study.parent["run_id"], str(path), artifact_path="report")
    return files


def _header(study: StudyRuns, finished: pd.DataFrame, cfg: Settings) -> list[str]:
    n_all, n_ok = len(study.trials), len(finished)
    seeds = sorted(finished["seed"].unique().tolist()) if "seed" in finished else []
    return [
        f"Experiment `{study.experiment}` (parent run `{study.parent['run_id']}`), "
        f"generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        f"Trials: {n_ok} finished of {n_all} tracked; losses: "
        f"{', '.join(sorted(finished['loss_label'].unique()))}; seeds: {seeds}; "
        f"cells (grid axes other than loss and seed): {', '.join(study.cell_keys) or 'none'}.",
        f"Metric: `{cfg.metric}`; reference loss: `{cfg.reference}`. Gain = reference − "
        f"candidate for errors, NLL, ECE and Brier (positive: the candidate is better).",
        "Tests: pairs are the candidate and the reference at the same cell and seed (same init, "
        "batches and noisy labels). Mean paired gain with a 95 % "
        + _ci_text(cfg)
        + "; paired t-test "
        "(`p_t`); Wilcoxon signed-rank (`p_wilcoxon`, exact: with 5 pairs its smallest "
        "two-sided p is 0.0625, so it cannot reach 0.05 at n = 5); Holm (family-wise) and "
        "Benjamini–Hochberg (screening) corrections of `p_t` over every row "
        "(statsmodels multipletests, methods 'holm' and 'fdr_bh'); probability of improvement "
        "with a Wilson interval; Cohen's d_z; `mde`: the smallest gain detectable at "
        f"α = {cfg.alpha} with power 0.8 (noncentral t) given the observed spread and n.",
        f"Verdict: `gain`/`loss` when p_holm < {cfg.alpha} and the CI excludes 0; otherwise "
        f"`no detectable difference` if mde ≤ {cfg.min_effect} (the smallest gain of interest, "
        "in the metric's units; 0.5 = the paper's claimed top-5 gain), else `underpowered`. "
        "Rows with unmatched seeds use Welch's t-test and say so in `note`. Validity: see "
        "docs/analysis.md (the t interval covers 95 % at n = 3–10 for normal differences; "
        "heavy-tailed or skewed differences are discussed there).",
    ]


def _ci_text(cfg: Settings) -> str:
    if cfg.ci_method == "t":
        return "paired t confidence interval (`ci_method` t; Welch's for unmatched rows)"
    return (
        f"{cfg.ci_method} bootstrap CI (scipy.stats.bootstrap, {cfg.n_resamples} resamples, "
        f"seed {cfg.seed}; bootstrap intervals undercover at 5–10 pairs, see docs/analysis.md)"
    )


def _sections(
    study: StudyRuns,
    finished: pd.DataFrame,
    comparisons: pd.DataFrame,
    meta: pd.DataFrame,
    cfg: Settings,
    out_dir: Path,
    tracking_uri: str,
) -> list[Section]:
    keys = study.cell_keys
    forest = _figure(out_dir, 1, plots.forest(comparisons, keys, cfg.metric, meta))
    sections = [
        Section(
            "Across cells: does the gain hold beyond one setting?",
            f"Per candidate, over its {', '.join(keys) or 'single'} cell(s): {META_METHOD} "
            "(statsmodels combine_effects) of the per-cell mean gains; `tau2` between-cell "
            "variance of the true gain, `i2` its share of the spread; `pred_low`..`pred_high`: "
            "95 % prediction interval of the gain in a new cell (Higgins et al. 2009, k ≥ 3); "
            "`share_cells_ci_above_0`: cells whose own CI is above 0; `prob_improvement`: "
            "share of all pairs where the candidate wins, with a Wilson interval. The figure: "
            "every cell, then each candidate's pooled gain (diamond) and prediction interval.",
            _round(meta),
            *forest,
        ),
        Section(
            "Verdicts per cell",
            f"n = number of matched pairs per row; {len(comparisons)} rows.",
            _round(comparisons),
        ),
    ]
    summary = (
        finished.groupby(["loss_label", *keys], dropna=False)[cfg.metric]
        .agg(["count", "mean", "std"])
        .reset_index()
        .rename(columns={"count": "n"})
    )
    sections.append(
        Section("Per loss and cell", f"`{cfg.metric}`, mean ± std over seeds.", _round(summary))
    )
    pairs = paired_differences(finished, cfg.metric, cfg.reference, keys)
    model = gain_model(pairs, keys) if keys else pd.DataFrame()
    if not model.empty:
        sections.append(
            Section(
                "Does the gain depend on the cell?",
                "OLS of the paired gain on the cell keys (numeric keys linear, text keys as "
                "categories, noise kind × rate interaction), HC3 robust standard errors, per "
                "candidate.",
                _round(model),
            )
        )
    if _is_paper_protocol(finished):
        sections.append(
            Section(
                "Replication of the paper's Table 1",
                "Top-5 error averaged over the last 11 epochs (190–200), our trials against the "
                "published mean ± std (5 trials each); 95 % t-interval of our mean.",
                _round(replication(finished)),
            )
        )
    sections += _time_to_target(study, finished, cfg, out_dir)
    memorised = plots.curves(study.epochs, finished, keys, "train_noisy_memorized", accuracy=False)
    figures = [
        (
            "Test accuracy per epoch (mean ± std over seeds)",
            plots.curves(study.epochs, finished, keys),
        ),
        ("Gain against noise rate", plots.gain_vs_rate(comparisons)),
        ("Memorisation of flipped labels (share predicted as the noisy label)", memorised),
        (
            "Reliability (test set, last epoch, pooled)",
            plots.reliability(_bins(tracking_uri, finished)),
        ),
    ]
    for i, (title, fig) in enumerate(figures):
        name, png = _figure(out_dir, i + 2, fig)
        if name:
            sections.append(Section(title, figure=name, figure_png=png))
    return sections


def _figure(out_dir: Path, index: int, fig: plots.Figure | None) -> tuple[str | None, bytes]:
    """Save `fig` as `figure_<index>.png`: (file name, PNG bytes), or (None, b"") for none."""
    if fig is None:
        return None, b""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plots.plt.close(fig)
    name = f"figure_{index}.png"
    (out_dir / name).write_bytes(buf.getvalue())
    return name, buf.getvalue()


def _time_to_target(
    study: StudyRuns, finished: pd.DataFrame, cfg: Settings, out_dir: Path
) -> list[Section]:
    """Epochs to reach the reference's median final value, compared like any metric."""
    curve = epoch_curve(cfg.metric)
    if study.epochs.empty or curve not in set(study.epochs["metric"]):
        return []
    keys = study.cell_keys
    reached = time_to_target(study.epochs, finished, cfg.metric, cfg.reference, keys)
    if reached["target"].isna().all():
        return []
    rows = compare_losses(
        reached, "epochs_to_target", cfg.reference, keys, alpha=cfg.alpha, seed=cfg.seed,
        min_effect=1.0, higher_better=False, ci_method=cfg.ci_method,
    )  # fmt: skip
    _write_table(rows, out_dir / "time_to_target.csv")
    text = (
        f"Epochs until `{curve}` first reaches the target: per cell, the median final "
        f"`{cfg.metric}` of `{cfg.reference}` (MLCommons AlgoPerf's time-to-target). A trial "
        "that never reaches it counts as budget + 1 epochs (right-censored, conservative for "
        "the loss that misses more often; counts below). Gain = epochs saved by the candidate; "
        "`no detectable difference` means the study could detect a 1-epoch difference."
    )
    return [
        Section("Time to target", text, _round(rows)),
        Section("Time to target: never reached", "", _round(never_reached(reached, keys))),
    ]


def _bins(tracking_uri: str, finished: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Reliability bins pooled per loss from each trial's `reliability_test.json` artifact."""
    import os

    from mlflow.tracking import MlflowClient

    if finished.empty:
        return {}
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per trial
    client = MlflowClient(tracking_uri=tracking_uri)
    out: dict[str, dict[str, np.ndarray]] = {}
    for _, row in finished.iterrows():
        try:
            text = client.download_artifacts(row["run_id"], "reliability_test.json")
        except Exception:  # older runs, or a store without that artifact
            continue
        b = json.loads(Path(text).read_text())
        count = np.asarray(b["count"], float)
        zeros = np.zeros_like(count)
        acc = out.setdefault(
            row["loss_label"], {"n": zeros, "conf": zeros.copy(), "hit": zeros.copy()}
        )
        acc["n"] += count
        acc["conf"] += count * np.asarray(b["confidence"])
        acc["hit"] += count * np.asarray(b["accuracy"])
    return {
        loss: {
            "count": a["n"],
            "confidence": a["conf"] / np.maximum(a["n"], 1),
            "accuracy": a["hit"] / np.maximum(a["n"], 1),
        }
        for loss, a in out.items()
    }


def _is_paper_protocol(trials: pd.DataFrame) -> bool:
    expected = {
        "data.name": "cifar100", "model.width": 64, "schedule.epochs": 200,
        "schedule.batch_size": 100, "optim.lr": 0.1, "noise.kind": "none",
    }  # fmt: skip
    return all(k in trials and (trials[k] == v).all() for k, v in expected.items())


def _round(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].map(lambda v: v if not math.isfinite(v) else float(f"{v:.4g}"))
    return out


def _write_table(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def _write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False)
    return path


def _markdown(header: list[str], sections: list[Section]) -> str:
    lines = ["# lossbench report", "", *[f"{h}\n" for h in header]]
    for s in sections:
        lines += [f"## {s.title}", ""]
        if s.text:
            lines += [s.text, ""]
        if s.table is not None:
            lines += [_markdown_table(s.table), ""]
        if s.figure:
            lines += [f"![{s.title}]({s.figure})", ""]
    return "\n".join(lines)


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        return text.replace("|", "\\|")

    head = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _html(header: list[str], sections: list[Section], experiment: str) -> str:
    body = [f"<h1>lossbench report: {html.escape(experiment)}</h1>"]
    body += [f"<p>{html.escape(h)}</p>" for h in header]
    for s in sections:
        body.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.text:
            body.append(f"<p>{html.escape(s.text)}</p>")
        if s.table is not None:
            body.append(s.table.to_html(index=False, border=0, classes="t", na_rep=""))
        if s.figure_png:
            data = base64.b64encode(s.figure_png).decode()
            body.append(f'<img alt="{html.escape(s.title)}" src="data:image/png;base64,{data}">')
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
        "table.t{border-collapse:collapse;font-size:12px}table.t td,table.t th{padding:2px 6px;"
        "border-bottom:1px solid #ddd;text-align:right}img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>lossbench: "
        f"{html.escape(experiment)}</title><style>{style}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )


def render_text(frame: pd.DataFrame) -> str:
    """Plain-text table for the terminal."""
    return _round(frame).to_string(index=False)
