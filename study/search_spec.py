"""The optional sections of a study YAML: `search`, `scheduler`, `evaluate`, `analysis`.

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
analysis: {reference: ce, metric: final_paper_top5_error, min_effect: 0.5}
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from study.config import TrialConfig
from study.errors import ConfigError

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
class AnalysisSpec:
    reference: str = "ce"
    metric: str = "final_paper_top5_error"
    min_effect: float = 0.5


def _keys(raw: Mapping[str, Any], section: str, allowed: Sequence[str]) -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{section}.{key}: unknown key (allowed: {', '.join(allowed)})")


def _number(value: Any, key: str, kind: type = float) -> Any:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(f"{key}: invalid value {value!r} (allowed: a {kind.__name__})")
    return kind(value)


def parse_distribution(raw: Any, key: str) -> Distribution:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key}: invalid value {raw!r} (allowed: a mapping with a type)")
    _keys(raw, key, ("type", "low", "high", "choices"))
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
        _number(raw.get("low"), f"{key}.low", num),
        _number(raw.get("high"), f"{key}.high", num),
    )
    if not low < high:
        raise ConfigError(f"{key}: low {low!r} must be below high {high!r}")
    if kind == "logfloat" and low <= 0:
        raise ConfigError(f"{key}.low: invalid value {low!r} (allowed: > 0 for logfloat)")
    return Distribution(kind, low, high)


def parse_search(raw: Mapping[str, Any], base: TrialConfig, cells: list[TrialConfig]) -> SearchSpec:
    from study.losses import list_losses

    _keys(raw, "search", ("params", "per_loss", "sampler", "num_samples", "metric", "mode",
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
    _keys(sampler_raw, "search.sampler", ("name", "seed", "multivariate", "constant_liar"))
    sampler = sampler_raw.get("name", "tpe")
    # the registries in study.searchers are the one list of names (imported here: it imports us)
    from study.searchers import SAMPLERS

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
    num_samples = _number(raw.get("num_samples", 8), "search.num_samples", int)
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
        sampler_seed=_number(sampler_raw.get("seed", 0), "search.sampler.seed", int),
        multivariate=bool(sampler_raw.get("multivariate", True)),
        constant_liar=bool(sampler_raw.get("constant_liar", True)),
        num_samples=num_samples, metric=metric, mode=mode,
        points_to_evaluate=None if points is None else tuple(dict(p) for p in points),
    )  # fmt: skip
    for cell in cells:
        _check_holdout(cell, "search.metric")
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
    _keys(raw, "scheduler", ("name", "grace_period", "reduction_factor", "max_t", "metric"))
    name = raw.get("name", "fifo")
    from study.searchers import SCHEDULERS

    if name not in SCHEDULERS:
        raise ConfigError(
            f"scheduler.name: invalid value {name!r} (allowed: {', '.join(SCHEDULERS.names())})"
        )
    spec = SchedulerSpec(
        name=name,
        grace_period=_number(raw.get("grace_period", 1), "scheduler.grace_period", int),
        reduction_factor=_number(raw.get("reduction_factor", 4), "scheduler.reduction_factor"),
        max_t=None if raw.get("max_t") is None else _number(raw["max_t"], "scheduler.max_t", int),
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
            _check_holdout(cell, "scheduler.metric")
    return spec


def parse_evaluate(
    raw: Mapping[str, Any] | None, search: SearchSpec | None, base: TrialConfig
) -> EvaluateSpec | None:
    if not raw:
        return None
    if search is None:
        raise ConfigError("evaluate: needs a search section (stage 2 re-trains stage 1's best)")
    _keys(raw, "evaluate", ("seeds", "overrides"))
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


def parse_analysis(raw: Mapping[str, Any]) -> AnalysisSpec:
    _keys(raw, "analysis", ("reference", "metric", "min_effect"))
    spec = AnalysisSpec(
        reference=str(raw.get("reference", "ce")),
        metric=str(raw.get("metric", "final_paper_top5_error")),
        min_effect=_number(raw.get("min_effect", 0.5), "analysis.min_effect"),
    )
    if spec.metric.startswith(("val_", "final_val_")):
        raise ConfigError(
            f"analysis.metric: invalid value {spec.metric!r} (allowed: a test or train metric; "
            f"the validation split was used for tuning)"
        )
    return spec


def _check_holdout(cfg: TrialConfig, key: str) -> None:
    if cfg.data.val_fraction <= 0:
        raise ConfigError(f"{key}: a val_* metric needs data.val_fraction > 0 in the base config")
