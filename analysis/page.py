"""The report's page: its header and its sections in order, from the findings (pure: the
figures come back as PNG bytes inside their sections; `analysis.report` writes the files).

The page opens with the answers to the study's claims (`analysis.claims`), then the answer in
words per candidate and family (`analysis.answer`) and the forest plot of the simultaneous
intervals it is read from; then the per-setting table, the descriptive summaries across
settings (`analysis.trends` for designed noise settings, `analysis.meta` for exchangeable
axes), time to target (descriptive), means and figures; the methods come last
(`analysis.methods`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from analysis import plots
from analysis.answer import metric_label
from analysis.effects import is_paper_protocol, replication
from analysis.family import METHOD_NAMES
from analysis.hardware import kinds, recorded
from analysis.load import StudyRuns
from analysis.methods import methods
from analysis.render import Section, figure_png, round_table
from analysis.report_config import Settings
from analysis.sections import Findings, across, decided, figures, means, per_setting
from analysis.time_section import time_to_target_sections


def post_hoc(cfg: Settings) -> list[str]:
    """The report's first line when its confirmatory family is not the study's."""
    if not cfg.post_hoc:
        return []
    return [
        f"Post hoc: this report's confirmatory family ({', '.join(cfg.primary) or 'none'}) "
        f"is not the one the study stated before it ran "
        f"({', '.join(cfg.stated_primary) or 'none'}); its verdicts are exploratory."
    ]


def header(study: StudyRuns, finished: pd.DataFrame, cfg: Settings) -> list[str]:
    n_all, n_ok = len(study.trials), len(finished)
    return [
        *post_hoc(cfg),
        f"Experiment {study.experiment} (parent run {study.parent['run_id']}), generated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. {n_ok} finished trials of {n_all} tracked; "
        f"losses {', '.join(sorted(finished['loss_label'].unique()))}; "
        + (f"settings by {', '.join(keys)}." if (keys := study.setting_keys) else "one setting."),
        f"Metric: {metric_label(cfg.metric)} ({cfg.metric}); reference: {cfg.reference}; "
        f"gain > 0: the candidate is better; smallest gain of interest ±{cfg.min_effect:g}.",
        *_hardware(finished, cfg),
    ]


def _hardware(finished: pd.DataFrame, cfg: Settings) -> list[str]:
    """What the finished trials ran on (where their runs say), and how pairs were formed."""
    if not recorded(finished):
        return []
    found = "; ".join(f"{k} ({n} trials)" for k, n in kinds(finished).items())
    how = ("pairs only within one kind of hardware (analysis.pair_on: hardware)"
           if cfg.pair_on == "hardware" else
           "a comparison whose pairs ran on two kinds says so beside its verdict")  # fmt: skip
    return [f"Hardware: {found}; {how}."]


def _rows(n: int) -> str:
    return f"{int(n)} row{'s' if int(n) != 1 else ''}"


def _claims(found: Findings, cfg: Settings) -> list[Section]:
    """What the study set out to test, answered first."""
    if not cfg.claims:
        return []
    if not found.decisions.empty:
        return [
            Section(
                "The claims",
                "A sequential study answers its comparisons by its "
                "own decisions below; claims are answered in fixed-design studies.",
            )
        ]
    return [
        Section(
            "The claims",
            f"Each claim is answered from its row's simultaneous {100 * (1 - cfg.alpha):g} % "
            "interval in the confirmatory family: supported (excludes 0, not below the claim), "
            "smaller than claimed (excludes 0, below the claim), not supported (excludes the "
            "claim and includes 0, or below 0), undecided (includes both).",
            bullets=found.headline,
        )
    ]


def _answer(found: Findings, cfg: Settings, keys: list[str]) -> list[Section]:
    comp = found.comparisons
    sizes = comp.groupby("family")["family_size"].max().to_dict() if len(comp) else {}
    families = "; ".join(f"{k} family of {_rows(v)}" if k != "all" else _rows(v)
                         for k, v in sizes.items())  # fmt: skip
    method = comp["method"].iloc[0] if "method" in comp and len(comp) else (
        METHOD_NAMES[cfg.family_method])  # fmt: skip
    text = (
        f"Each verdict is read from its family's simultaneous {100 * (1 - cfg.alpha):g} % "
        f"interval printed beside it ({families}; {method}); an "
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
    name, png = figure_png(1, forest)
    return [Section("The answer", text, bullets=found.answer, figure=name, figure_png=png)]


def sections(
    study: StudyRuns, finished: pd.DataFrame, found: Findings, cfg: Settings
) -> list[Section]:
    """The page's sections, in order."""
    keys = study.setting_keys
    sections = _claims(found, cfg) + _answer(found, cfg, keys)
    sections += per_setting(found, keys)
    sections += across(found, cfg.alpha)
    if found.decisions.empty:  # early-stopped data carry no fixed-design summaries
        sections += time_to_target_sections(found.time_rows, found.misses, keys, cfg)
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
    sections += figures(study, finished, found, keys)
    sections.append(methods(cfg, found.comparisons, len(found.trends),
                            not found.decisions.empty))  # fmt: skip
    return sections
