"""Shared by the orchestration tests: a study's experiment and parent run in SQLite (`tracked`),
its tracking callback on fake Tune trials, an epoch's report, and an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from study import contract
from study.orchestration.spec import spec_from_dict
from study.orchestration.stages import TuneExperiment

MAIN = {"name": "m", "base": {"data": {"name": "digits", "val_fraction": 0.2}},
        "grid": {"loss": [{"name": "ce"}, {"name": "lace"}], "seed": [0, 1, 2]}}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tracked(tmp_path: Path) -> Iterator[tuple[Any, str, str]]:
    from study.orchestration.run_tags import study_runs
    from study.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp_id, parent = study_runs(store, spec_from_dict(MAIN))
    yield store, exp_id, parent


def callback_for(store: Any, exp_id: str, parent: str) -> Any:
    from study.orchestration.callback import TrackingCallback

    spec = spec_from_dict(MAIN)
    exp = TuneExperiment("", contract.MAIN_STAGE, spec.base, tuple(spec.grid_points()))
    return TrackingCallback(store, exp_id, parent, spec.name, exp)


def epoch_result(n: int, final: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"epoch": n, "train_loss": 1.0 / n, "test_top1_error": 50.0 - n}
    if final:
        out[contract.FINISHED_METRIC] = 4.0
    return out
