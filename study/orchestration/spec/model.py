"""The study spec's frozen types: what a validated study YAML becomes
(`study.orchestration.spec.load`).

Each section is a dataclass filled from its YAML mapping by `study.coerce.build`, the machinery
of the trial configs: the types come from the type hints, the ranges from `__post_init__`
(keys relative to the section). What needs another section or a registry is checked by hand
in `study.orchestration.spec.sections` and `.search`; the translation to Ray Tune / Optuna
objects is `study.orchestration.spec.translate`.
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
from study.coerce import check
from study.errors import ConfigError
from study.training.checkpointing import CheckpointPolicy
from study.training.config import TrialConfig

DISTRIBUTIONS = ("float", "logfloat", "int", "categorical")


@dataclass(frozen=True)
class Distribution:
    """`{type: logfloat, low: 0.01, high: 0.5}` or `{type: categorical, choices: [...]}`."""

    type: str
    low: int | float | None = None
    high: int | float | None = None
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        check(self.type in DISTRIBUTIONS, "type", self.type, ", ".join(DISTRIBUTIONS))
        if self.type == "categorical":
            check(bool(self.choices), "choices", list(self.choices), "a non-empty list")
            return
        kind = int if self.type == "int" else float
        for key in ("low", "high"):
            value = getattr(self, key)
            whole = isinstance(value, int)
            check(value is not None and (whole or kind is float), key, value, f"a {kind.__name__}")
        assert self.low is not None and self.high is not None
        if not self.low < self.high:  # over two keys: `search.params.<key>: low ... high ...`
            raise ConfigError(f"low {self.low!r} must be below high {self.high!r}")
        check(self.type != "logfloat" or self.low > 0, "low", self.low, "> 0 for logfloat")

    def extremes(self) -> list[Any]:
        """Values at the edges of the range (used to validate the key and its range)."""
        return list(self.choices) if self.type == "categorical" else [self.low, self.high]


@dataclass(frozen=True)
class SamplerSpec:
    name: str = "tpe"  # a registered sampler: tpe | random (study.orchestration.spec.translate)
    seed: int = 0
    multivariate: bool = True  # Optuna 5's TPE defaults; recorded on the parent run
    constant_liar: bool = True


@dataclass(frozen=True)
class SearchSpec:
    params: Mapping[str, Distribution]
    per_loss: Mapping[str, Mapping[str, Distribution]] = field(default_factory=dict)
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    num_samples: int = 8
    metric: str = contract.VAL_TOP1
    mode: str = "min"
    points_to_evaluate: tuple[Mapping[str, Any], ...] | None = None

    def __post_init__(self) -> None:
        check(bool(self.params), "params", dict(self.params), "a non-empty mapping")
        holdout = "a val_* metric; searchers optimise the validation holdout, never the test set"
        check(self.metric.startswith("val_"), "metric", self.metric, holdout)
        check(self.mode in ("min", "max"), "mode", self.mode, "min, max")
        check(self.num_samples >= 1, "num_samples", self.num_samples, ">= 1")

    def params_for(self, loss_name: str) -> dict[str, Distribution]:
        return {**self.params, **self.per_loss.get(loss_name, {})}


@dataclass(frozen=True)
class SchedulerSpec:
    name: str = "fifo"  # a registered scheduler: fifo | asha
    grace_period: int = 1
    reduction_factor: float = 4.0
    max_t: int | None = None  # default: the trial's epochs
    metric: str | None = None  # default: the search metric

    def __post_init__(self) -> None:
        check(self.grace_period >= 1, "grace_period", self.grace_period, ">= 1")
        check(self.reduction_factor > 1, "reduction_factor", self.reduction_factor, "> 1")
        check(self.max_t is None or self.max_t >= 1, "max_t", self.max_t, "null or >= 1")


@dataclass(frozen=True)
class EvaluateSpec:
    seeds: tuple[int, ...]
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(bool(self.seeds), "seeds", list(self.seeds), "a non-empty list of integers")


@dataclass(frozen=True)
class SequentialSpec:
    """Adaptive seeding (`analysis.sequential`): seeds per comparison at each look, family-wise α,
    the smallest gain of interest, and for `study plan` the sd of paired differences assumed.
    The ranges are `analysis.sequential.SequentialDesign`'s own checks."""

    looks: tuple[int, ...]
    alpha: float = 0.05
    min_effect: float = 0.5
    spending: str = "obrien_fleming"
    beta_futility: float = 0.05
    sd: float | None = None  # default: 0.6 × min_effect (0.3 at a min_effect of 0.5)
    futility: bool = True  # stop a comparison early once it rules out min_effect

    def __post_init__(self) -> None:
        try:
            self.design(n_comparisons=1)
        except ValueError as exc:  # `key: invalid value ...`
            raise ConfigError(str(exc)) from None
        check(self.sd is None or self.sd > 0, "sd", self.sd, "null or > 0")

    def design(self, n_comparisons: int) -> Any:
        """The `analysis.sequential.SequentialDesign` of this section, for `n_comparisons`."""
        from analysis.sequential import SequentialDesign

        return SequentialDesign(self.looks, self.alpha, self.min_effect, n_comparisons,
                                self.spending, self.beta_futility, self.futility)  # fmt: skip


