"""Stage `tune`: one Optuna search per grid point (e.g. per loss), each the same budget
(`search.num_samples`) on the validation holdout, stored at `<storage>/<name>/tune-<point>`.
Active when the study has a `search` section. Its decision, each grid point's winning values, is
taken by the `evaluate` stage that follows (`study.orchestration.stages.evaluate`)."""

from __future__ import annotations

from collections.abc import Iterator

from study import contract
from study.orchestration.spec.model import StudySpec
from study.orchestration.stages.base import STAGES, Cost, StageContext, TuneExperiment, slug


def tune_experiments(spec: StudySpec) -> list[TuneExperiment]:
    """One experiment per grid point (a study without grid: one, `all`)."""
    assert spec.search is not None
    return [
        TuneExperiment(f"tune-{slug(point)}", TuneStage.name, spec.base.with_overrides(point),
                       search=spec.search, point=point,
                       early_stopping=spec.scheduler.name == "asha")
        for point in spec.grid_points() or [{}]
    ]  # fmt: skip


class TuneStage:
    name = contract.TUNE_STAGE
    order = 10
    compared = False  # tuned on the validation split; only a fresh evaluation is compared

    def active(self, spec: StudySpec) -> bool:
        return spec.search is not None

    def expected(self, spec: StudySpec, ctx: StageContext | None = None) -> int:
        return sum(p.n_trials for p in tune_experiments(spec))

    def cost(self, spec: StudySpec) -> Cost:
        experiments = tune_experiments(spec)
        trials = [(p.base, p.n_trials) for p in experiments]
        asha = spec.scheduler.name == "asha"
        return Cost(len(experiments), trials, spec.scheduler.max_t, "ASHA" if asha else "")

    def rounds(self, ctx: StageContext) -> Iterator[list[TuneExperiment]]:
        yield tune_experiments(ctx.spec)


STAGES.register(TuneStage.name)(TuneStage())
