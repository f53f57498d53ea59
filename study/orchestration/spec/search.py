"""The tuning sections of a study YAML: `search`, `scheduler`, `evaluate`, each its dataclass
filled by `study.coerce.build`; written here by hand are the rules that span sections.

```yaml
search:                       # Optuna, per grid point (e.g. per loss), same budget for each
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
evaluate: {seeds: [0, 1, 2, 3, 4], overrides: {data.val_fraction: 0.0}}       # stage `evaluate`
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from study.coerce import build, check
from study.errors import ConfigError
from study.orchestration.spec.model import EvaluateSpec, SchedulerSpec, SearchSpec
from study.orchestration.spec.sections import check_holdout
from study.orchestration.spec.translate import SAMPLERS, SCHEDULERS
from study.training.config import TrialConfig


def parse_search(raw: Mapping[str, Any], configs: list[TrialConfig]) -> SearchSpec:
    """The `search` section, then what spans sections: known losses and samplers, a holdout in
    every grid point, and every searched value valid in every grid point."""
    from study.training.losses import list_losses

    spec = build(SearchSpec, raw, "search.")
    for loss in spec.per_loss:
        if loss not in list_losses():
            raise ConfigError(
                f"search.per_loss.{loss}: unknown loss (known: {', '.join(list_losses())})"
            )
    check(spec.sampler.name in SAMPLERS, "search.sampler.name", spec.sampler.name,
          ", ".join(SAMPLERS.names()))  # fmt: skip
    for cfg in configs:
        check_holdout(cfg, "search.metric")
        space = spec.params_for(cfg.loss.name)
        for key, dist in space.items():
            for value in dist.extremes():
                try:
                    cfg.with_overrides({key: value})
                except ConfigError as exc:
                    raise ConfigError(f"search.params.{key}: {exc}") from exc
        for point in spec.points_to_evaluate or ():
            extra = [k for k in point if k not in space]
            if extra:
                raise ConfigError(f"search.points_to_evaluate: {extra[0]!r} is not a searched key")
    return spec


def parse_scheduler(
    raw: Mapping[str, Any], search: SearchSpec | None, configs: list[TrialConfig]
) -> SchedulerSpec:
    spec = build(SchedulerSpec, raw, "scheduler.")
    check(spec.name in SCHEDULERS, "scheduler.name", spec.name, ", ".join(SCHEDULERS.names()))
    if spec.name == "asha":
        metric = spec.metric or (search.metric if search else None)
        if not isinstance(metric, str) or not metric.startswith("val_"):
            raise ConfigError(
                f"scheduler.metric: invalid value {metric!r} (allowed: a val_* metric; ASHA "
                f"stops trials on the validation holdout, never on the test set)"
            )
        for cfg in configs:
            check_holdout(cfg, "scheduler.metric")
    return spec


def parse_evaluate(
    raw: Mapping[str, Any] | None, search: SearchSpec | None, base: TrialConfig
) -> EvaluateSpec | None:
    if not raw:
        return None
    if search is None:
        raise ConfigError(
            "evaluate: needs a search section (it re-trains the best of the `tune` stage)"
        )
    spec = build(EvaluateSpec, raw, "evaluate.")
    overrides = dict(spec.overrides)
    try:
        base.with_overrides(overrides)
    except ConfigError as exc:
        raise ConfigError(f"evaluate.overrides: {exc}") from exc
    return spec
