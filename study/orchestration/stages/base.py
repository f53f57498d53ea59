"""What a stage is: a kind of step of a study that turns the stored study (and the results of the
stages before it) into Tune experiments to run, round after round, and stores what it decided. Each
kind is one module of `study.orchestration.stages`, registered in `STAGES`; the runner
(`study.orchestration.runner`) loops over a study's stages without knowing their kinds.

A stage's `rounds(ctx)` is a generator: it yields a list of `TuneExperiment`s, the runner runs them
and adds their results to `ctx`, and the generator goes on (a sequential design looks at the results
and yields the next look's seeds) or returns. Decisions are written with `ctx.decide(key, value)`
and read back on every restart (`study.orchestration.decisions`), so a restored Tune experiment,
whose result order is not stable, can never change them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from study.orchestration.decisions import load_decision, save_decision
from study.orchestration.spec.model import SearchSpec, StudySpec
from study.orchestration.storage import Storage
from study.registry import Registry
from study.training.config import TrialConfig


def label_value(value: Any) -> str:
    """A value as labels show it: `lace`, `focal(gamma=2.0)`, `0.1`."""
    if isinstance(value, Mapping):
        head_key = "name" if "name" in value else "kind" if "kind" in value else None
        head = str(value[head_key]) if head_key else ""
        params = ",".join(f"{k}={v}" for k, v in value.items() if k != head_key)
        return f"{head}({params})" if params else head
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def label_parts(overrides: Mapping[str, Any]) -> dict[str, str]:
    """Each key's part of the label, by key: `{"loss": "loss=lace", "seed": "seed=1"}`."""
    return {k: f"{k.split('.')[-1]}={label_value(v)}" for k, v in overrides.items()}


def trial_label(overrides: Mapping[str, Any]) -> str:
    """Readable label: `loss=lace,seed=1`, `loss=focal(gamma=2.0)`, `lr=0.1,momentum=0.9`."""
    return ",".join(label_parts(overrides).values())


def slug(overrides: Mapping[str, Any]) -> str:
    """A folder-safe name for a grid point."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", trial_label(overrides)) or "all"


@dataclass(frozen=True)
class TuneExperiment:
    """One Tune experiment: fixed trials (`grid`) or a search of `search.num_samples`."""

    key: str  # Tune experiment name under the study folder ("" = the study folder itself)
    stage: str  # the stage kind's name: its runs carry it as the `stage` tag
    base: TrialConfig
    grid: tuple[Mapping[str, Any], ...] = ()  # fixed overrides, one trial each
    search: SearchSpec | None = None
    point: Mapping[str, Any] = field(default_factory=dict)  # the grid point it serves
    early_stopping: bool = False  # the study's scheduler may stop trials early (ASHA)
    tags: Mapping[str, str] = field(default_factory=dict)  # extra run tags (e.g. the look)

    @property
    def n_trials(self) -> int:
        return self.search.num_samples if self.search else len(self.grid)


@dataclass(frozen=True)
class TrialResult:
    """One trial of a finished (or stopped) Tune experiment, as the stages see it."""

    overrides: Mapping[str, Any]  # the grid point plus the searcher's suggestions
    metrics: Mapping[str, Any]
    ok: bool  # no error


@dataclass(frozen=True)
class Cost:
    """What a stage will run at most, for `study plan`: configs with their trial counts."""

    experiments: int
    trials: list[tuple[TrialConfig, int]]
    max_epochs: int | None = None  # an early-stopping bound (ASHA's max_t)
    bound: str = ""  # why the cost is an upper bound ("ASHA", a sequential design)


@dataclass
class StageContext:
    """The study as the stages see it: the stored spec, where decisions live, and every
    result so far by stage (filled by the runner between rounds)."""

    spec: StudySpec
    storage: Storage
    # stage → the results of each of its experiments
    results: dict[str, list[list[TrialResult]]] = field(default_factory=dict)
    complete: dict[str, bool] = field(default_factory=dict)  # stage → every trial finished
    used: list[str] = field(default_factory=list)  # decisions read or taken, in order

    def decision(self, key: str) -> Any | None:
        value = load_decision(self.storage, self.spec.name, key)
        if value is not None and key not in self.used:
            self.used.append(key)
        return value

    def decide(self, key: str, value: Any) -> Any:
        save_decision(self.storage, self.spec.name, key, value)
        if key not in self.used:
            self.used.append(key)
        return value


class Stage(Protocol):
    name: str  # the `stage` tag of its runs
    order: int  # position in a study: stages run in increasing order
    compared: bool  # its finals are what the study compares (printed, reported)

    def active(self, spec: StudySpec) -> bool: ...

    def expected(self, spec: StudySpec, ctx: StageContext | None = None) -> int:
        """Trials the stage runs: with `ctx`, given its decisions so far (a sequential stage
        stops decided comparisons); without, at most (every one to its last look)."""
        ...

    def cost(self, spec: StudySpec) -> Cost: ...

    def rounds(self, ctx: StageContext) -> Iterator[list[TuneExperiment]]: ...


STAGES: Registry[Stage] = Registry("stage")


def study_stages(spec: StudySpec) -> list[Stage]:
    """The stages `spec` runs, in order."""
    stages = [STAGES.get(n) for n in STAGES.names()]
    return sorted((s for s in stages if s.active(spec)), key=lambda s: s.order)


def expected_trials(spec: StudySpec) -> dict[str, int]:
    return {s.name: s.expected(spec) for s in study_stages(spec)}
