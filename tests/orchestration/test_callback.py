"""The driver's MLflow callback (`study.orchestration.callback`) on fake Tune trials, MLflow
in SQLite: each epoch logged once across a restored driver, an error and its retry."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from study import contract
from tests.orchestration.conftest import callback_for as _callback
from tests.orchestration.conftest import epoch_result as _epoch


def test_callback_logs_each_epoch_once_across_a_restored_driver(tracked: Any) -> None:
    import json

    from study.orchestration.reports import BACKLOG_KEY, HARDWARE_KEY, NODE_KEY

    store, exp_id, parent = tracked
    trial = SimpleNamespace(
        trial_id="abc", config={"overrides": {"loss": {"name": "lace"}, "seed": 1}}
    )
    cb = _callback(store, exp_id, parent)
    cb.on_trial_start(0, [trial], trial)
    cb.on_trial_result(1, [trial], trial, {**_epoch(1), NODE_KEY: "n1", HARDWARE_KEY: "cpu A"})
    cb.on_trial_result(2, [trial], trial, {**_epoch(2), NODE_KEY: "n1"})
    cb.get_state()  # Tune's snapshot: what was queued is written first
    # the driver dies; Tune restores the callback (run ids are looked up again) and the trial,
    # resumed from its state file on another node, re-sends what it reported, then goes on
    import pickle

    cb = pickle.loads(pickle.dumps(cb))
    resent = {**_epoch(2), NODE_KEY: "n2", BACKLOG_KEY: json.dumps([_epoch(1)])}
    cb.on_trial_result(3, [trial], trial, resent)
    cb.on_trial_result(4, [trial], trial, {**_epoch(3, final=True), NODE_KEY: "n2",
                                           HARDWARE_KEY: "gpu B"})  # fmt: skip
    cb.on_trial_complete(5, [trial], trial)
    cb.on_experiment_end([trial])
    (run,) = store.read_trials(exp_id, "m", parent)
    history = store.mlflow.get_metric_history(run.info.run_id, "train_loss")
    assert sorted(m.step for m in history) == [1, 2, 3]
    tags = run.data.tags
    assert (tags[contract.STAGE_TAG], tags[contract.GRID_POINT_TAG]) == (contract.MAIN_STAGE, "")
    assert tags[contract.TRIAL_LABEL_TAG] == "loss=lace,seed=1"
    assert tags[contract.NODE_HISTORY_TAG] == "n1,n2" and tags[contract.NODE_TAG] == "n2"
    assert tags[contract.HARDWARE_TAG] == "gpu B"  # where it ran last
    assert run.info.status == "FINISHED" and contract.EARLY_STOPPED_TAG not in tags


def test_an_error_and_the_retry_written_in_one_batch_leave_the_run_running(tracked: Any) -> None:
    store, exp_id, parent = tracked
    cb = _callback(store, exp_id, parent)
    trial = SimpleNamespace(trial_id="t0", config={"overrides": {"seed": 0}})
    cb.on_trial_start(0, [trial], trial)
    cb.on_trial_result(1, [trial], trial, _epoch(1))
    cb.get_state()  # written: the run is RUNNING with epoch 1
    with cb.writer._cond:  # the writer waits on this lock: both events reach it as one batch
        cb.on_trial_error(2, [trial], trial)
        cb.on_trial_start(3, [trial], trial)  # Tune retries the trial
    cb.get_state()
    (run,) = store.read_trials(exp_id, "m", parent)
    assert store.mlflow.get_run(run.info.run_id).info.status == "RUNNING"
    cb.on_trial_result(4, [trial], trial, _epoch(2, final=True))
    cb.on_trial_complete(4, [trial], trial)
    cb.on_experiment_end([trial])
    info = store.mlflow.get_run(run.info.run_id).info
    assert (info.status, info.end_time is not None) == ("FINISHED", True)
