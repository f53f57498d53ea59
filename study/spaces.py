"""Study definitions: YAML → validated, frozen `StudySpec`.

```yaml
name: quickstart                 # experiment name in MLflow, folder name in the Tune storage
description: free text
base: {data: {...}, loss: {name: ce}, optim: {...}, ...}   # a complete TrialConfig
grid:                            # dotted key → list of values; axes are crossed
  loss: [{name: ce}, {name: lace}]
  seed: [0, 1, 2]
resources: {cpu: 1, gpu: 0, max_concurrent_trials: null}
failure: {max_failures: 2}       # retries of a crashed trial, from its last checkpoint
checkpoint: {every_epochs: null, every_seconds: auto}   # when trials save (study.checkpointing)
```

Every grid point is built and validated before anything runs; errors name the file, the dotted
key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from study.checkpointing import AUTO, CheckpointPolicy
from study.config import TrialConfig
from study.errors import ConfigError, UserError
from study.search_spec import (
    AnalysisSpec,
    EvaluateSpec,
    SchedulerSpec,
    SearchSpec,
    parse_analysis,
    parse_evaluate,
    parse_scheduler,
    parse_search,
)

SECTIONS = (
    "name", "description", "base", "grid", "search", "scheduler", "evaluate", "resources",
    "failure", "analysis", "checkpoint",
)  # fmt: skip


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
        }

    def spec_hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> StudySpec:
    """Read and validate a study YAML; `overrides` (dotted keys) change the base config."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such study file")
    try:
        return spec_from_dict(read_yaml(path), overrides, source=str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> Any:
    """Read a study YAML, resolving `extends: other.yaml` (relative to this file): the other
    file is read first and this one is merged over it (mappings merge, anything else
    replaces), so a smoke variant is a few lines over its full study."""
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: malformed YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(raw, dict) or "extends" not in raw:
        return raw
    parent = (path.parent / str(raw.pop("extends"))).resolve()
    if parent in seen or parent == path.resolve():
        raise ConfigError(f"{path}: extends: circular reference to {parent}")
    if not parent.is_file():
        raise ConfigError(f"{path}: extends: no such file {parent}")
    return _merge(read_yaml(parent, (*seen, path.resolve())), raw)


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return over


def spec_from_dict(
    raw: Any, overrides: Mapping[str, Any] | None = None, source: str = "<dict>"
) -> StudySpec:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"expected a mapping with keys {', '.join(SECTIONS)}, got {raw!r}")
    unknown = [k for k in raw if k not in SECTIONS]
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key (allowed: {', '.join(SECTIONS)})")
    name = raw.get("name")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError(f"name: invalid value {name!r} (allowed: letters, digits, - _ .)")
    base = TrialConfig.from_dict(_section(raw, "base"))
    if overrides:
        base = base.with_overrides(overrides)
    base = base.with_absolute_paths()
    grid = _grid(_section(raw, "grid"))
    spec = StudySpec(
        name=name,
        description=str(raw.get("description", "")),
        base=base,
        grid=grid,
        resources=_resources(_section(raw, "resources")),
        max_failures=_failure(_section(raw, "failure")),
        checkpoint=_checkpoint(_section(raw, "checkpoint")),
        source=source,
    )
    cells = []
    for point in spec.trial_overrides():
        try:
            cells.append(base.with_overrides(point))
        except ConfigError as exc:
            raise ConfigError(f"grid point {point}: {exc}") from exc
    search = parse_search(_section(raw, "search"), base, cells) if raw.get("search") else None
    return dataclasses.replace(
        spec,
        search=search,
        scheduler=parse_scheduler(_section(raw, "scheduler"), search, cells),
        evaluate=parse_evaluate(_section(raw, "evaluate"), search, base),
        analysis=parse_analysis(_section(raw, "analysis")),
        raw=dict(raw),
        overrides=dict(overrides or {}),
    )


def _section(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    return value


def _grid(raw: Mapping[str, Any]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for key, values in raw.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{key}: invalid value {values!r} (allowed: a non-empty list)")
        grid[str(key)] = values
    return grid


def _resources(raw: Mapping[str, Any]) -> Resources:
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


def _failure(raw: Mapping[str, Any]) -> int:
    for key in raw:
        if key != "max_failures":
            raise ConfigError(f"failure.{key}: unknown key (allowed: max_failures)")
    value = raw.get("max_failures", 2)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"failure.max_failures: invalid value {value!r} (allowed: >= 0)")
    return value


def _checkpoint(raw: Mapping[str, Any]) -> CheckpointPolicy:
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
