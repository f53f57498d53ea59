"""The orchestration without Ray running: every stage kind's contract over fake trial results,
decisions read back after a restart, the console's progress line and heartbeat (an injected
clock), the MLflow callback and run settling on fake Tune trials (MLflow in SQLite), and the
trainable's state keeping with a fake `report`."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from study import contract
from study.orchestration.spec import StudySpec, spec_from_dict
from study.orchestration.stages import (
    STAGES,
    StageContext,
    TrialResult,
    TuneExperiment,
    study_stages,
)
from study.orchestration.storage import Storage

# One study per stage kind that runs it, on the real registry's stages
DIGITS = {"data": {"name": "digits", "val_fraction": 0.2}}
LOSSES = [{"name": "ce"}, {"name": "lace"}, {"name": "focal"}]
SPECS: dict[str, dict[str, Any]] = {
    "main": {"name": "m", "base": DIGITS, "grid": {"loss": LOSSES[:2], "seed": [0, 1, 2]}},
    "tune": {
        "name": "t", "base": DIGITS, "grid": {"loss": LOSSES},
        "search": {"params": {"optim.lr": {"type": "logfloat", "low": 0.01, "high": 0.5}},
                   "per_loss": {"focal": {"loss.gamma": {"type": "float", "low": 0.0,
                                                         "high": 3.0}}},
                   "num_samples": 4},
        "evaluate": {"seeds": [0, 1, 2]},
    },
    "looks": {
        "name": "s", "base": DIGITS, "analysis": {"min_effect": 1.0},
        "grid": {"loss": LOSSES, "noise.rate": [0.0, 0.2]},
        "sequential": {"looks": [3, 6, 9]},
    },
}  # fmt: skip
SPECS["evaluate"] = SPECS["tune"]


def _value(point: Mapping[str, Any], salt: int) -> float:
    """A fake final metric: `lace` far better than `ce` (decided at the first look), `focal`
    the same as `ce` up to seed noise; `salt` changes every value (a second session)."""
    loss = str(point.get("loss", {}).get("name", "ce"))
    shift = {"ce": 0.0, "lace": -5.0, "focal": 0.0}.get(loss, 0.0)
    seed = int(point.get("seed", 0))
    return 20.0 + shift + ((seed * 7 + salt * 3) % 5) * 0.1 + float(point.get("noise.rate", 0))


def _fake_results(exp: TuneExperiment, spec: StudySpec, salt: int) -> list[TrialResult]:
    """What Tune would hand back for `exp`: every trial finished, with the metrics a stage
    reads (the search metric for a search, the study's metric otherwise)."""
    if exp.search is None:
        return [
            TrialResult(dict(p), {spec.analysis.metric: _value(p, salt), contract.FINISHED_METRIC:
                                  _value(p, salt)}, True)
            for p in exp.grid
        ]  # fmt: skip
    space = exp.search.params_for(exp.base.loss.name)
    out = []
    for i in range(exp.search.num_samples):
        suggested = {k: d.low + (d.high - d.low) * (i + salt) / 10 for k, d in space.items()}
        metric = 10.0 - i + salt  # a different winner in another session
        out.append(TrialResult(suggested, {exp.search.metric: metric}, True))
    return out


def _drive(spec: StudySpec, storage: Storage, salt: int = 0) -> tuple[StageContext, dict]:
    """The runner's loop over the stages, with fake results for every Tune experiment."""
    ctx = StageContext(spec, storage)
    ran: dict[str, list[TuneExperiment]] = {}
    for stage in study_stages(spec):
        ctx.results[stage.name], ran[stage.name] = [], []
        for experiments in stage.rounds(ctx):
            for exp in experiments:
                ran[stage.name].append(exp)
                ctx.results[stage.name].append(_fake_results(exp, spec, salt))
        ctx.complete[stage.name] = True
    return ctx, ran


@pytest.mark.parametrize("kind", STAGES.names())
def test_stage_contract(kind: str, tmp_path: Path) -> None:
    """`rounds()` yields what `expected()` counts (given its decisions), `expected()` without
    decisions is the most it can run, and `cost()` agrees with both."""
    spec = spec_from_dict(SPECS[kind])
    stage = STAGES.get(kind)
    assert stage.active(spec) and stage.name == kind
    assert stage.compared == contract.compared(kind)
    ctx, ran = _drive(spec, Storage.of(tmp_path))
    trials = sum(e.n_trials for e in ran[kind])
    assert all(e.stage == kind for e in ran[kind])
    assert trials == stage.expected(spec, ctx) > 0
    cost = stage.cost(spec)
    at_most = stage.expected(spec)
    assert sum(n for _, n in cost.trials) == at_most >= trials
    assert cost.experiments >= len(ran[kind])
    if not cost.bound:  # no early stop possible: exactly what runs
        assert (at_most, cost.experiments) == (trials, len(ran[kind]))


def test_a_sequential_stage_stops_decided_comparisons(tmp_path: Path) -> None:
    spec = spec_from_dict(SPECS["looks"])
    ctx, ran = _drive(spec, Storage.of(tmp_path))
    first = ctx.decision("look-3")
    assert {v["decision"] for k, v in first.items() if "lace" in k} == {"gain"}
    later = [p for e in ran["looks"][1:] for p in e.grid]
    assert later and not any(p["loss"]["name"] == "lace" for p in later)


@pytest.mark.parametrize("kind", ["tune", "looks"])
def test_decisions_are_read_back_after_a_restart(kind: str, tmp_path: Path) -> None:
    """A second session, whose trials report other values (a restored Tune experiment's order
    and results are not stable), runs exactly what the first decided."""
    spec, storage = spec_from_dict(SPECS[kind]), Storage.of(tmp_path)
    first, ran_first = _drive(spec, storage, salt=0)
    second, ran_second = _drive(spec, storage, salt=1)
    assert ran_second == ran_first
    assert second.used == first.used and first.used
    for key in first.used:
        assert second.decision(key) == first.decision(key)
    _, ran_fresh = _drive(spec, Storage.of(tmp_path / "fresh"), salt=1)
    if kind == "tune":  # the winners do depend on the values: the test can tell
        assert ran_fresh["evaluate"] != ran_first["evaluate"]


# --- the console --------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _trials(*status: str) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(trial_id=f"t{i}", status=s, config={"overrides": {"seed": i}},
                        last_result={"final_paper_top5_error": 5.0 + i})
        for i, s in enumerate(status)
    ]  # fmt: skip


