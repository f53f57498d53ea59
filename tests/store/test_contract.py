"""The store's contract, one suite over every implementation (`conftest.KINDS`): what a study
writes through a store (its experiment, parent run, trial runs in batches, files, decisions)
MLflow's own client reads back as written, and what the store reads in bulk is what MLflow's
client shows: runs (`search_runs`), curves (`get_metric_history`), files."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from study import contract as c
from study.orchestration.batches import BatchWriter
from study.orchestration.writer import Pending
from study.store import NewRun, RunRecord, Store
from tests.store.conftest import Opened

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
DECISIONS = {"tune": {"lr": 0.1}, c.look_key(1): {"ce vs lace": {"decision": "continue"}},
             c.look_key(2): {"ce vs lace": {"decision": "efficacy"}}}  # fmt: skip


def _new_run(parent: str, trial: str) -> NewRun:
    tags = {
        c.ROLE_TAG: c.TRIAL_ROLE,
        c.STUDY_TAG: "s",
        c.PARENT_TAG: parent,
        c.TRIAL_ID_TAG: trial,
        c.STAGE_TAG: c.MAIN_STAGE,
        c.TRIAL_LABEL_TAG: f"seed={trial}",
    }
    params = {"loss.name": "ce", "seed": trial, "long": "x" * (c.PARAM_CHARS + 10)}
    return NewRun(f"trial {trial}", tags, params, {c.CONFIG_FILE: b'{"seed": 1}'})  # fmt: skip


def write_study(store: Store, name: str) -> tuple[str, str]:
    """A study written as a driver writes it (two sessions, the second restored): its
    experiment and parent run ids."""
    exp = store.experiment_id(name)
    store.describe_experiment(exp, "what it tests")
    parent = store.parent_run(exp, "s", "hash", {c.GRID_AXES_TAG: '["seed"]'},
                              {"grid.seed": "[1, 2, 3]"}, {"name": "s"})  # fmt: skip

    def find() -> dict[str, RunRecord]:
        runs = store.read_trials(exp, "s", parent, params=False)
        return {r.data.tags[c.TRIAL_ID_TAG]: r for r in runs}

    for batches, found in ((FIRST, None), (RESUMED, find)):
        writer = BatchWriter(store, exp, found)
        for batch in batches:
            pending = {t: Pending(_new_run(parent, t)) for t in batch}
            for trial, updates in batch.items():
                for update in updates:
                    update(pending[trial])
            writer.write(pending)
    for key, value in DECISIONS.items():
        store.log_decision(parent, key, value)
    store.set_tags(parent, {c.NOTE_TAG: "done"})
    store.set_status(parent, "FINISHED")
    return exp, parent


@pytest.fixture(scope="module")
def written(opened: Opened) -> tuple[Opened, str, str]:
    return (opened, *write_study(opened.store, "written"))


def _view(run: Any) -> tuple[Any, ...]:
    """A run as a comparable tuple (a NaN metric as "nan")."""
    info, data = run.info, run.data
    metrics = {k: "nan" if v != v else v for k, v in data.metrics.items()}
    return (info.run_id, info.run_name, info.status, info.artifact_uri, info.start_time,
            dict(data.params), dict(data.tags), metrics)  # fmt: skip


def _trials(client: MlflowClient, exp: str, parent: str) -> dict[str, Any]:
    runs = client.search_runs([exp], f"tags.`{c.PARENT_TAG}` = '{parent}'")
    return {r.data.tags[c.TRIAL_ID_TAG]: r for r in runs}


def test_trial_runs_written_in_batches_read_back_as_written(written: Any) -> None:
    opened, exp, parent = written
    client = MlflowClient(opened.truth)
    runs = _trials(client, exp, parent)
    assert sorted(runs) == ["t1", "t2", "t3"]
    assert {r.info.status for r in runs.values()} == {"FINISHED"}  # t2 failed, then resumed
    t1, t3 = runs["t1"], runs["t3"]
    assert t1.data.tags[c.EARLY_STOPPED_TAG] == "true" and t1.info.end_time is not None
    assert math.isnan(t1.data.metrics["nan_metric"])
    assert t1.data.metrics["inf_metric"] == 1.7976931348623157e308  # MLflow's stand-in for inf
    history = client.get_metric_history(t3.info.run_id, "train_loss")
    assert sorted(m.step for m in history) == [1, 2, 3, 4, 5]  # each epoch once
    assert t3.data.tags[c.NODE_HISTORY_TAG] == "node-0,node-1"
    assert t3.data.tags[c.NODE_TAG] == "node-1" and t3.data.tags["mlflow.runName"] == "trial t3"
    assert t3.data.params["long"] == "x" * c.PARAM_CHARS  # MLflow's limit
    store = opened.store
    files = store.list_files(t3.info.artifact_uri, "")
    assert files == sorted([c.CONFIG_FILE, *(f"epoch{s}.json" for s in range(1, 6))])
    assert store.read_file(t3.info.artifact_uri, "epoch5.json") == b'{"epoch": 5}'
    assert store.read_file(t3.info.artifact_uri, "nothing.json") is None


def test_the_parent_run_is_found_by_study_and_spec_hash(written: Any) -> None:
    opened, exp, parent = written
    store = opened.store
    found = store.find_parent(exp, "s", "hash")
    assert found is not None and found.info.run_id == parent
    assert found.info.status == "FINISHED" and found.data.tags[c.NOTE_TAG] == "done"
    spec = store.read_file(found.info.artifact_uri, c.SPEC_FILE)
    assert spec is not None and json.loads(spec) == {"name": "s"}
    assert found.data.params == {"grid.seed": "[1, 2, 3]"}
    assert store.find_parent(exp, "s", "other") is None and store.find_parent(exp, "x") is None
    assert store.read_decisions(found) == DECISIONS
    assert store.find_experiment("written") == exp and "written" in store.experiment_names()
    # a resumed study reuses its parent run; another spec gets its own, the latest by name
    assert store.parent_run(exp, "s", "hash", {}, {}, {"name": "s"}) == parent
    other = store.parent_run(exp, "s", "other", {}, {}, {"name": "s"})
    assert other != parent and store.find_parent(exp, "s").info.run_id == other


def test_runs_read_in_bulk_equal_what_search_runs_gives(written: Any) -> None:
    opened, exp, parent = written
    store, client = opened.store, MlflowClient(opened.truth)
    wanted = {c.ROLE_TAG: c.TRIAL_ROLE, c.PARENT_TAG: parent}
    where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in wanted.items())
    shown = sorted(_view(r) for r in client.search_runs([exp], where))
    got = sorted(_view(r) for r in store.read_runs(exp, wanted))
    assert len(got) == 3 and got == shown
    assert sorted(_view(r) for r in store.read_trials(exp, "s", parent)) == shown
    assert store.read_trials(exp, "s", parent, stage="other") == []
    # asked for less, a store gives at least what was asked, as MLflow shows it
    few = store.read_runs(exp, wanted, params=False, only={"tags": [c.STUDY_TAG]})
    assert all(r.data.tags[c.STUDY_TAG] == "s" for r in few)
    assert sorted(r.info.run_id for r in few) == [v[0] for v in shown]


def test_curves_read_in_bulk_equal_what_get_metric_history_gives(written: Any) -> None:
    opened, exp, parent = written
    store, client = opened.store, MlflowClient(opened.truth)
    runs = [r.info.run_id for r in _trials(client, exp, parent).values()]
    keys = ["train_loss", "nan_metric", "absent"]
    shown = sorted(
        (r, k, m.step, "nan" if m.value != m.value else m.value, m.timestamp)
        for r in runs
        for k in keys
        for m in client.get_metric_history(r, k)
    )
    frame = store.read_histories({r: keys for r in runs}, steps=5)
    assert list(frame.columns) == ["run_id", "metric", "step", "value", "timestamp"]
    got = sorted((r, k, int(s), "nan" if v != v else v, int(t))
                 for r, k, s, v, t in frame.itertuples(index=False))  # fmt: skip
    assert got == shown and len(got) == 3 + 4 + 5 + 2  # train_loss, then NaN twice (t1)


def test_a_deleted_run_and_a_restored_experiment(opened: Opened) -> None:
    store = opened.store
    exp, parent = write_study(store, "deleted")
    client = MlflowClient(opened.truth)
    doomed = _trials(client, exp, parent)["t2"].info.run_id
    client.delete_run(doomed)
    left = store.read_trials(exp, "s", parent)
    assert sorted(r.data.tags[c.TRIAL_ID_TAG] for r in left) == ["t1", "t3"]
    client.delete_experiment(exp)
    assert store.experiment_id("deleted") == exp  # restored, not created again
    assert client.get_experiment(exp).lifecycle_stage == "active"
