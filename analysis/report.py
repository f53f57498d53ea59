"""`study report`: from a study's MLflow runs to a report that answers first, in one direction:
load (`analysis.load`: the study in one pass, curves and files included) → analyse (pure:
one `Findings`) → render (the page of `analysis.page` as markdown and HTML, the tables as
CSV and Parquet, the figures as PNG: name → bytes) → write them to the output folder and log
them on the study's parent run (`report/`, through `study.store`).

One α: the confirmatory family's (every row when the study names no primary candidates); the
exploratory family has its own simultaneous intervals, labelled exploratory; the rest
describes.

The files: `report.html` (self-contained: figures embedded, opens offline), `report.md`
(figures as PNG files beside it), `answer.txt`, `comparisons.csv` (every column),
`claims.csv`, `trends.csv` / `meta_analysis.csv` where they apply, `time_to_target.csv`,
`paired_misses.csv`, `trials.parquet`, `epochs.parquet` (the curves the report uses; every
per-epoch metric with `study report --all-curves`); with `--latex`, `comparisons.tex`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import page
from analysis.answer import answer_lines, sequential_lines
from analysis.claims import claim_lines, claim_table
from analysis.hardware import PAIR_COLUMN, hardware_pairs, mixed_pairs, recorded
from analysis.latex import comparisons_tex
from analysis.load import StudyRuns, load_study
from analysis.meta import exchangeable, meta_analysis
from analysis.render import html_page, markdown
from analysis.report_config import ReportConfig, Settings
from analysis.sections import FIGURE_CURVES, Findings
from analysis.stats import compare
from analysis.time_section import time_findings
from analysis.trends import noise_trends
from study import contract as c
from study.store import open_store


@dataclass(frozen=True)
class Report:
    """A written report: what it found, how it was asked, and the files it wrote."""

    findings: Findings
    settings: Settings
    setting_keys: list[str]
    files: list[Path]


def build_report(
    tracking_uri: str, experiment: str, out_dir: Path, cfg: ReportConfig, log: bool = True
) -> Report:
    """Load the study, analyse it, render and write every output (and log them on the parent
    run unless `log=False`)."""
    study, finished, found, settings = study_findings(tracking_uri, experiment, cfg)
    rendered = render(study, finished, found, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in rendered.items():
        (out_dir / name).write_bytes(data)
    if log:
        store = open_store(tracking_uri)
        for name, data in rendered.items():
            store.log_file(study.parent["run_id"], None, name, data, c.REPORT_FOLDER)
    return Report(found, settings, study.setting_keys, [out_dir / n for n in rendered])


def study_findings(
    tracking_uri: str, experiment: str, cfg: ReportConfig
) -> tuple[StudyRuns, pd.DataFrame, Findings, Settings]:
    """The study loaded in one pass, its finished compared trials, what the analysis finds,
    and the settings it was read with."""
    study = load_study(tracking_uri, experiment, curves=_curves(cfg))
    settings = cfg.resolved(study.spec)
    finished = compared_finished(study.trials)
    if finished.empty or settings.metric not in finished:
        raise ValueError(
            f"experiment {experiment!r} has no finished trial with metric {settings.metric!r}"
        )
    return study, finished, analyse(study, finished, settings), settings


def _curves(cfg: ReportConfig) -> Any:
    """The curves the report reads, given the stored spec: the figures' and the metric's
    (2-3 of a trial's ~15), or every one."""
    if cfg.all_curves:
        return None
    return lambda spec: {*FIGURE_CURVES, c.epoch_curve(cfg.resolved(spec).metric)}


def compared_finished(trials: pd.DataFrame) -> pd.DataFrame:
    """The finished trials of the compared stages (a tune-then-evaluate study's tuning stage
    saw the holdout and is never compared)."""
    if trials.empty:
        return trials
    return trials[(trials["status"] == "FINISHED") & trials["stage"].map(c.compared)]


def analyse(study: StudyRuns, finished: pd.DataFrame, cfg: Settings) -> Findings:
    """The per-setting comparisons and claims, the sequential decisions, the descriptive
    summaries across settings, time to target."""
    keys = study.setting_keys
    paired, pair_key = (hardware_pairs(finished), PAIR_COLUMN) if cfg.pair_on == "hardware" \
        else (finished, "seed")  # fmt: skip
    result = compare(
        paired, cfg.metric, cfg.reference, keys, pair_key=pair_key, alpha=cfg.alpha,
        seed=cfg.seed, min_effect=cfg.min_effect, n_resamples=cfg.n_resamples,
        ci_method=cfg.ci_method, family_method=cfg.family_method, primary=cfg.primary or None,
    )  # fmt: skip
    comparisons, decisions = with_hardware(result.table, finished, cfg, keys), study.decisions
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
    time_rows, misses = time_findings(study, finished, cfg)
    return Findings(comparisons, decisions, trends, pooled, answer, claims, headline,
                    time_rows, misses)  # fmt: skip


def with_hardware(
    comparisons: pd.DataFrame, finished: pd.DataFrame, cfg: Settings, keys: list[str]
) -> pd.DataFrame:
    """Where the trials say what they ran on: each row's pairs across two kinds of hardware
    (`mixed_hardware_pairs`), said in its note."""
    if not recorded(finished):
        return comparisons
    mixed = mixed_pairs(finished, comparisons, cfg.reference, keys)
    out = comparisons.assign(mixed_hardware_pairs=mixed)
    said = [f"{m} of {n} pairs ran on two kinds of hardware" if m else ""
            for m, n in zip(mixed, out["n_pairs"], strict=True)]  # fmt: skip
    note = out["note"].fillna("") if "note" in out else pd.Series("", index=out.index)
    out["note"] = [f"{a}; {b}" if a and b else a or b for a, b in zip(note, said, strict=True)]
    return out


def render(
    study: StudyRuns, finished: pd.DataFrame, found: Findings, cfg: Settings
) -> dict[str, bytes]:
    """Every file of the report, by name."""
    sections = page.sections(study, finished, found, cfg)
    header = page.header(study, finished, cfg)
    lines = [*page.post_hoc(cfg), *found.headline, *found.answer]
    files = {"answer.txt": ("\n".join(lines) + "\n").encode()}
    files |= {name: _csv(frame) for name, frame in tables(found).items()}
    files |= {f"{n}.parquet": _parquet(f) for n, f in (("trials", study.trials),
                                                      ("epochs", study.epochs))}  # fmt: skip
    files |= {s.figure: s.figure_png for s in sections if s.figure}
    if cfg.latex:
        files["comparisons.tex"] = comparisons_tex(found, cfg, study.setting_keys).encode()
    files[c.REPORT_MD] = markdown(header, sections).encode()
    files[c.REPORT_HTML] = html_page(header, sections, study.experiment).encode()
    return files


def tables(found: Findings) -> Mapping[str, pd.DataFrame]:
    """The report's tables by file name: those that apply to this study."""
    out = {c.COMPARISONS_CSV: found.comparisons}
    shown = {"claims.csv": not found.claims.empty, "trends.csv": not found.trends.empty,
             "meta_analysis.csv": found.pooled is not None,
             "time_to_target.csv": not found.time_rows.empty,
             "paired_misses.csv": not found.time_rows.empty}  # fmt: skip
    frames = {"claims.csv": found.claims, "trends.csv": found.trends,
              "meta_analysis.csv": found.pooled, "time_to_target.csv": found.time_rows,
              "paired_misses.csv": found.misses}  # fmt: skip
    out |= {name: frames[name] for name, show in shown.items() if show}
    return out


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()