def _label(trial: Any) -> str:
    return str(trial.trial_id)


def test_progress_lines_and_heartbeat() -> None:
    from study.orchestration.progress import HEARTBEAT_S, ProgressCallback

    out, clock = io.StringIO(), _Clock()
    cb = ProgressCallback("main", 4, contract.PAPER_TOP5, _label, out, clock)
    trials = _trials("RUNNING", "RUNNING", "PENDING", "PENDING")
    cb.on_step(0, trials)
    clock.now += HEARTBEAT_S - 1
    cb.on_step(1, trials)
    assert out.getvalue() == ""  # nothing finished, no heartbeat yet
    clock.now += 1
    cb.on_step(2, trials)
    assert out.getvalue().endswith("main 0/4 done (2 running), ETA ?\n")
    clock.now += 40  # 100 s after the start, the first trial ends: 3 left at that pace
    cb.on_trial_complete(3, trials, trials[0])
    assert (
        out.getvalue()
        .splitlines()[-1]
        .endswith("main 1/4 done (1 running), ETA 0:05:00 | t0: final_paper_top5_error 5")
    )
    trials[0].status = "TERMINATED"
    cb.on_trial_error(4, trials, trials[1])
    assert out.getvalue().splitlines()[-1].endswith("main 1/4 done (0 running, 1 failed), "
                                                    "ETA 0:05:00 | t1: FAILED")  # fmt: skip
    clock.now += 30
    cb.on_step(5, trials)
    assert len(out.getvalue().splitlines()) == 3  # a line was printed 30 s ago: no heartbeat


