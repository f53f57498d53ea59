"""`study report`: from a study's MLflow runs to a report a reviewer can check.

Writes to the output folder: `report.html` (self-contained: figures embedded, opens offline),
`report.md` (with the figures as PNG files beside it), `comparisons.csv`, `trials.parquet`,
`epochs.parquet`; then logs them as artifacts of the study's parent run (`report/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from analysis import plots
from analysis.effects import gain_model, is_paper_protocol, paired_differences, replication
from analysis.load import StudyRuns, load_decisions, load_reliability_bins, load_study
from analysis.meta import META_METHOD, meta_analysis
from analysis.render import (
    Section,
    html_page,
    markdown,
    round_table,
    save_figure,
    write_parquet,
    write_table,
)
from analysis.stats import compare_losses
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
        write_table(comparisons, out_dir / "comparisons.csv"),
        write_table(meta, out_dir / "meta_analysis.csv"),
        write_parquet(study.trials, out_dir / "trials.parquet"),
        write_parquet(study.epochs, out_dir / "epochs.parquet"),
    ]
    files += [out_dir / s.figure for s in sections if s.figure]
    files += [p for p in [out_dir / "time_to_target.csv"] if p.is_file()]
    header = _header(study, finished, settings)
    (out_dir / "report.md").write_text(markdown(header, sections))
    (out_dir / "report.html").write_text(html_page(header, sections, experiment))
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


def _sequential(study: StudyRuns, tracking_uri: str) -> list[Section]:
    decisions = load_decisions(tracking_uri, study.parent["run_id"])
    if decisions.empty:
        return []
    return [
        Section(
            "Sequential decisions (adaptive seeding)",
            "Each comparison was analysed at every look until decided (analysis/sequential.py: "
            "group-sequential paired t-test, O'Brien-Fleming-type alpha spending, family-wise "
            "over all comparisons and looks). `look`: seeds when decided; `boundary`: the one "
            "it crossed; `gain`/`loss`: the repeated CI `ci_low`..`ci_high` excludes 0; "
            "`futile`: |mean| + the futility quantile x se (`futility_bound`) fell below "
            "min_effect, or the last look came without a gain or loss. The tables below use "
            "every seed each comparison ran and ignore the optional stopping: for these "
            "comparisons the decision here is the valid verdict.",
            round_table(decisions),
        )
    ]


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
    forest = save_figure(out_dir, 1, plots.forest(comparisons, keys, cfg.metric, meta))
    sections = _sequential(study, tracking_uri)
    sections += [
        Section(
            "Across cells: does the gain hold beyond one setting?",
            f"Per candidate, over its {', '.join(keys) or 'single'} cell(s): {META_METHOD} "
            "(statsmodels combine_effects) of the per-cell mean gains; `tau2` between-cell "
            "variance of the true gain, `i2` its share of the spread; `pred_low`..`pred_high`: "
            "95 % prediction interval of the gain in a new cell (Higgins et al. 2009, k ≥ 3); "
            "`share_cells_ci_above_0`: cells whose own CI is above 0; `prob_improvement`: "
            "share of all pairs where the candidate wins, with a Wilson interval. The figure: "
            "every cell, then each candidate's pooled gain (diamond) and prediction interval.",
            round_table(meta),
            *forest,
        ),
        Section(
            "Verdicts per cell",
            f"n = number of matched pairs per row; {len(comparisons)} rows.",
            round_table(comparisons),
        ),
    ]
    summary = (
        finished.groupby(["loss_label", *keys], dropna=False)[cfg.metric]
        .agg(["count", "mean", "std"])
        .reset_index()
        .rename(columns={"count": "n"})
    )
    sections.append(
        Section(
            "Per loss and cell", f"`{cfg.metric}`, mean ± std over seeds.", round_table(summary)
        )
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
                round_table(model),
            )
        )
    if is_paper_protocol(finished):
        sections.append(
            Section(
                "Replication of the paper's Table 1",
                "Top-5 error averaged over the last 11 epochs (190–200), our trials against the "
                "published mean ± std (5 trials each); 95 % t-interval of our mean.",
                round_table(replication(finished)),
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
            plots.reliability(load_reliability_bins(tracking_uri, finished)),
        ),
    ]
    for i, (title, fig) in enumerate(figures):
        name, png = save_figure(out_dir, i + 2, fig)
        if name:
            sections.append(Section(title, figure=name, figure_png=png))
    return sections


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
    write_table(rows, out_dir / "time_to_target.csv")
    text = (
        f"Epochs until `{curve}` first reaches the target: per cell, the median final "
        f"`{cfg.metric}` of `{cfg.reference}` (MLCommons AlgoPerf's time-to-target). A trial "
        "that never reaches it counts as budget + 1 epochs (right-censored, conservative for "
        "the loss that misses more often; counts below). Gain = epochs saved by the candidate; "
        "`no detectable difference` means the study could detect a 1-epoch difference."
    )
    return [
        Section("Time to target", text, round_table(rows)),
        Section("Time to target: never reached", "", round_table(never_reached(reached, keys))),
    ]


