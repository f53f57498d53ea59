"""Loading a study: YAML (with `extends`) + `--set` overrides → validated, frozen `StudySpec`.

```yaml
name: quickstart                 # experiment name in MLflow, folder name in the Tune storage
description: free text
base: {data: {...}, loss: {name: ce}, optim: {...}, ...}   # a complete TrialConfig
grid:                            # dotted key → list of values; axes are crossed
  loss: [{name: ce}, {name: lace}]
  seed: [0, 1, 2]
resources: {cpu: 1, gpu: 0, max_concurrent_trials: null}
failure: {max_failures: 2}       # retries of a crashed trial, from its last checkpoint
checkpoint: {every_epochs: null, every_seconds: auto}   # when trials save (checkpointing.py)
```
and the tuning sections (`study.orchestration.spec.search`), `analysis` and `sequential`.

Every grid point is built and validated before anything runs; errors name the file, the dotted
key, the value and what is allowed. Paths are made absolute here, once: the stored study record
(`study.orchestration.record`) keeps them as resolved where the study started.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from study.errors import ConfigError, UserError
from study.orchestration.spec.model import StudySpec
from study.orchestration.spec.search import parse_evaluate, parse_scheduler, parse_search
from study.orchestration.spec.sections import (
    check_candidates,
    check_test_selection,
    parse_analysis,
    parse_checkpoint,
    parse_failure,
    parse_grid,
    parse_resources,
    parse_sequential,
    section,
)
from study.training.config import TrialConfig

SECTIONS = (
    "name", "description", "base", "grid", "search", "scheduler", "evaluate", "resources",
    "failure", "analysis", "checkpoint", "sequential",
)  # fmt: skip


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
    base = TrialConfig.from_dict(section(raw, "base"))
    if overrides:
        base = base.with_overrides(overrides)
    base = base.with_absolute_paths()
    grid = parse_grid(section(raw, "grid"))
    spec = StudySpec(
        name=name,
        description=str(raw.get("description", "")),
        base=base,
        grid=grid,
        resources=parse_resources(section(raw, "resources")),
        max_failures=parse_failure(section(raw, "failure")),
        checkpoint=parse_checkpoint(section(raw, "checkpoint")),
        source=source,
    )
    configs = []
    for point in spec.grid_points():
        try:
            configs.append(base.with_overrides(point))
        except ConfigError as exc:
            raise ConfigError(f"grid point {point}: {exc}") from exc
    search = parse_search(section(raw, "search"), configs) if raw.get("search") else None
    analysis = parse_analysis(section(raw, "analysis"))
    check_test_selection(analysis, configs)
    check_candidates(analysis, configs)
    sequential = (
        parse_sequential(section(raw, "sequential"), grid, analysis.reference, search is not None)
        if raw.get("sequential")
        else None
    )
    return dataclasses.replace(
        spec,
        search=search,
        scheduler=parse_scheduler(section(raw, "scheduler"), search, configs),
        evaluate=parse_evaluate(section(raw, "evaluate"), search, base),
        analysis=analysis,
        sequential=sequential,
        raw=dict(raw),
        overrides=dict(overrides or {}),
    )
