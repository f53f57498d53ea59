"""The driver's database writer (`study.orchestration.sql_writes.SqlStore`) against MLflow's
client (`run_writes.ClientStore`): the same trials written both ways, on SQLite and on a real
PostgreSQL, read back through MLflow must be the same runs."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from study import contract as c
from study.orchestration.run_writes import BatchWriter, ClientStore, RunStore, TrialRuns
from study.orchestration.sql_writes import SqlStore
from study.orchestration.tracking import Tracker
from study.orchestration.writer import NewRun, Pending
from study.training.config import TrialConfig
from tests.services import postgres

Update = Callable[[Pending], None]


def _epochs(*steps: int, ms: int = 1000, **extra: float) -> Update:
    def update(p: Pending) -> None:
        for s in steps:
            p.epochs.append((s, {"train_loss": 1.0 / s, "test_top1_error": 50.0 - s, **extra},
                             ms + s))  # fmt: skip
            p.nodes.append(f"node-{s // 3}")
            p.artifacts.append((s, f"epoch{s}.json", f'{{"epoch": {s}}}'.encode()))

    return update


def _status(status: str, **tags: str) -> Update:
    def update(p: Pending) -> None:
        p.tags.update(tags)
        p.status = status

    return update


def _restarted(p: Pending) -> None:
    p.started = True


# Each batch: trial id -> the updates queued for it, in order (as the callback queues them).
FIRST = [
    {"t1": [_restarted, _epochs(1, 2, nan_metric=math.nan, inf_metric=math.inf)],
     "t2": [_restarted, _epochs(1)], "t3": [_restarted, _epochs(1, 2, 3)]},
    {"t1": [_epochs(2, 3, ms=5000), _status("FINISHED", **{c.EARLY_STOPPED_TAG: "true"})],
     "t2": [_epochs(2), _status("FAILED")], "t3": [_epochs(4)]},
]  # fmt: skip
RESUMED = [  # a restored driver: t2 and t3 run again, re-sending what they reported
    {"t2": [_restarted, _epochs(1, 2, 3, 4, ms=9000)], "t3": [_restarted, _epochs(1, 2, 3, 4)]},
    {"t2": [_status("FINISHED")], "t3": [_epochs(5, ms=9000), _status("FINISHED")]},
]  # fmt: skip


def _write(store: Callable[[TrialRuns], RunStore], runs: TrialRuns, cfg: TrialConfig) -> None:
    tags = {c.STAGE_TAG: c.MAIN_STAGE, c.TRIAL_LABEL_TAG: "loss=ce"}
    for batches, find in ((FIRST, None), (RESUMED, runs.find)):
        writer = BatchWriter(store(runs), find)
        for batch in batches:
            pending = {}
            for trial_id, updates in batch.items():
                pending[trial_id] = Pending(NewRun(f"trial {trial_id}", cfg, tags))
                for update in updates:
                    update(pending[trial_id])
            writer.write(pending)


def _seen(tracker: Tracker, run: Any) -> dict[str, Any]:
    """What MLflow shows of a run, less what differs between two runs of the same trial."""
    from mlflow.artifacts import download_artifacts

    client, run_id = tracker.client, run.info.run_id
    info = run.info
    files = Path(download_artifacts(run_id=run_id, tracking_uri=tracker.uri, artifact_path=""))
    return {
        "info": (info.run_name, info.status, info.lifecycle_stage, info.user_id,
                 info.artifact_uri.endswith(f"/{run_id}/artifacts"), info.end_time is not None),
        "params": run.data.params,
        "tags": {k: v for k, v in run.data.tags.items() if k != c.PARENT_TAG},
        "metrics": {k: _v(v) for k, v in run.data.metrics.items()},
        "history": {k: [(m.step, m.timestamp, _v(m.value))
                        for m in client.get_metric_history(run_id, k)]
                    for k in run.data.metrics},
        "files": {p.name: p.read_bytes() for p in files.rglob("*") if p.is_file()},
    }  # fmt: skip


def _v(value: float) -> float | str:
    return "nan" if math.isnan(value) else value  # NaN equals itself here


@contextmanager
def _store_uri(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'mlflow.db'}"
    else:
        with postgres() as pg:
            yield pg.uri


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_database_writer_writes_what_mlflow_would(
    kind: str, tmp_path: Path, tiny_cfg: TrialConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # PostgreSQL's default artifact root: ./mlruns
    with _store_uri(kind, tmp_path) as uri:
        tracker = Tracker(uri, driver=True)
        assert tracker.engine() is not None
        seen = {}
        for name, store in (("client", ClientStore), ("sql", _sql(tracker))):
            experiment = tracker.experiment_id(name)
            parent = tracker.parent_run(experiment, "s", "hash", {"grid": {}})
            runs = TrialRuns(tracker, experiment, parent, "s", c.MAIN_STAGE)
            _write(store, runs, tiny_cfg)
            found = tracker.study_trials(experiment, "s", parent)
            seen[name] = {c.tags(r)[c.TRIAL_ID_TAG]: _seen(tracker, tracker.client.get_run(
                r.info.run_id)) for r in found}  # fmt: skip
    assert sorted(seen["sql"]) == ["t1", "t2", "t3"]
    for trial in ("t1", "t2", "t3"):
        assert seen["sql"][trial] == seen["client"][trial], trial
    t1, t3 = seen["sql"]["t1"], seen["sql"]["t3"]
    assert t1["metrics"]["nan_metric"] == "nan"
    assert t1["metrics"]["inf_metric"] == 1.7976931348623157e308  # MLflow's stand-in for inf
    assert [s for s, _, _ in t3["history"]["train_loss"]] == [1, 2, 3, 4, 5]  # each epoch once
    assert t3["tags"][c.NODE_HISTORY_TAG] == "node-0,node-1"
    assert t3["info"][1] == "FINISHED" and seen["sql"]["t2"]["info"][1] == "FINISHED"


def _sql(tracker: Tracker) -> Callable[[TrialRuns], RunStore]:
    return lambda runs: SqlStore(runs, tracker.engine())
