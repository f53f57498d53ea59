"""Validation of a study YAML's plain sections: `grid`, `resources`, `failure`, `checkpoint`,
`analysis`, and the helpers every section parser shares. Errors are one line:
`dotted.key: invalid value X (allowed: ...)`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from study import contract
from study.errors import ConfigError
from study.orchestration.spec.model import AnalysisSpec, Resources, SequentialSpec
from study.training.checkpointing import AUTO, CheckpointPolicy
from study.training.config import TrialConfig


def section(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    return value


def keys(raw: Mapping[str, Any], section: str, allowed: Sequence[str]) -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{section}.{key}: unknown key (allowed: {', '.join(allowed)})")


def number(value: Any, key: str, kind: type = float) -> Any:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(f"{key}: invalid value {value!r} (allowed: a {kind.__name__})")
    return kind(value)


def parse_grid(raw: Mapping[str, Any]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for key, values in raw.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{key}: invalid value {values!r} (allowed: a non-empty list)")
        seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
        repeated = [v for i, v in enumerate(values) if seen[i] in seen[:i]]
        if repeated:  # two identical trials would make the analysis's pairs not unique
            raise ConfigError(f"grid.{key}: invalid value {values!r} (allowed: distinct values; "
                              f"{repeated[0]!r} is repeated)")  # fmt: skip
        grid[str(key)] = values
    return grid


def parse_resources(raw: Mapping[str, Any]) -> Resources:
    allowed = ("cpu", "gpu", "max_concurrent_trials", "images_per_second")
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"resources.{key}: unknown key (allowed: {', '.join(allowed)})")
    cpu, gpu = raw.get("cpu", 1.0), raw.get("gpu", 0.0)
    limit = raw.get("max_concurrent_trials")
    if isinstance(cpu, bool) or not isinstance(cpu, int | float) or cpu <= 0:
        raise ConfigError(f"resources.cpu: invalid value {cpu!r} (allowed: a number > 0)")
    if isinstance(gpu, bool) or not isinstance(gpu, int | float) or gpu < 0:
        raise ConfigError(f"resources.gpu: invalid value {gpu!r} (allowed: a number >= 0)")
    if 1 < gpu != int(gpu):
        raise ConfigError(f"resources.gpu: invalid value {gpu!r} (allowed: <= 1 or an integer)")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(
            f"resources.max_concurrent_trials: invalid value {limit!r} (allowed: null or >= 1)"
        )
    ips = raw.get("images_per_second")
    if ips is not None and (isinstance(ips, bool) or not isinstance(ips, int | float) or ips <= 0):
        raise ConfigError(
            f"resources.images_per_second: invalid value {ips!r} (allowed: null or > 0)"
        )
    return Resources(float(cpu), float(gpu), limit, None if ips is None else float(ips))


def parse_failure(raw: Mapping[str, Any]) -> int:
    for key in raw:
        if key != "max_failures":
            raise ConfigError(f"failure.{key}: unknown key (allowed: max_failures)")
    value = raw.get("max_failures", 2)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"failure.max_failures: invalid value {value!r} (allowed: >= 0)")
    return value


def parse_checkpoint(raw: Mapping[str, Any]) -> CheckpointPolicy:
    for key in raw:
        if key not in ("every_epochs", "every_seconds"):
            raise ConfigError(
                f"checkpoint.{key}: unknown key (allowed: every_epochs, every_seconds)"
            )
    epochs = raw.get("every_epochs")
    seconds = raw.get("every_seconds", AUTO)
    whole = isinstance(epochs, int) and not isinstance(epochs, bool)
    if epochs is not None and not (whole and epochs >= 1):
        raise ConfigError(
            f"checkpoint.every_epochs: invalid value {epochs!r} (allowed: null or >= 1)"
        )
    number = isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0
    if not (seconds is None or seconds == AUTO or number):
        raise ConfigError(
            f"checkpoint.every_seconds: invalid value {seconds!r} (allowed: null, auto or > 0)"
        )
    return CheckpointPolicy(epochs, float(seconds) if number else seconds)


def parse_analysis(raw: Mapping[str, Any]) -> AnalysisSpec:
    keys(raw, "analysis", ("reference", "metric", "min_effect", "selects_on_test"))
    selects = raw.get("selects_on_test", False)
    if not isinstance(selects, bool):
        raise ConfigError(f"analysis.selects_on_test: invalid value {selects!r} "
                          "(allowed: true, false)")  # fmt: skip
    spec = AnalysisSpec(
        reference=str(raw.get("reference", "ce")),
        metric=str(raw.get("metric", contract.DEFAULT_METRIC)),
        min_effect=number(raw.get("min_effect", 0.5), "analysis.min_effect"),
        selects_on_test=selects,
    )
    if contract.selects_on_val(spec.metric):
        raise ConfigError(
            f"analysis.metric: invalid value {spec.metric!r} (allowed: a test or train metric; "
            f"the validation split was used for tuning)"
        )
    return spec


def check_test_selection(analysis: AnalysisSpec, cells: Sequence[TrialConfig]) -> None:
    """Choosing an epoch or a learning rate by the test set is allowed only where the study
    says it does so (a faithful replication of a published method)."""
    if analysis.selects_on_test:
        return
    if contract.selects_on_test(analysis.metric):
        raise ConfigError(
            f"analysis.metric: invalid value {analysis.metric!r} (allowed: a metric that does "
            "not pick the best test epoch, unless analysis.selects_on_test: true)"
        )
    if any(c.schedule.name == "spinal_restart" and c.schedule.reads == "test" for c in cells):
        raise ConfigError(
            "schedule.reads: invalid value 'test' (allowed: val, unless "
            "analysis.selects_on_test: true)"
        )


def check_holdout(cfg: TrialConfig, key: str) -> None:
    if cfg.data.val_fraction <= 0:
        raise ConfigError(f"{key}: a val_* metric needs data.val_fraction > 0 in the base config")


def parse_sequential(
    raw: Mapping[str, Any], grid: Mapping[str, Any], reference: str, searched: bool
) -> SequentialSpec:
    """`sequential: {looks: [3, 6, 10, 15, 20], alpha: 0.05, min_effect: 0.5}`: the seeds come
    from the looks, so the grid has no `seed` axis; the comparisons are every loss against
    the reference in each setting of the other axes."""
    from analysis.sequential import SPENDING

    keys(
        raw,
        "sequential",
        ("looks", "alpha", "min_effect", "spending", "beta_futility", "sd", "futility"),
    )
    futility = raw.get("futility", True)
    if not isinstance(futility, bool):
        raise ConfigError(f"sequential.futility: invalid value {futility!r} (allowed: true, false)")
    looks = raw.get("looks")
    whole = isinstance(looks, list) and all(
        isinstance(n, int) and not isinstance(n, bool) for n in looks
    )
    if not whole or not looks or looks[0] < 2 or any(b <= a for a, b in itertools.pairwise(looks)):
        raise ConfigError(
            f"sequential.looks: invalid value {looks!r} (allowed: increasing seed counts, "
            f"the first >= 2)"
        )
    spec = SequentialSpec(
        looks=tuple(looks),
        alpha=number(raw.get("alpha", 0.05), "sequential.alpha"),
        min_effect=number(raw.get("min_effect", 0.5), "sequential.min_effect"),
        spending=str(raw.get("spending", "obrien_fleming")),
        beta_futility=number(raw.get("beta_futility", 0.05), "sequential.beta_futility"),
        sd=None if raw.get("sd") is None else number(raw["sd"], "sequential.sd"),
        futility=futility,
    )
    for key in ("alpha", "beta_futility"):
        if not 0 < getattr(spec, key) < 1:
            raise ConfigError(f"sequential.{key}: invalid value {getattr(spec, key)!r} "
                              f"(allowed: in (0, 1))")  # fmt: skip
    if spec.min_effect <= 0 or (spec.sd is not None and spec.sd <= 0):
        raise ConfigError("sequential: min_effect and sd must be > 0")
    if spec.spending not in SPENDING:
        raise ConfigError(f"sequential.spending: invalid value {spec.spending!r} "
                          f"(allowed: {', '.join(SPENDING)})")  # fmt: skip
    if searched:
        raise ConfigError("sequential: not with a search section (it decides a grid's cells)")
    if "seed" in grid:
        raise ConfigError("grid.seed: a sequential study takes its seeds from sequential.looks")
    losses = [v.get("name") if isinstance(v, Mapping) else v for v in grid.get("loss", [])]
    if losses.count(reference) != 1 or len(losses) < 2:
        raise ConfigError(
            f"sequential: grid.loss must hold the reference {reference!r} once and a candidate"
        )
    return spec
