"""What a run is created with: a trial run's tags (the schema of `study.contract`) and its
config as a file, and the code's commit (on the parent run too). Every store writes these
(`study.store`), so that each writes the same run."""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from study import contract as c
from study.coerce import flatten
from study.store import Store
from study.training.config import TrialConfig


@functools.cache  # the code of this process: asked once, not once per trial
def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


CONFIG_FILE = c.CONFIG_FILE


def trial_tags(
    parent_id: str, study: str, trial_id: str, cfg: TrialConfig,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:  # fmt: skip
    """A trial run's tags (`study.contract`): who it belongs to, its config's hash and the
    config values the UI filters on."""
    flat = cfg.to_flat_dict()
    return {
        c.ROLE_TAG: c.TRIAL_ROLE,
        c.STUDY_TAG: study,
        c.PARENT_TAG: parent_id,
        c.TRIAL_ID_TAG: trial_id,
        c.GIT_SHA_TAG: git_sha(),
        c.CONFIG_HASH_TAG: cfg.config_hash(),
        **{tag: str(flat[key]) for tag, key in c.TRIAL_TAG_KEYS.items()},
        c.NOISE_DRAW_SEED_TAG: str(cfg.noise_draw_seed),
        **dict(extra or {}),
    }


def config_file(cfg: TrialConfig) -> bytes:
    return json.dumps(cfg.to_dict(), indent=2).encode()


def study_runs(store: Store, spec: Any) -> tuple[str, str]:
    """The study's experiment (created, or restored, and described) and its parent run
    (reused when the same spec is resumed), with the code's commit, the grid's axes, the spec
    as params and as a file: their ids."""
    experiment_id = store.experiment_id(spec.name)
    store.describe_experiment(experiment_id, spec.description)
    as_dict = spec.to_dict()
    tags = {c.GIT_SHA_TAG: git_sha(), c.GRID_AXES_TAG: json.dumps(list(as_dict.get("grid", {})))}
    parent = store.parent_run(experiment_id, spec.name, spec.spec_hash(), tags,
                              flatten(as_dict), as_dict)  # fmt: skip
    return experiment_id, parent
