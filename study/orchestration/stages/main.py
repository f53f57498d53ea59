"""Stage `main`: a plain grid study, every grid point one trial, in one Tune experiment stored
at `<storage>/<name>` (the study folder itself). Active when the study has no `search` and no
`sequential` section."""

from __future__ import annotations

from collections.abc import Iterator

from study import contract
from study.orchestration.spec.model import StudySpec
from study.orchestration.stages.base import STAGES, Cost, StageContext, TuneExperiment


class MainStage:
    name = contract.MAIN_STAGE
    order = 10
    compared = True

    def active(self, spec: StudySpec) -> bool:
        return spec.search is None and spec.sequential is None

    def expected(self, spec: StudySpec, ctx: StageContext | None = None) -> int:
        return len(spec.grid_points())

    def cost(self, spec: StudySpec) -> Cost:
        return Cost(1, [(c, 1) for c in spec.trial_configs()])

    def rounds(self, ctx: StageContext) -> Iterator[list[TuneExperiment]]:
        spec = ctx.spec
        # A plain study may ask for early stopping (ASHA on a validation metric).
        yield [TuneExperiment("", self.name, spec.base, tuple(spec.grid_points()),
                         early_stopping=spec.scheduler.name == "asha")]  # fmt: skip


STAGES.register(MainStage.name)(MainStage())
