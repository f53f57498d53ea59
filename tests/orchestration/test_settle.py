"""Run settling (`study.orchestration.settle`): runs counted per stage, the ones left RUNNING
killed, and the parent run ended FINISHED, FAILED or KILLED with its summary note."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

from study import contract
from tests.orchestration.conftest import callback_for as _callback
from tests.orchestration.conftest import epoch_result as _epoch


def test_settle_counts_kills_the_left_running_and_ends_the_parent(tracked: Any) -> None:
    from study.orchestration.settle import settle

    store, exp_id, parent = tracked
    cb = _callback(store, exp_id, parent)
    trials = [
        SimpleNamespace(trial_id=f"t{i}", config={"overrides": {"loss": {"name": ls}, "seed": s}})
        for i, (ls, s) in enumerate(itertools.product(["ce", "lace"], [0, 1]))
    ]
    for i, trial in enumerate(trials[:3]):
        cb.on_trial_start(0, trials, trial)
        final = {**_epoch(1, final=True), "final_paper_top5_error": 4.0 + i}
        cb.on_trial_result(1, trials, trial, final if i < 2 else _epoch(1))
    for trial in trials[:2]:
        cb.on_trial_complete(2, trials, trial)
    cb.on_trial_complete(2, trials, trials[2])  # stopped early (by ASHA): no final metrics
    cb.on_trial_start(0, trials, trials[3])  # left RUNNING by a killed driver
    cb.get_state()
    counts = settle(store, exp_id, "m", {"main": 6}, parent, final=False)
    assert counts.finished == {"main": 3} and counts.errored == {"main": 0}
    found = store.read_trials(exp_id, "m", parent)
    runs = {r.data.tags[contract.TRIAL_LABEL_TAG]: r for r in found}
    assert runs["loss=lace,seed=1"].info.status == "KILLED"
    assert runs["loss=lace,seed=0"].data.tags[contract.EARLY_STOPPED_TAG] == "true"
    assert store.mlflow.get_run(parent).info.status == "RUNNING"  # not final yet
    settle(store, exp_id, "m", {"main": 6}, parent, final=True,
           summary=(["loss", "seed"], contract.PAPER_TOP5))  # fmt: skip
    ended = store.mlflow.get_run(parent)
    assert ended.info.status == "KILLED"  # 3 of 6 finished, none failed
    note = ended.data.tags[contract.NOTE_TAG]
    assert "main 3/6 finished" in note
    assert "| loss.name=ce | 2 | 4.500 ± 0.707 |" in note  # the stopped trial has no final metric


def test_settle_ends_a_complete_study_finished_and_one_with_errors_failed(tracked: Any) -> None:
    from study.orchestration.settle import settle

    store, exp_id, parent = tracked
    cb = _callback(store, exp_id, parent)
    trials = [SimpleNamespace(trial_id=f"t{i}", config={"overrides": {"seed": i}}) for i in (0, 1)]
    for trial in trials:
        cb.on_trial_start(0, trials, trial)
        cb.on_trial_result(1, trials, trial, _epoch(1, final=True))
        cb.on_trial_complete(1, trials, trial)
    cb.get_state()
    settle(store, exp_id, "m", {"main": 2}, parent, final=True)
    assert store.mlflow.get_run(parent).info.status == "FINISHED"
    cb.on_trial_error(2, trials, trials[1])
    cb.on_experiment_end(trials)
    settle(store, exp_id, "m", {"main": 2}, parent, final=True)
    assert store.mlflow.get_run(parent).info.status == "FAILED"
