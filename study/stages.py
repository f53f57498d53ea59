"""A study as stages of Tune experiments, and what they cost before anything runs.

* A plain grid study is one experiment (stage `main`), stored at `<storage>/<name>`.
* A study with `search` runs one Optuna search per grid cell (stage `tune`, same budget per
  cell, on the validation holdout), stored at `<storage>/<name>/tune-<cell>`.
* With `evaluate`, stage 2 re-trains each cell's best configuration with fresh seeds, FIFO and
  full budget (stage `evaluate`, `<storage>/<name>/evaluate`): only this stage is compared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from study.config import TrialConfig
from study.data import DATASETS
from study.search_spec import SearchSpec
from study.spaces import StudySpec

ASSUMED_IMAGES_PER_SECOND = 4000.0  # per trial at its GPU share when the YAML gives none
OVERHEAD_S_PER_TRIAL = 0.44  # scheduling + tracking, `study bench scheduling` (README)


def trial_label(overrides: Mapping[str, Any]) -> str:
    """Readable label: `loss=lace,seed=1`, `loss=focal(gamma=2.0)`, `lr=0.1,momentum=0.9`."""

    def short(value: Any) -> str:
        if isinstance(value, Mapping):
            head_key = "name" if "name" in value else "kind" if "kind" in value else None
            head = str(value[head_key]) if head_key else ""
            params = ",".join(f"{k}={v}" for k, v in value.items() if k != head_key)
            return f"{head}({params})" if params else head
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    return ",".join(f"{k.split('.')[-1]}={short(v)}" for k, v in overrides.items())


@dataclass(frozen=True)
class TunerPlan:
    key: str  # Tune experiment name under the study folder ("" = the study folder itself)
    stage: str  # main | tune | evaluate
    base: TrialConfig
    grid: tuple[Mapping[str, Any], ...] = ()  # fixed overrides, one trial each
    search: SearchSpec | None = None
    cell: Mapping[str, Any] = field(default_factory=dict)  # the grid point this plan serves

    @property
    def n_trials(self) -> int:
        return self.search.num_samples if self.search else len(self.grid)


def first_stage(spec: StudySpec) -> list[TunerPlan]:
    if spec.search is None:
        return [TunerPlan("", "main", spec.base, tuple(spec.trial_overrides()))]
    plans = []
    for point in spec.trial_overrides() or [{}]:
        slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", trial_label(point)) or "all"
        cell = spec.base.with_overrides(point)
        plans.append(TunerPlan(f"tune-{slug}", "tune", cell, search=spec.search, cell=point))
    return plans


def evaluate_stage(spec: StudySpec, best: Sequence[Mapping[str, Any]]) -> TunerPlan:
    """Stage 2 from stage 1's winners: `best[i]` holds the searched values for cell i."""
    assert spec.evaluate is not None
    base = spec.base.with_overrides(spec.evaluate.overrides)
    cells = [p.cell for p in first_stage(spec)]
    grid = tuple(
        {**cell, **params, "seed": seed}
        for cell, params in zip(cells, best, strict=True)
        for seed in spec.evaluate.seeds
    )
    return TunerPlan("evaluate", "evaluate", base, grid)


def expected_trials(spec: StudySpec) -> dict[str, int]:
    counts = {p.stage: 0 for p in first_stage(spec)}
    for plan in first_stage(spec):
        counts[plan.stage] += plan.n_trials
    if spec.evaluate is not None:
        counts["evaluate"] = len(first_stage(spec)) * len(spec.evaluate.seeds)
    return counts


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
    """One row per stage: experiments, trials, epochs, images, hours (an upper bound with ASHA)."""
    rate = images_per_second or spec.resources.images_per_second or ASSUMED_IMAGES_PER_SECOND
    rows = []
    stages: dict[str, list[tuple[TrialConfig, int]]] = {}
    for plan in first_stage(spec):
        cfgs = [plan.base.with_overrides(g) for g in plan.grid] or [plan.base] * plan.n_trials
        stages.setdefault(plan.stage, []).extend((c, 1) for c in cfgs)
    if spec.evaluate is not None:
        base = spec.base.with_overrides(spec.evaluate.overrides)
        cells = [base.with_overrides(p.cell) for p in first_stage(spec)]
        stages["evaluate"] = [(c, len(spec.evaluate.seeds)) for c in cells]
    for stage, items in stages.items():
        max_t = spec.scheduler.max_t if stage == "tune" else None
        images = sum(images_per_trial(c, max_t) * k for c, k in items)
        trial_hours = images / rate / 3600
        rows.append(
            {
                "stage": stage,
                "experiments": len(first_stage(spec)) if stage == "tune" else 1,
                "trials": sum(k for _, k in items),
                "epochs_per_trial": sorted({c.schedule.epochs for c, _ in items}),
                "images": images,
                "trial_hours": trial_hours,
                "gpu_hours": trial_hours * spec.resources.gpu,
                "cpu_hours": trial_hours * spec.resources.cpu,
            }
        )
    return rows