def test_a_restored_progress_callback_paces_this_session_only() -> None:
    import pickle

    from study.orchestration.progress import ProgressCallback

    clock = _Clock()
    cb = ProgressCallback("tune", 4, "val_top1_error", _label, None, clock)
    cb.on_step(0, _trials("TERMINATED", "RUNNING", "PENDING", "PENDING"))
    restored = pickle.loads(pickle.dumps(cb))
    restored.clock = clock
    restored.out = io.StringIO()
    trials = _trials("TERMINATED", "RUNNING", "PENDING", "PENDING")
    restored.on_step(1, trials)  # Tune steps before any trial of the new session ends
    clock.now += 50
    restored.on_trial_complete(2, trials, trials[1])
    # one trial finished in this session, in 50 s; the one from before does not count
    assert "tune 2/4 done (0 running), ETA 0:01:40" in restored.out.getvalue()


# --- the MLflow callback and run settling -------------------------------------------------


@pytest.fixture
def tracked(tmp_path: Path) -> Iterator[tuple[Any, str, str]]:
    from study.orchestration.tracking import Tracker

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    spec = spec_from_dict(SPECS["main"])
    exp_id = tracker.experiment_id(spec.name)
    parent = tracker.parent_run(exp_id, spec.name, spec.spec_hash(), spec.to_dict())
    yield tracker, exp_id, parent


def _callback(tracker: Any, exp_id: str, parent: str) -> Any:
    from study.orchestration.callback import TrackingCallback

    spec = spec_from_dict(SPECS["main"])
    exp = TuneExperiment("", contract.MAIN_STAGE, spec.base, tuple(spec.grid_points()))
    return TrackingCallback(tracker, exp_id, parent, spec.name, exp)


def _epoch(n: int, final: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"epoch": n, "train_loss": 1.0 / n, "test_top1_error": 50.0 - n}
    if final:
        out[contract.FINISHED_METRIC] = 4.0
    return out


def test_callback_logs_each_epoch_once_across_a_restored_driver(tracked: Any) -> None:
    import json

    from study.orchestration.trainable import BACKLOG_KEY, NODE_KEY

    tracker, exp_id, parent = tracked
    trial = SimpleNamespace(
        trial_id="abc", config={"overrides": {"loss": {"name": "lace"}, "seed": 1}}
    )
    cb = _callback(tracker, exp_id, parent)
    cb.on_trial_start(0, [trial], trial)
    cb.on_trial_result(1, [trial], trial, {**_epoch(1), NODE_KEY: "n1"})
    cb.on_trial_result(2, [trial], trial, {**_epoch(2), NODE_KEY: "n1"})
    cb.get_state()  # Tune's snapshot: what was queued is written first
    # the driver dies; Tune restores the callback (run ids are looked up again) and the trial,
    # resumed from its state file on another node, re-sends what it reported, then goes on
    import pickle

    cb = pickle.loads(pickle.dumps(cb))
    resent = {**_epoch(2), NODE_KEY: "n2", BACKLOG_KEY: json.dumps([_epoch(1)])}
    cb.on_trial_result(3, [trial], trial, resent)
    cb.on_trial_result(4, [trial], trial, {**_epoch(3, final=True), NODE_KEY: "n2"})
    cb.on_trial_complete(5, [trial], trial)
    cb.on_experiment_end([trial])
    (run,) = tracker.study_trials(exp_id, "m", parent)
    history = tracker.client.get_metric_history(run.info.run_id, "train_loss")
    assert sorted(m.step for m in history) == [1, 2, 3]
    tags = run.data.tags
    assert (tags[contract.STAGE_TAG], tags[contract.CELL_TAG]) == (contract.MAIN_STAGE, "")
    assert tags[contract.TRIAL_LABEL_TAG] == "loss=lace,seed=1"
    assert tags[contract.NODE_HISTORY_TAG] == "n1,n2" and tags[contract.NODE_TAG] == "n2"
    assert run.info.status == "FINISHED" and contract.EARLY_STOPPED_TAG not in tags


