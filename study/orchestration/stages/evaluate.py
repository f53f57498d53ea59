"""Stage `evaluate`: the second stage of a tuned study. Each grid point's best searched values (by
the last reported search metric of stage `tune`) are re-trained with fresh seeds, FIFO at full
budget, in one Tune experiment `<storage>/<name>/evaluate`; only this stage is compared. Runs
only when every search trial finished. The winners are the stage's decision
(`decisions/tune.json`), taken once and read back on every restart."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from study import contract
from study.errors import UserError
from study.orchestration.spec.model import StudySpec
from study.orchestration.stages.base import STAGES, Cost, StageContext, TrialResult, TuneExperiment
from study.orchestration.stages.tune import TuneStage, tune_experiments


def best_per_point(
    spec: StudySpec, results: Sequence[Sequence[TrialResult]]
) -> list[dict[str, Any]]:
    """Each grid point's searched values with the best final search metric; ties (common on tiny
    data) are broken by the values themselves, so the choice is deterministic."""
    assert spec.search is not None
    sign = 1.0 if spec.search.mode == "min" else -1.0
    best = []
    for exp, trials in zip(tune_experiments(spec), results, strict=True):
        keys = list(spec.search.params_for(exp.base.loss.name))
        scored = []
        for trial in trials:
            value = trial.metrics.get(spec.search.metric)
            if trial.ok and isinstance(value, int | float) and math.isfinite(value):
                chosen = {k: trial.overrides[k] for k in keys}
                scored.append((sign * float(value), json.dumps(chosen, sort_keys=True), chosen))
        if not scored:
            raise UserError(f"stage tune: no trial reported {spec.search.metric!r}")
        best.append(min(scored, key=lambda item: item[:2])[2])
    return best


def evaluate_experiment(spec: StudySpec, best: Sequence[Mapping[str, Any]]) -> TuneExperiment:
    """The `evaluate` experiment from the `tune` stage's winners: `best[i]` holds the searched
    values for grid point i."""
    assert spec.evaluate is not None
    base = spec.base.with_overrides(spec.evaluate.overrides)
    grid = tuple(
        {**exp.point, **params, "seed": seed}
        for exp, params in zip(tune_experiments(spec), best, strict=True)
        for seed in spec.evaluate.seeds
    )
    return TuneExperiment(EvaluateStage.name, EvaluateStage.name, base, grid)


class EvaluateStage:
    name = contract.EVALUATE_STAGE
    order = 20
    compared = True

    def active(self, spec: StudySpec) -> bool:
        return spec.evaluate is not None

    def expected(self, spec: StudySpec, ctx: StageContext | None = None) -> int:
        assert spec.evaluate is not None
        return len(tune_experiments(spec)) * len(spec.evaluate.seeds)

    def cost(self, spec: StudySpec) -> Cost:
        assert spec.evaluate is not None
        base = spec.base.with_overrides(spec.evaluate.overrides)
        configs = [base.with_overrides(p.point) for p in tune_experiments(spec)]
        return Cost(1, [(c, len(spec.evaluate.seeds)) for c in configs])

    def rounds(self, ctx: StageContext) -> Iterator[list[TuneExperiment]]:
        if not ctx.complete.get(TuneStage.name):
            return  # `tune` did not finish: `study resume` completes it first
        best = ctx.decision(TuneStage.name)
        if best is None:
            best = ctx.decide(TuneStage.name, best_per_point(ctx.spec, ctx.results[TuneStage.name]))
        yield [evaluate_experiment(ctx.spec, best)]


STAGES.register(EvaluateStage.name)(EvaluateStage())
