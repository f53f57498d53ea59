"""The study spec's frozen types: what a validated study YAML becomes
(`study.orchestration.spec.load`).

Plain dataclasses; validation lives in `study.orchestration.spec.sections` and
`study.orchestration.spec.search`, the
translation to Ray Tune / Optuna objects in `study.orchestration.spec.translate`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from study import contract
from study.training.checkpointing import CheckpointPolicy
from study.training.config import TrialConfig

DISTRIBUTIONS = ("float", "logfloat", "int", "categorical")


@dataclass(frozen=True)
class Distribution:
    type: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()

    def extremes(self) -> list[Any]:
        """Values at the edges of the range (used to validate the key and its range)."""
        return list(self.choices) if self.type == "categorical" else [self.low, self.high]


@dataclass(frozen=True)
class SearchSpec:
    params: Mapping[str, Distribution]
    per_loss: Mapping[str, Mapping[str, Distribution]] = field(default_factory=dict)
    sampler: str = "tpe"
    sampler_seed: int = 0
    multivariate: bool = True  # Optuna 5's TPE defaults; recorded on the parent run
    constant_liar: bool = True
    num_samples: int = 8
    metric: str = "val_top1_error"
    mode: str = "min"
    points_to_evaluate: tuple[Mapping[str, Any], ...] | None = None

    def params_for(self, loss_name: str) -> dict[str, Distribution]:
        return {**self.params, **self.per_loss.get(loss_name, {})}


@dataclass(frozen=True)
class SchedulerSpec:
    name: str = "fifo"
    grace_period: int = 1
    reduction_factor: float = 4.0
    max_t: int | None = None  # default: the trial's epochs
    metric: str | None = None  # default: the search metric


@dataclass(frozen=True)
class EvaluateSpec:
    seeds: tuple[int, ...]
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SequentialSpec:
    """Adaptive seeding (`analysis.sequential`): seeds per cell at each look, family-wise α,
    the smallest gain of interest, and for `study plan` the sd of paired differences assumed."""

    looks: tuple[int, ...]
    alpha: float = 0.05
    min_effect: float = 0.5
    spending: str = "obrien_fleming"
    beta_futility: float = 0.05
    sd: float | None = None  # default: 0.6 × min_effect (0.3 at a min_effect of 0.5)
    futility: bool = True  # stop a comparison early once it rules out min_effect


@dataclass(frozen=True)
class AnalysisSpec:
    reference: str = "ce"
    metric: str = contract.DEFAULT_METRIC
    min_effect: float = 0.5
    selects_on_test: bool = False  # allowed only in a faithful replication; the report says so


@dataclass(frozen=True)
class Resources:
    cpu: float = 1.0
    gpu: float = 0.0  # fractional GPUs share one device (e.g. 0.25: four trials per GPU)
    max_concurrent_trials: int | None = None
    images_per_second: float | None = None  # per trial at this share, for `study plan`


@dataclass(frozen=True)
class StudySpec:
    name: str
    base: TrialConfig
    grid: Mapping[str, Sequence[Any]]
    description: str = ""
    resources: Resources = field(default_factory=Resources)
    max_failures: int = 2
    checkpoint: CheckpointPolicy = field(default_factory=CheckpointPolicy)
    source: str = "<dict>"
    search: SearchSpec | None = None
    scheduler: SchedulerSpec = field(default_factory=SchedulerSpec)
    evaluate: EvaluateSpec | None = None
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)
    sequential: SequentialSpec | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)
    overrides: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def trial_overrides(self) -> list[dict[str, Any]]:
        """The crossed grid, one override mapping per trial, in a stable order."""
        keys = list(self.grid)
        return [
            dict(zip(keys, combo, strict=True)) for combo in itertools.product(*self.grid.values())
        ]

    def trial_configs(self) -> list[TrialConfig]:
        return [self.base.with_overrides(o) for o in self.trial_overrides()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "base": self.base.to_dict(),
            "grid": {k: list(v) for k, v in self.grid.items()},
            "resources": {
                "cpu": self.resources.cpu,
                "gpu": self.resources.gpu,
                "max_concurrent_trials": self.resources.max_concurrent_trials,
                "images_per_second": self.resources.images_per_second,
            },
            "failure": {"max_failures": self.max_failures},
            "checkpoint": dataclasses.asdict(self.checkpoint),
            "search": None if self.search is None else dataclasses.asdict(self.search),
            "scheduler": dataclasses.asdict(self.scheduler),
            "evaluate": None if self.evaluate is None else dataclasses.asdict(self.evaluate),
            "analysis": dataclasses.asdict(self.analysis),
            # only when set: the hash of every study stored before this section existed holds
            **({"sequential": dataclasses.asdict(self.sequential)} if self.sequential else {}),
        }

    def spec_hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]
