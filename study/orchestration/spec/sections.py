"""The plain sections of a study YAML: `grid`, `resources`, `failure`, `checkpoint`, `analysis`,
`sequential`. Each section is its dataclass filled by `study.coerce.build` (types, ranges,
unknown keys); written here by hand are only the rules that span sections. Errors are one
line: `dotted.key: invalid value X (allowed: ...)`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from study import contract
from study.coerce import build, check
from study.errors import ConfigError
from study.orchestration.spec.model import AnalysisSpec, FailureSpec, Resources, SequentialSpec
from study.training.checkpointing import CheckpointPolicy
from study.training.config import TrialConfig


def section(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    return value


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
    return build(Resources, raw, "resources.")


def parse_failure(raw: Mapping[str, Any]) -> int:
    return build(FailureSpec, raw, "failure.").max_failures


def parse_checkpoint(raw: Mapping[str, Any]) -> CheckpointPolicy:
    return build(CheckpointPolicy, raw, "checkpoint.")


def parse_analysis(raw: Mapping[str, Any]) -> AnalysisSpec:
    return build(AnalysisSpec, raw, "analysis.")


def check_test_selection(analysis: AnalysisSpec, configs: Sequence[TrialConfig]) -> None:
    """Choosing an epoch or a learning rate by the test set is allowed only where the study
    says it does so (a faithful replication of a published method)."""
    if analysis.selects_on_test:
        return
    if contract.selects_on_test(analysis.metric):
        raise ConfigError(
            f"analysis.metric: invalid value {analysis.metric!r} (allowed: a metric that does "
            "not pick the best test epoch, unless analysis.selects_on_test: true)"
        )
    if any(c.schedule.name == "spinal_restart" and c.schedule.reads == "test" for c in configs):
        raise ConfigError(
            "schedule.reads: invalid value 'test' (allowed: val, unless "
            "analysis.selects_on_test: true)"
        )


def check_candidates(analysis: AnalysisSpec, configs: Sequence[TrialConfig]) -> None:
    """Every primary or claimed candidate is a loss of the grid (by its label, as tables
    print it: `focal(gamma=2.0)`), and every claim's setting matches a grid point."""
    if not analysis.primary:
        return
    flat = [c.to_flat_dict() for c in configs]
    labels = sorted({contract.loss_label(f) for f in flat} - {analysis.reference})
    for i, name in enumerate(analysis.primary):
        check(name in labels, f"analysis.primary.{i}", name, f"a candidate of the grid: "
              f"{', '.join(labels) or 'none'}")  # fmt: skip
    for i, claim in enumerate(analysis.claims):
        where = dict(claim.setting)
        unknown = [k for k in where if k not in flat[0]]
        check(not unknown, f"analysis.claims.{i}.setting", where, "dotted keys of the trial "
              "config (e.g. noise.rate)")  # fmt: skip
        matched = any(all(f[k] == v for k, v in where.items()) for f in flat)
        check(matched, f"analysis.claims.{i}.setting", where, "values of a grid point")


def check_holdout(cfg: TrialConfig, key: str) -> None:
    if cfg.data.val_fraction <= 0:
        raise ConfigError(f"{key}: a val_* metric needs data.val_fraction > 0 in the base config")


def parse_sequential(
    raw: Mapping[str, Any], grid: Mapping[str, Any], reference: str, searched: bool
) -> SequentialSpec:
    """`sequential: {looks: [3, 6, 10, 15, 20], alpha: 0.05, min_effect: 0.5}`: the seeds come
    from the looks, so the grid has no `seed` axis; the comparisons are every loss against
    the reference in each setting of the other axes."""
    spec = build(SequentialSpec, raw, "sequential.")
    if searched:
        raise ConfigError("sequential: not with a search section (it decides a grid's comparisons)")
    if "seed" in grid:
        raise ConfigError("grid.seed: a sequential study takes its seeds from sequential.looks")
    losses = [v.get("name") if isinstance(v, Mapping) else v for v in grid.get("loss", [])]
    if losses.count(reference) != 1 or len(losses) < 2:
        raise ConfigError(
            f"sequential: grid.loss must hold the reference {reference!r} once and a candidate"
        )
    return spec
