"""What a study will cost before anything runs (`study plan`): trials, epochs, images and hours per
stage, from each stage's `cost` (`study.orchestration.stages`) and the data registry's split sizes
(no data is read), and the wall time of a CPU study on this machine."""

from __future__ import annotations

import os
from typing import Any

from study.orchestration.spec.model import StudySpec
from study.orchestration.stages import study_stages
from study.training.config import TrialConfig
from study.training.data.registry import DATASETS

ASSUMED_IMAGES_PER_SECOND = 4000.0  # per trial at its GPU share when the YAML gives none
# Trials per study each Optuna sampler is documented for (Optuna's sampler comparison table:
# TPE 100-1,000; GP-based up to a few hundred); the random sampler has no such bound
SAMPLER_RANGE = {"tpe": 1000, "gp": 300}
OVERHEAD_S_PER_TRIAL = 0.44  # scheduling + tracking, `study bench scheduling` (README)


def images_per_trial(cfg: TrialConfig, max_epochs: int | None = None) -> float:
    """Images a trial pushes through the network, evaluation counted at 1/3 (forward only)."""
    source = DATASETS.get(cfg.data.name)
    n_train = min(cfg.data.n_train or source.n_train, source.n_train)
    n_test = min(cfg.data.n_test or source.n_test, source.n_test)
    n_val = round(n_train * cfg.data.val_fraction)
    n_fit = n_train - n_val
    epochs = min(cfg.schedule.epochs, max_epochs or cfg.schedule.epochs)
    memorisation_passes = epochs // cfg.eval.train_every + 1
    return epochs * (n_fit + (n_test + n_val) / 3) + memorisation_passes * n_fit / 3


def plan_table(spec: StudySpec, images_per_second: float | None = None) -> list[dict[str, Any]]:
    """One row per stage: experiments, trials, epochs, images, hours (an upper bound with ASHA
    or a sequential design)."""
    rate = images_per_second or spec.resources.images_per_second or ASSUMED_IMAGES_PER_SECOND
    rows = []
    for stage in study_stages(spec):
        cost = stage.cost(spec)
        images = sum(images_per_trial(c, cost.max_epochs) * k for c, k in cost.trials)
        trial_hours = images / rate / 3600
        rows.append(
            {
                "stage": stage.name,
                "experiments": cost.experiments,
                "trials": sum(k for _, k in cost.trials),
                "epochs_per_trial": sorted({c.schedule.epochs for c, _ in cost.trials}),
                "images": images,
                "trial_hours": trial_hours,
                "gpu_hours": trial_hours * spec.resources.gpu,
                "cpu_hours": trial_hours * spec.resources.cpu,
                "bound": cost.bound,
            }
        )
    return rows


def wall_time_here(spec: StudySpec, rows: list[dict[str, Any]]) -> str:
    """A CPU study on this machine: trials at a time = cores / resources.cpu (capped by
    max_concurrent_trials), plus the measured scheduling and tracking overhead per trial."""
    cores = os.cpu_count() or 1
    slots = max(1, int(cores // spec.resources.cpu))
    if spec.resources.max_concurrent_trials:
        slots = min(slots, spec.resources.max_concurrent_trials)
    trials = sum(r["trials"] for r in rows)
    seconds = sum(r["trial_hours"] for r in rows) * 3600 / slots + trials * OVERHEAD_S_PER_TRIAL
    return (
        f"Wall time on this machine ({cores} cores, {slots} trial(s) at a time): about "
        f"{seconds / 60:.0f} min (+{OVERHEAD_S_PER_TRIAL} s per trial of scheduling/tracking)"
    )


def plan_text(spec: StudySpec, images_per_second: float | None = None) -> str:
    """The `study plan` page: the study, its axes and search, and the cost per stage."""
    rate = images_per_second or spec.resources.images_per_second
    lines = [f"Study {spec.name!r} ({spec.source}): {spec.description.strip()}"]
    axes = ", ".join(f"{k} ({len(v)})" for k, v in spec.grid.items()) or "none"
    lines.append(f"Grid axes: {axes}; grid points: {len(spec.grid_points())}")
    if spec.search is not None:
        s = spec.search
        lines.append(
            f"Search: {s.sampler.name} (seed {s.sampler.seed}) over {', '.join(s.params)}"
            f"{' + per-loss ' + ', '.join(s.per_loss) if s.per_loss else ''}; "
            f"{s.num_samples} samples per grid point; objective {s.mode} {s.metric}; "
            f"scheduler {spec.scheduler.name}; concurrency "
            f"{spec.resources.max_concurrent_trials or '1 (Ray default for Optuna)'}"
        )
        lines.append(f"Experiments in stage tune: {max(len(spec.grid_points()), 1)}")
        limit = SAMPLER_RANGE.get(s.sampler.name)
        if limit is not None and s.num_samples > limit:
            lines.append(
                f"warning: {s.num_samples} samples per grid point asks {s.sampler.name} for more "
                "than "
                f"the ~{limit:,} trials Optuna documents it for; each suggestion then costs "
                "the driver more (the search prints its cost per suggestion)"
            )
    lines.append(f"Resources per trial: {spec.resources.cpu:g} CPU, {spec.resources.gpu:g} GPU")
    note = (
        "" if rate else f" (assumed {ASSUMED_IMAGES_PER_SECOND:g}; set resources.images_per_second)"
    )
    lines.append(f"Throughput: {rate or ASSUMED_IMAGES_PER_SECOND:g} images/s per trial{note}")
    heads = ("trials", "epochs", "images", "GPU-hours", "CPU-hours")
    widths = (7, 10, 14, 10, 10)
    lines.append(
        "\n"
        + f"{'stage':10s} "
        + " ".join(f"{h:>{w}s}" for h, w in zip(heads, widths, strict=True))
    )
    rows = plan_table(spec, rate)
    for row in rows:
        epochs = ",".join(str(e) for e in row["epochs_per_trial"])
        bound = f" (upper bound: {row['bound']})" if row["bound"] else ""
        lines.append(
            f"{row['stage']:10s} {row['trials']:7d} {epochs:>10s} {row['images']:14.3g} "
            f"{row['gpu_hours']:10.2f} {row['cpu_hours']:10.2f}{bound}"
        )
    total = sum(r["gpu_hours"] for r in rows)
    lines.append(f"{'total':10s} {'':7s} {'':10s} {'':14s} {total:10.2f}")
    if spec.resources.gpu == 0:
        lines.append(wall_time_here(spec, rows))
    if spec.sequential is not None:
        lines.append(sequential_text(spec, rows))
    return "\n".join(lines)


def sequential_text(spec: StudySpec, rows: list[dict[str, Any]]) -> str:
    """A sequential study's two costs: the worst case (every comparison to its last look,
    the table above) and the expected cost when no comparison has an effect."""
    from study.orchestration.stages.looks import LooksStage, comparisons

    seq = spec.sequential
    assert seq is not None
    worst = sum(r["trials"] for r in rows)
    null = LooksStage().null_trials(spec)
    sd = seq.sd or 0.6 * seq.min_effect
    return (
        f"Sequential: {len(comparisons(spec))} comparisons vs {spec.analysis.reference}, looks at "
        f"{', '.join(map(str, seq.looks))} seeds, family-wise alpha {seq.alpha}, min_effect "
        f"{seq.min_effect}. Worst case {worst} trials; expected under no effect anywhere "
        f"(sd of paired differences {sd:g}, simulated): {null:.0f} trials "
        f"({null / worst:.0%} of the worst case)."
    )