def test_settle_counts_kills_the_left_running_and_ends_the_parent(tracked: Any) -> None:
    from study.orchestration.settle import settle

    tracker, exp_id, parent = tracked
    cb = _callback(tracker, exp_id, parent)
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
    counts = settle(tracker, exp_id, "m", {"main": 6}, parent, final=False)
    assert counts.finished == {"main": 3} and counts.errored == {"main": 0}
    found = tracker.study_trials(exp_id, "m", parent)
    runs = {r.data.tags[contract.TRIAL_LABEL_TAG]: r for r in found}
    assert runs["loss=lace,seed=1"].info.status == "KILLED"
    assert runs["loss=lace,seed=0"].data.tags[contract.EARLY_STOPPED_TAG] == "true"
    assert tracker.client.get_run(parent).info.status == "RUNNING"  # not final yet
    settle(tracker, exp_id, "m", {"main": 6}, parent, final=True,
           summary=(["loss", "seed"], contract.PAPER_TOP5))  # fmt: skip
    ended = tracker.client.get_run(parent)
    assert ended.info.status == "KILLED"  # 3 of 6 finished, none failed
    note = ended.data.tags[contract.NOTE_TAG]
    assert "main 3/6 finished" in note
    assert "| loss.name=ce | 2 | 4.500 ± 0.707 |" in note  # the stopped trial has no final metric


def test_an_error_and_the_retry_written_in_one_batch_leave_the_run_running(tracked: Any) -> None:
    tracker, exp_id, parent = tracked
    cb = _callback(tracker, exp_id, parent)
    trial = SimpleNamespace(trial_id="t0", config={"overrides": {"seed": 0}})
    cb.on_trial_start(0, [trial], trial)
    cb.on_trial_result(1, [trial], trial, _epoch(1))
    cb.get_state()  # written: the run is RUNNING with epoch 1
    with cb.writer._cond:  # the writer waits on this lock: both events reach it as one batch
        cb.on_trial_error(2, [trial], trial)
        cb.on_trial_start(3, [trial], trial)  # Tune retries the trial
    cb.get_state()
    (run,) = tracker.study_trials(exp_id, "m", parent)
    assert tracker.client.get_run(run.info.run_id).info.status == "RUNNING"
    cb.on_trial_result(4, [trial], trial, _epoch(2, final=True))
    cb.on_trial_complete(4, [trial], trial)
    cb.on_experiment_end([trial])
    info = tracker.client.get_run(run.info.run_id).info
    assert (info.status, info.end_time is not None) == ("FINISHED", True)


def test_settle_ends_a_complete_study_finished_and_one_with_errors_failed(tracked: Any) -> None:
    from study.orchestration.settle import settle

    tracker, exp_id, parent = tracked
    cb = _callback(tracker, exp_id, parent)
    trials = [SimpleNamespace(trial_id=f"t{i}", config={"overrides": {"seed": i}}) for i in (0, 1)]
    for trial in trials:
        cb.on_trial_start(0, trials, trial)
        cb.on_trial_result(1, trials, trial, _epoch(1, final=True))
        cb.on_trial_complete(1, trials, trial)
    cb.get_state()
    settle(tracker, exp_id, "m", {"main": 2}, parent, final=True)
    assert tracker.client.get_run(parent).info.status == "FINISHED"
    cb.on_trial_error(2, trials, trials[1])
    cb.on_experiment_end(trials)
    settle(tracker, exp_id, "m", {"main": 2}, parent, final=True)
    assert tracker.client.get_run(parent).info.status == "FAILED"


