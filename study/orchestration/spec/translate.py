"""Translation of a study's search and scheduler sections to Optuna and Ray Tune — the one
place where those libraries' objects are built. Samplers and schedulers are registries."""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from study.orchestration.spec.model import Distribution, SchedulerSpec, SearchSpec
from study.registry import Registry
from study.training.config import TrialConfig

SAMPLERS: Registry[Callable[[SearchSpec], Any]] = Registry("sampler")
SCHEDULERS: Registry[Callable[[SchedulerSpec, int, str | None, str], Any]] = Registry("scheduler")


@SAMPLERS.register("tpe")
def _tpe(spec: SearchSpec) -> Any:
    import optuna

    return optuna.samplers.TPESampler(
        seed=spec.sampler.seed,
        multivariate=spec.sampler.multivariate,
        constant_liar=spec.sampler.constant_liar,
    )


@SAMPLERS.register("random")
def _random(spec: SearchSpec) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=spec.sampler.seed)


@SCHEDULERS.register("fifo")
def _fifo(spec: SchedulerSpec, epochs: int, metric: str | None, mode: str) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


@SCHEDULERS.register("asha")
def _asha(spec: SchedulerSpec, epochs: int, metric: str | None, mode: str) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    # our `epoch`, not Tune's training_iteration: a resumed trial restarts Tune's count (it
    # resumes from its own state file) and re-sends its last epoch once
    return ASHAScheduler(
        time_attr="epoch",
        metric=metric,
        mode=mode,
        max_t=spec.max_t or epochs,
        grace_period=min(spec.grace_period, spec.max_t or epochs),
        reduction_factor=spec.reduction_factor,
    )


def optuna_distribution(dist: Distribution) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if dist.type == "categorical":
        return CategoricalDistribution(list(dist.choices))
    if dist.type == "int":
        return IntDistribution(int(dist.low or 0), int(dist.high or 0))
    return FloatDistribution(
        float(dist.low or 0), float(dist.high or 0), log=dist.type == "logfloat"
    )


def default_point(cfg: TrialConfig, keys: list[str]) -> dict[str, Any]:
    """The grid point's own values of the searched keys — the paper's settings when the base config
    is the paper's — with a loss's constructor default for an unset loss parameter."""
    flat = cfg.to_flat_dict()
    point = {}
    for key in keys:
        if key in flat:
            point[key] = flat[key]
        elif key.startswith("loss."):
            from study.training.losses import LOSSES  # torch: only when a search is built

            sig = inspect.signature(LOSSES.get(cfg.loss.name).__init__)
            point[key] = sig.parameters[key[5:]].default
    return point


def build_search(spec: SearchSpec, cfg: TrialConfig, label: str = "search") -> Any:
    """OptunaSearch over the grid point's space; its first trials are `points_to_evaluate` (default:
    the grid point's own values, i.e. the paper's settings for the paper's base config). Metric and
    mode are set here: Tune does not pass TuneConfig's on through the concurrency limiter that
    `max_concurrent_trials` adds. `label` names the search in its cost line."""
    from study.orchestration.timed_search import TimedOptunaSearch

    space = spec.params_for(cfg.loss.name)
    default = default_point(cfg, list(space))
    # a partial point is completed with the grid point's own values
    points = [{**default, **p} for p in spec.points_to_evaluate or [{}]]
    return TimedOptunaSearch(
        space={k: optuna_distribution(d) for k, d in space.items()},
        metric=spec.metric,
        mode=spec.mode,
        points_to_evaluate=points,
        sampler=SAMPLERS.get(spec.sampler.name, "search.sampler.name")(spec),
        label=f"{label} ({spec.sampler.name})",
        samples=spec.num_samples,
    )


def build_scheduler(spec: SchedulerSpec, epochs: int, metric: str | None, mode: str) -> Any:
    return SCHEDULERS.get(spec.name, "scheduler.name")(spec, epochs, metric, mode)


def sampler_settings(spec: SearchSpec) -> Mapping[str, Any]:
    """What decides the suggestions, recorded on the parent run (Optuna 5's TPE depends on
    concurrency through constant_liar)."""
    return dataclasses.asdict(spec.sampler)


def build_grid(points: Sequence[Mapping[str, Any]], max_concurrent: int | None) -> Any:
    """A grid experiment's trials for Tune: its points as `points_to_evaluate` of Tune's
    `BasicVariantGenerator`, one trial each, in order, each point one JSON value of the key
    `overrides` (`trainable.trial_overrides` reads it back).

    Not `tune.grid_search(points)`: Tune deep-copies the whole unresolved spec, the list of
    every point included, for each trial it makes (`_grid_search_generator`, Ray 2.60), so a
    grid of N points costs O(N²) on the driver: minutes at 10⁴ points before the first trial
    starts. A preset is merged into a copy of the one-key spec (`{"overrides": None}`): O(N) in all.
    One JSON string, because Tune requires every leaf of a preset to be a key of the spec.
    The generator takes the concurrency limit itself (Tune ignores `max_concurrent_trials`
    for a search algorithm it did not build)."""
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(
        points_to_evaluate=[{"overrides": json.dumps(dict(point))} for point in points],
        max_concurrent=max_concurrent or 0,
    )
