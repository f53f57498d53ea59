"""Validation of the tuning sections of a study YAML: `search`, `scheduler`, `evaluate`.

```yaml
search:                       # Optuna, per grid cell (e.g. per loss), same budget for each
  params:                     # dotted key → distribution
    optim.lr: {type: logfloat, low: 0.01, high: 0.5}
    optim.momentum: {type: float, low: 0.8, high: 0.95}
  per_loss:                   # extra parameters searched only for that loss
    focal: {loss.gamma: {type: float, low: 0.0, high: 5.0}}
  sampler: {name: tpe, seed: 0}          # tpe | random; TPE's multivariate / constant_liar
  num_samples: 16
  metric: val_top1_error                 # must be a val_* metric: tuning never sees the test set
  mode: min
  points_to_evaluate: null               # default: the base config's values (the paper's)
scheduler: {name: asha, grace_period: 5, reduction_factor: 4, max_t: null}   # or {name: fifo}
evaluate: {seeds: [0, 1, 2, 3, 4], overrides: {data.val_fraction: 0.0}}       # stage 2
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from study.errors import ConfigError
from study.orchestration.spec.model import (
    DISTRIBUTIONS,
    Distribution,
    EvaluateSpec,
    SchedulerSpec,
    SearchSpec,
)
from study.orchestration.spec.sections import check_holdout, keys, number
from study.orchestration.spec.translate import SAMPLERS, SCHEDULERS
from study.training.config import TrialConfig


def parse_distribution(raw: Any, key: str) -> Distribution:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key}: invalid value {raw!r} (allowed: a mapping with a type)")
    keys(raw, key, ("type", "low", "high", "choices"))
    kind = raw.get("type")
    if kind not in DISTRIBUTIONS:
        raise ConfigError(
            f"{key}.type: invalid value {kind!r} (allowed: {', '.join(DISTRIBUTIONS)})"
        )
    if kind == "categorical":
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(
                f"{key}.choices: invalid value {choices!r} (allowed: a non-empty list)"
            )
        return Distribution(kind, choices=tuple(choices))
    num = int if kind == "int" else float
    low, high = (
        number(raw.get("low"), f"{key}.low", num),
        number(raw.get("high"), f"{key}.high", num),
    )
    if not low < high:
        raise ConfigError(f"{key}: low {low!r} must be below high {high!r}")
    if kind == "logfloat" and low <= 0:
        raise ConfigError(f"{key}.low: invalid value {low!r} (allowed: > 0 for logfloat)")
    return Distribution(kind, low, high)


def parse_search(raw: Mapping[str, Any], base: TrialConfig, cells: list[TrialConfig]) -> SearchSpec:
    from study.training.losses import list_losses

    keys(raw, "search", ("params", "per_loss", "sampler", "num_samples", "metric", "mode",
                          "points_to_evaluate"))  # fmt: skip
    params_raw = raw.get("params") or {}
    if not isinstance(params_raw, Mapping) or not params_raw:
        raise ConfigError(
            f"search.params: invalid value {params_raw!r} (allowed: a non-empty mapping)"
        )
    params = {str(k): parse_distribution(v, f"search.params.{k}") for k, v in params_raw.items()}
    per_loss: dict[str, dict[str, Distribution]] = {}
    for loss, extra in (raw.get("per_loss") or {}).items():
        if loss not in list_losses():
            raise ConfigError(
                f"search.per_loss.{loss}: unknown loss (known: {', '.join(list_losses())})"
            )
        if not isinstance(extra, Mapping):
            raise ConfigError(f"search.per_loss.{loss}: expected a mapping, got {extra!r}")
        per_loss[loss] = {
            str(k): parse_distribution(v, f"search.per_loss.{loss}.{k}") for k, v in extra.items()
        }
    sampler_raw = raw.get("sampler") or {}
    keys(sampler_raw, "search.sampler", ("name", "seed", "multivariate", "constant_liar"))
    sampler = sampler_raw.get("name", "tpe")
    if sampler not in SAMPLERS:
        raise ConfigError(
            f"search.sampler.name: invalid value {sampler!r} "
            f"(allowed: {', '.join(SAMPLERS.names())})"
        )
    metric = raw.get("metric", "val_top1_error")
    if not isinstance(metric, str) or not metric.startswith("val_"):
        raise ConfigError(
            f"search.metric: invalid value {metric!r} (allowed: a val_* metric; searchers "
            f"optimise the validation holdout, never the test set)"
        )
    mode = raw.get("mode", "min")
    if mode not in ("min", "max"):
        raise ConfigError(f"search.mode: invalid value {mode!r} (allowed: min, max)")
    num_samples = number(raw.get("num_samples", 8), "search.num_samples", int)
    if num_samples < 1:
        raise ConfigError(f"search.num_samples: invalid value {num_samples} (allowed: >= 1)")
    points = raw.get("points_to_evaluate")
    if points is not None and (
        not isinstance(points, list) or not all(isinstance(p, Mapping) for p in points)
    ):
        raise ConfigError(
            f"search.points_to_evaluate: invalid value {points!r} (allowed: a list of mappings)"
        )
    spec = SearchSpec(
        params=params, per_loss=per_loss, sampler=sampler,
        sampler_seed=number(sampler_raw.get("seed", 0), "search.sampler.seed", int),
        multivariate=bool(sampler_raw.get("multivariate", True)),
        constant_liar=bool(sampler_raw.get("constant_liar", True)),
        num_samples=num_samples, metric=metric, mode=mode,
        points_to_evaluate=None if points is None else tuple(dict(p) for p in points),
    )  # fmt: skip
    for cell in cells:
        check_holdout(cell, "search.metric")
        space = spec.params_for(cell.loss.name)
        for key, dist in space.items():
            for value in dist.extremes():
                try:
                    cell.with_overrides({key: value})
                except ConfigError as exc:
                    raise ConfigError(f"search.params.{key}: {exc}") from exc
        for point in spec.points_to_evaluate or ():
            extra = [k for k in point if k not in space]
            if extra:
                raise ConfigError(f"search.points_to_evaluate: {extra[0]!r} is not a searched key")
    return spec


def parse_scheduler(
    raw: Mapping[str, Any], search: SearchSpec | None, cells: list[TrialConfig]
) -> SchedulerSpec:
    keys(raw, "scheduler", ("name", "grace_period", "reduction_factor", "max_t", "metric"))
    name = raw.get("name", "fifo")
    if name not in SCHEDULERS:
        raise ConfigError(
            f"scheduler.name: invalid value {name!r} (allowed: {', '.join(SCHEDULERS.names())})"
        )
    spec = SchedulerSpec(
        name=name,
        grace_period=number(raw.get("grace_period", 1), "scheduler.grace_period", int),
        reduction_factor=number(raw.get("reduction_factor", 4), "scheduler.reduction_factor"),
        max_t=None if raw.get("max_t") is None else number(raw["max_t"], "scheduler.max_t", int),
        metric=raw.get("metric"),
    )
    if name == "asha":
        metric = spec.metric or (search.metric if search else None)
        if not isinstance(metric, str) or not metric.startswith("val_"):
            raise ConfigError(
                f"scheduler.metric: invalid value {metric!r} (allowed: a val_* metric; ASHA "
                f"stops trials on the validation holdout, never on the test set)"
            )
        if spec.grace_period < 1 or spec.reduction_factor <= 1:
            raise ConfigError("scheduler: grace_period must be >= 1 and reduction_factor > 1")
        for cell in cells:
            check_holdout(cell, "scheduler.metric")
    return spec


def parse_evaluate(
    raw: Mapping[str, Any] | None, search: SearchSpec | None, base: TrialConfig
) -> EvaluateSpec | None:
    if not raw:
        return None
    if search is None:
        raise ConfigError("evaluate: needs a search section (stage 2 re-trains stage 1's best)")
    keys(raw, "evaluate", ("seeds", "overrides"))
    seeds = raw.get("seeds")
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise ConfigError(
            f"evaluate.seeds: invalid value {seeds!r} (allowed: a non-empty list of integers)"
        )
    overrides = dict(raw.get("overrides") or {})
    try:
        base.with_overrides(overrides)
    except ConfigError as exc:
        raise ConfigError(f"evaluate.overrides: {exc}") from exc
    return EvaluateSpec(tuple(seeds), overrides)