@dataclass(frozen=True)
class ClaimSpec:
    """A published claim the study tests: `candidate` beats the reference by `gain` (metric
    units, positive = candidate better), in the rows whose setting matches `setting` (dotted
    key → value; empty: every setting), as `source` reports it."""

    candidate: str
    gain: float
    source: str = ""
    setting: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self.gain != 0, "gain", self.gain, "a nonzero gain (positive: candidate better)")


PAIR_ON = ("seed", "hardware")


@dataclass(frozen=True)
class AnalysisSpec:
    """How the study is analysed. `primary`: the candidates of the confirmatory family (the
    others form an exploratory one); `claims`: what the study tests, each on a primary
    candidate. Both are part of the spec hash: a report asked for another primary set says
    it is post hoc."""

    reference: str = "ce"
    metric: str = contract.DEFAULT_METRIC
    min_effect: float = 0.5
    selects_on_test: bool = False  # allowed only in a faithful replication; the report says so
    primary: tuple[str, ...] = ()
    claims: tuple[ClaimSpec, ...] = ()
    pair_on: str = "seed"  # "hardware": only pairs whose two trials ran on the same hardware

    def __post_init__(self) -> None:
        check(self.pair_on in PAIR_ON, "pair_on", self.pair_on, f"one of {', '.join(PAIR_ON)}")
        check(not contract.selects_on_val(self.metric), "metric", self.metric,
              "a test or train metric; the validation split was used for tuning")  # fmt: skip
        check(self.min_effect > 0, "min_effect", self.min_effect, "> 0")
        check(len(set(self.primary)) == len(self.primary), "primary", list(self.primary),
              "distinct candidates")  # fmt: skip
        check(self.reference not in self.primary, "primary", list(self.primary),
              f"candidates other than the reference {self.reference!r}")  # fmt: skip
        for i, claim in enumerate(self.claims):
            check(claim.candidate in self.primary, f"claims.{i}.candidate", claim.candidate,
                  f"one of analysis.primary {list(self.primary)}: a claim is tested in the "
                  "confirmatory family")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """As hashed and recorded: `primary`, `claims` and `pair_on` only when given, so that a
        study without them keeps its hash."""
        out = dataclasses.asdict(self)
        for key in ("primary", "claims"):
            if not out[key]:
                del out[key]
        if out["pair_on"] == "seed":
            del out["pair_on"]
        return out


@dataclass(frozen=True)
class Resources:
    cpu: float = 1.0
    gpu: float = 0.0  # fractional GPUs share one device (e.g. 0.25: four trials per GPU)
    max_concurrent_trials: int | None = None
    images_per_second: float | None = None  # per trial at this share, for `study plan`

    def __post_init__(self) -> None:
        check(self.cpu > 0, "cpu", self.cpu, "a number > 0")
        check(self.gpu >= 0, "gpu", self.gpu, "a number >= 0")
        check(not 1 < self.gpu != int(self.gpu), "gpu", self.gpu, "<= 1 or an integer")
        limit, ips = self.max_concurrent_trials, self.images_per_second
        check(limit is None or limit >= 1, "max_concurrent_trials", limit, "null or >= 1")
        check(ips is None or ips > 0, "images_per_second", ips, "null or > 0")


@dataclass(frozen=True)
class FailureSpec:
    max_failures: int = 2  # retries of a failed trial (Ray Tune's FailureConfig)

    def __post_init__(self) -> None:
        check(self.max_failures >= 0, "max_failures", self.max_failures, ">= 0")


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

    def grid_points(self) -> list[dict[str, Any]]:
        """The crossed grid, one override mapping per trial, in a stable order."""
        keys = list(self.grid)
        return [
            dict(zip(keys, combo, strict=True)) for combo in itertools.product(*self.grid.values())
        ]

    def trial_configs(self) -> list[TrialConfig]:
        return [self.base.with_overrides(o) for o in self.grid_points()]

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
            "analysis": self.analysis.to_dict(),
            # omitted when unset: a study without the section hashes as if it had no such key
            **({"sequential": dataclasses.asdict(self.sequential)} if self.sequential else {}),
        }

    def spec_hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]
