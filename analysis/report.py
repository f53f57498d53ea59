"""`study report`: from a study's MLflow runs to a report that answers first.

The page opens with the answers to the study's claims (`analysis.claims`), then the answer in
words per candidate and family (`analysis.answer`) and the forest plot of the simultaneous
intervals it is read from; then the per-setting table, the descriptive summaries across
settings (`analysis.trends` for designed noise settings, `analysis.meta` for exchangeable
axes), time to target (descriptive), means and figures; the methods come last
(`analysis.methods`). One α: the confirmatory family's (every row when the study names no
primary candidates); the exploratory family has its own simultaneous intervals, labelled
exploratory; the rest describes.

Writes to the output folder: `report.html` (self-contained: figures embedded, opens offline),
`report.md` (figures as PNG files beside it), `answer.txt`, `comparisons.csv` (every column),
`claims.csv`, `trends.csv` / `meta_analysis.csv` where they apply, `time_to_target.csv`,
`paired_misses.csv`, `trials.parquet`, `epochs.parquet` (the curves the report uses; every
per-epoch metric with `study report --all-curves`); then logs them as artifacts of the study's
parent run (`report/`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from analysis import plots
from analysis.answer import (
    answer_lines,
    metric_label,
    sequential_lines,
)
from analysis.claims import claim_lines, claim_table
from analysis.effects import is_paper_protocol, replication
from analysis.family import METHOD_NAMES
from analysis.load import StudyRuns, load_decisions, load_study, read_epochs
from analysis.meta import exchangeable, meta_analysis
from analysis.methods import methods
from analysis.render import Section, html_page, markdown, round_table, save_figure
from analysis.report_config import ReportConfig, Settings
from analysis.sections import (
    FIGURE_CURVES,
    Findings,
    across,
    decided,
    figures,
    means,
    per_setting,
)
from analysis.stats import compare
from analysis.time_section import time_to_target_sections
from analysis.trends import noise_trends
from study import contract as c


def build_report(
    tracking_uri: str, experiment: str, out_dir: Path, cfg: ReportConfig, log: bool = True
) -> list[Path]:
    """Load the study, compute the statistics, write every output; returns the files written."""
    study = load_study(tracking_uri, experiment, with_epochs=False)
    settings = cfg.resolved(study.parent["params"])
    # the curves the figures and time to target read: 2-3 of a trial's ~15
    curves = None if cfg.all_curves else {*FIGURE_CURVES, c.epoch_curve(settings.metric)}
    study = replace(study, epochs=read_epochs(tracking_uri, study.trials, curves))
    trials = study.trials
    # the tuning stage of a tune-then-evaluate study is never compared (it saw the holdout)
    finished = (
        trials[(trials["status"] == "FINISHED") & trials["stage"].map(c.compared)]
        if not trials.empty
        else trials
    )
    if finished.empty or settings.metric not in finished:
        raise ValueError(
            f"experiment {experiment!r} has no finished trial with metric {settings.metric!r}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    found = analyse(study, finished, settings, tracking_uri)
    sections = _sections(study, finished, found, settings, out_dir, tracking_uri)
    files = _write_tables(study, found, settings, out_dir)
    files += [out_dir / s.figure for s in sections if s.figure]
    files += [p for p in (out_dir / n for n in ("time_to_target.csv", "paired_misses.csv"))
              if p.is_file()]  # fmt: skip
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


def analyse(study: StudyRuns, finished: pd.DataFrame, cfg: Settings, tracking_uri: str) -> Findings:
    """The per-setting comparisons and claims, the sequential decisions, the descriptive
    summaries across settings."""
    keys = study.cell_keys
    result = compare(
        finished, cfg.metric, cfg.reference, keys, alpha=cfg.alpha, seed=cfg.seed,
        min_effect=cfg.min_effect, n_resamples=cfg.n_resamples, ci_method=cfg.ci_method,
        family_method=cfg.family_method, primary=cfg.primary or None,
    )  # fmt: skip
    comparisons = result.table
    decisions = load_decisions(tracking_uri, study.parent["run_id"])
    if not decisions.empty:  # the sequential verdicts are the study's; no fixed-design ones
        answer = sequential_lines(decisions, cfg.metric, cfg.reference, cfg.min_effect,
                                  cfg.beta_futility)  # fmt: skip
        comparisons["verdict"] = ""
        comparisons["note"] = "sequential study: estimate over all seeds, biased after stopping"
        return Findings(comparisons, decisions, pd.DataFrame(), None, answer)
    trends = noise_trends(comparisons, result.corr, keys, cfg.alpha, cfg.seed)
    pooled = meta_analysis(comparisons, cfg.alpha) if exchangeable(comparisons, keys) else None
    answer = answer_lines(comparisons, keys, cfg.metric, cfg.reference, cfg.min_effect)
    claims = claim_table(comparisons, cfg.claims, keys)
    headline = claim_lines(claims, cfg.metric, cfg.reference)
    return Findings(comparisons, decisions, trends, pooled, answer, claims, headline)


def _write_tables(
    study: StudyRuns, found: Findings, cfg: Settings, out_dir: Path
) -> list[Path]:
    lines = [*_post_hoc(cfg), *found.headline, *found.answer]
    (out_dir / "answer.txt").write_text("\n".join(lines) + "\n")
    files = [out_dir / "answer.txt"]
    tables = {"comparisons.csv": found.comparisons}
    if not found.claims.empty:
        tables["claims.csv"] = found.claims
    if not found.trends.empty:
        tables["trends.csv"] = found.trends
    if found.pooled is not None:
        tables["meta_analysis.csv"] = found.pooled
    for name, frame in tables.items():
        frame.to_csv(out_dir / name, index=False)
        files.append(out_dir / name)
    for name, frame in (("trials", study.trials), ("epochs", study.epochs)):
        frame.to_parquet(out_dir / f"{name}.parquet", index=False)
        files.append(out_dir / f"{name}.parquet")
    return files


def _post_hoc(cfg: Settings) -> list[str]:
    """The report's first line when its confirmatory family is not the study's."""
    if not cfg.post_hoc:
        return []
    return [
        f"Post hoc: this report's confirmatory family ({', '.join(cfg.primary) or 'none'}) "
        f"is not the one the study stated before it ran "
        f"({', '.join(cfg.stated_primary) or 'none'}); its verdicts are exploratory."
    ]


def _header(study: StudyRuns, finished: pd.DataFrame, cfg: Settings) -> list[str]:
    n_all, n_ok = len(study.trials), len(finished)
    return [
        *_post_hoc(cfg),
        f"Experiment {study.experiment} (parent run {study.parent['run_id']}), generated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. {n_ok} finished trials of {n_all} tracked; "
        f"losses {', '.join(sorted(finished['loss_label'].unique()))}; "
        + (f"settings by {', '.join(study.cell_keys)}." if study.cell_keys else "one setting."),
        f"Metric: {metric_label(cfg.metric)} ({cfg.metric}); reference: {cfg.reference}; "
        f"gain > 0: the candidate is better; smallest gain of interest ±{cfg.min_effect:g}.",
    ]


def _rows(n: int) -> str:
    return f"{int(n)} row{'s' if int(n) != 1 else ''}"


def _claims(found: Findings, cfg: Settings) -> list[Section]:
    """What the study set out to test, answered first."""
    if not cfg.claims:
        return []
    if not found.decisions.empty:
        return [Section("The claims", "A sequential study answers its comparisons by its "
                        "own decisions below; claims are answered in fixed-design studies.")]
    return [Section(
        "The claims",
        f"Each claim is answered from its row's simultaneous {100 * (1 - cfg.alpha):g} % "
        "interval in the confirmatory family: supported (excludes 0, not below the claim), "
        "smaller than claimed (excludes 0, below the claim), not supported (excludes the "
        "claim and includes 0, or below 0), undecided (includes both).",
        bullets=found.headline,
    )]


def _answer(found: Findings, cfg: Settings, keys: list[str], out_dir: Path) -> list[Section]:
    comp = found.comparisons
    sizes = comp.groupby("family")["family_size"].max().to_dict() if len(comp) else {}
    families = "; ".join(f"{k} family of {_rows(v)}" if k != "all" else _rows(v)
                         for k, v in sizes.items())  # fmt: skip
    text = (
        f"Each verdict is read from its family's simultaneous {100 * (1 - cfg.alpha):g} % "
        f"interval printed beside it ({families}; {METHOD_NAMES[cfg.family_method]}); an "
        "equivalent from its TOST interval; methods at the end."
    )
    if not found.decisions.empty:
        text = (
            "Verdicts of the sequential design (repeated confidence intervals at the look "
            "where each comparison stopped; methods at the end)."
        )
    if cfg.selects_on_test:
        text = (
            "This study selects on the test set (an epoch, or a learning-rate restart, chosen "
            "by test accuracy), as the published protocol it reproduces does: its errors are "
            "optimistic and its verdicts describe that method, not a fair comparison. " + text
        )
    if found.decisions.empty:
        forest = plots.forest(comp, keys, cfg.metric, found.pooled, cfg.min_effect)
    else:
        forest = plots.forest(
            decided(found.decisions),
            ["setting"],
            cfg.metric,
            None,
            cfg.min_effect,
            "repeated confidence interval at the stopping look",
        )
    name, png = save_figure(out_dir, 1, forest)
    return [Section("The answer", text, bullets=found.answer, figure=name, figure_png=png)]


def _sections(
    study: StudyRuns,
    finished: pd.DataFrame,
    found: Findings,
    cfg: Settings,
    out_dir: Path,
    tracking_uri: str,
) -> list[Section]:
    keys = study.cell_keys
    sections = _claims(found, cfg) + _answer(found, cfg, keys, out_dir)
    sections += per_setting(found, keys)
    sections += across(found, cfg.alpha)
    if found.decisions.empty:  # early-stopped data carry no fixed-design summaries
        sections += time_to_target_sections(study, finished, cfg, out_dir)
    sections.append(means(finished, keys, cfg.metric))
    if is_paper_protocol(finished):
        sections.append(
            Section(
                "Replication of the paper's Table 1",
                "Top-5 error averaged over the last 11 epochs (190–200), our trials against the "
                "published mean ± std (5 trials each); 95 % t-interval of our mean.",
                round_table(replication(finished)),
            )
        )
    sections += figures(study, finished, found, keys, out_dir, tracking_uri)
    sections.append(methods(cfg, found.comparisons, len(found.trends),
                            not found.decisions.empty))  # fmt: skip
    return sections