def test_the_parent_run_is_found_by_study_and_spec_hash(tracked: Any) -> None:
    tracker, exp_id, parent = tracked
    spec = spec_from_dict(SPECS["main"])
    again = tracker.parent_run(exp_id, spec.name, spec.spec_hash(), spec.to_dict())
    assert again == parent  # a resumed study reuses its parent run
    other = tracker.parent_run(exp_id, spec.name, "another-hash", spec.to_dict())
    assert other != parent
    assert tracker.study_parent(exp_id, "m", spec.spec_hash()).info.run_id == parent
    assert tracker.study_parent(exp_id, "m").info.run_id == other  # by name: the latest
    assert tracker.study_parent(exp_id, "nope") is None


# --- the trainable's state file -----------------------------------------------------------


def test_state_keeper_saves_when_the_policy_says_and_keeps_only_reports_at_the_end(
    tmp_path: Path,
) -> None:
    from study.orchestration.trainable import NODE_KEY, StateKeeper
    from study.training.checkpointing import CheckpointPolicy
    from study.training.states import checkpoint_from_bytes

    sent: list[dict[str, Any]] = []
    states, clock = Storage.of(tmp_path), _Clock()
    keeper = StateKeeper(sent.append, "n1", [], states, "t.pt", CheckpointPolicy(2, None), 3,
                         clock)  # fmt: skip
    keeper({"epoch": 1.0}, {"model": 1}, {"a.txt": b"x"})
    assert not states.exists("t.pt")  # every 2 epochs
    assert sent[0][NODE_KEY] == "n1" and sent[0]["artifact:a.txt"] == "eA=="
    keeper({"epoch": 2.0}, {"model": 2}, {})
    saved = checkpoint_from_bytes(states.read_bytes("t.pt"))
    assert saved["model"] == 2 and [r["epoch"] for r in saved["reports"]] == [1.0, 2.0]
    keeper({"epoch": 3.0}, {"model": 3}, {})
    saved = checkpoint_from_bytes(states.read_bytes("t.pt"))
    assert saved["finished"] and "model" not in saved and len(saved["reports"]) == 3


def test_an_ended_trial_keeps_its_last_result_and_drops_its_metric_summaries() -> None:
    """On a real Tune `Trial` (Ray 2.60's fields: a Ray upgrade that renames them fails here)."""
    from ray.tune.experiment import Trial

    from study.orchestration.compact import CompactEndedTrials

    trial = Trial("fn", stub=True, config={"overrides": {"seed": 0}})
    for epoch in (1, 2):
        trial.update_last_result({"epoch": epoch, "train_loss": 1.0 / epoch,
                                  "training_iteration": epoch})  # fmt: skip
    assert trial.metric_analysis["train_loss"]["min"] == 0.5 and trial.metric_n_steps
    cb = CompactEndedTrials()
    cb.on_trial_complete(3, [trial], trial)
    assert trial.metric_analysis  # kept until the next step of Tune's loop
    cb.on_step_end(4, [trial])
    assert trial.metric_analysis == {} and trial.metric_n_steps == {}
    assert trial.last_result["train_loss"] == 0.5 and "epoch" in trial.last_result
    assert "_ended" in cb.__getstate__() and cb.__getstate__()["_ended"] == []


def test_a_grid_point_reaches_tune_as_one_preset_and_comes_back_whole() -> None:
    """A grid's points are Tune presets (one JSON value each, not a `grid_search` that Tune
    would copy whole per trial); the trial's overrides are the point again, plus any
    suggestion a searcher adds; an experiment stored with a dict point still reads."""
    from study.orchestration.spec.translate import build_grid
    from study.orchestration.trainable import trial_overrides

    points = ({"loss": {"name": "lace"}, "seed": 3, "optim.lr": 0.05}, {"seed": 4})
    generator = build_grid(points, max_concurrent=2)
    presets = list(generator._points_to_evaluate)
    assert [trial_overrides(p) for p in presets] == list(points)
    assert trial_overrides({**presets[0], "optim.wd": 0.1})["optim.wd"] == 0.1
    assert trial_overrides({"overrides": {"seed": 5}}) == {"seed": 5}
    assert generator.max_concurrent == 2
