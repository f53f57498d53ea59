"""Build, run and resume a study's Ray Tune experiments (see `study.stages`).

One trial = one call of `study.trial.run_trial` inside a Tune function trainable; every epoch
it reports metrics, then saves its state in the study storage, so a crashed trial retries from
its last epoch (see `_trainable`). MLflow is written only from the driver, by
`TrackingCallback`. Running the same study again resumes it (`Tuner.restore` of every
experiment, then the next stage); the study is the record `study.record` stored when it
started, and a different spec under the same name is refused.
"""

from __future__ import annotations

import base64
import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from study.checkpointing import CheckpointPolicy
from study.config import TrialConfig
from study.errors import UserError
from study.progress import ProgressCallback
from study.record import StudyRecord, check_same_spec, has_record, load_record, new_record
from study.record import save_record as save_study_record
from study.searchers import build_scheduler, build_search, sampler_settings
from study.signals import terminate_like_interrupt
from study.spaces import StudySpec
from study.stages import (
    TunerPlan,
    evaluate_stage,
    expected_trials,
    first_stage,
    trial_label,
)
from study.storage import Storage
from study.tracking import NOTE_TAG, Tracker, metric_items, summary_note
from study.trial import checkpoint_bytes, checkpoint_from_bytes, run_trial

BEST_FILE = "stage1_best.json"
STATES_FOLDER = "trial_states"
BACKLOG_KEY = "lossbench_backlog"  # earlier reports re-sent by a resumed trial (JSON list)
ARTIFACT_PREFIX = "artifact:"
NODE_KEY = "lossbench_node_id"


@dataclass(frozen=True)
class StudyOutcome:
    name: str
    experiment_id: str
    parent_run_id: str
    tracking_uri: str
    storage: Storage
    expected: dict[str, int]  # trials per stage
    finished: dict[str, int]
    errored: dict[str, int]
    final: list[dict[str, Any]] = field(default_factory=list)  # compared stage: overrides+finals

    @property
    def complete(self) -> bool:
        return all(self.finished.get(s, 0) == n for s, n in self.expected.items())


def trial_overrides(config: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's overrides: the fixed grid point plus the searcher's suggestions."""
    out = dict(config.get("overrides", {}))
    out.update({k: v for k, v in config.items() if k != "overrides"})
    return out


def _trial_name(trial: Any) -> str:
    return f"{_trial_label(trial)}_{trial.trial_id}"


def _trial_label(trial: Any) -> str:
    return trial_label(trial_overrides(trial.config))


def _trainable(
    config: dict[str, Any],
    base: TrialConfig,
    states: Storage,
    policy: CheckpointPolicy,
    gpu_share: float = 0.0,
) -> None:
    """Tune function trainable: resume from the trial's own state file if any, report every
    epoch, then save the state (model, optimiser, RNG and every report sent so far) when the
    study's checkpoint policy says so (`study.checkpointing`).

    The state file `<states>/<trial id>.pt`, in the study's shared storage, is the one source
    of truth for resuming, and Tune keeps no checkpoint. Tune deletes an old checkpoint before
    its experiment snapshot names the new one, so a driver killed in between left a trial that
    pointed at a deleted checkpoint and could never resume; our file is replaced atomically
    and is always the last epoch saved. On resume, every report sent before is sent again in
    one result (the driver logs the epochs it lacks and skips the rest), so an epoch reported
    just before a crash is never lost; epochs after the state are trained again (identically).
    """
    import torch
    from ray import tune

    if 0 < gpu_share < 1 and torch.cuda.is_available():
        # Packed trials: Ray shares the device but does not police memory; cap this process's
        # caching allocator at its share so that one trial cannot starve the others.
        torch.cuda.set_per_process_memory_fraction(gpu_share)

    import ray

    cfg = base.with_overrides(trial_overrides(config))
    node_id = ray.get_runtime_context().get_node_id()
    state_file = f"{tune.get_context().get_trial_id()}.pt"
    state = (
        checkpoint_from_bytes(states.read_bytes(state_file))
        if states.exists(state_file)
        else None
    )
    sent: list[dict[str, Any]] = list(state["reports"]) if state else []
    if sent:
        tune.report({**sent[-1], NODE_KEY: node_id, BACKLOG_KEY: json.dumps(sent[:-1])})
    if state is not None and state.get("finished"):
        return  # the driver died after the last epoch was saved: nothing left to train

    def report(
        metrics: dict[str, float], trial_state: dict[str, Any], artifacts: dict[str, bytes]
    ) -> None:
        # Files travel to the driver inside the result (base64): workers never need access to
        # the tracking store, and a file is logged by the driver together with its epoch.
        result: dict[str, Any] = dict(metrics)
        result.update(
            {ARTIFACT_PREFIX + k: base64.b64encode(v).decode() for k, v in artifacts.items()}
        )
        # where this epoch ran (tagged on the run by the driver)
        tune.report({**result, NODE_KEY: node_id})
        sent.append(result)
        epoch, last_epoch = int(metrics["epoch"]), cfg.schedule.epochs
        if not policy.due(epoch, last_epoch, time.monotonic() - saved[0], saved[1]):
            return
        # Report, then save: a crash in between trains this epoch again and re-sends it.
        # After the last epoch only the reports are kept (no tensors: ~1 % of the size).
        start = time.monotonic()
        last = epoch == last_epoch
        kept = {"reports": sent, "finished": True} if last else {**trial_state, "reports": sent}
        states.write_bytes(checkpoint_bytes(kept), state_file)
        end = time.monotonic()
        saved[:] = [end, end - start]

    saved = [time.monotonic(), 0.0]  # when the last save ended, what it took
    run_trial(cfg, report, state)


def _tune_callback_base() -> type:
    from ray.tune import Callback

    return Callback


class TrackingCallback(_tune_callback_base()):  # type: ignore[misc]
    """Driver-side MLflow logging: one child run per Ray trial, found again by trial id."""

    def __init__(
        self,
        tracker: Tracker,
        experiment_id: str,
        parent_id: str,
        study: str,
        plan: TunerPlan,
    ) -> None:
        self.tracker = tracker
        self.experiment_id = experiment_id
        self.parent_id = parent_id
        self.study = study
        self.base = plan.base
        self.tags = {"stage": plan.stage, "cell": trial_label(plan.cell)}
        self._runs: dict[str, str] = {}
        self._last_step: dict[str, int] = {}
        self._final: dict[str, bool] = {}
        self._nodes: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles the run config; run ids are looked up again after a restore.
        state = dict(self.__dict__)
        state["_runs"], state["_last_step"], state["_final"], state["_nodes"] = {}, {}, {}, {}
        return state

    def _run_id(self, trial: Any) -> str:
        if trial.trial_id not in self._runs:
            overrides = trial_overrides(trial.config)
            run_id = self.tracker.trial_run(
                self.experiment_id,
                self.parent_id,
                self.study,
                trial.trial_id,
                # a search trial's name shows its cell too (the cell is in its base config)
                f"{self.tags['cell']} | {_trial_name(trial)}"
                if self.tags["cell"]
                else _trial_name(trial),
                self.base.with_overrides(overrides),
                {**self.tags, "trial_label": trial_label(overrides)},
            )
            self._runs[trial.trial_id] = run_id
            self._last_step[trial.trial_id] = self.tracker.last_step(run_id)
        return self._runs[trial.trial_id]

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._run_id(trial)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        for earlier in json.loads(result.get(BACKLOG_KEY, "[]")):
            self._log(trial, {**earlier, NODE_KEY: result.get(NODE_KEY)})
        self._log(trial, result)

    def _log(self, trial: Any, result: dict[str, Any]) -> None:
        run_id = self._run_id(trial)
        step = int(result.get("epoch", 0))
        self._final[trial.trial_id] = "final_paper_top5_error" in result
        if step <= self._last_step[trial.trial_id]:
            return  # re-sent after a retry: already logged
        node = result.get(NODE_KEY)
        if node and self._nodes.get(trial.trial_id) != node:  # first epoch, or moved by a retry
            seen = self.tracker.client.get_run(run_id).data.tags.get("ray.node_history", "")
            history = ",".join(dict.fromkeys([*filter(None, seen.split(",")), str(node)]))
            self.tracker.set_tags(run_id, {"ray.node_id": str(node), "ray.node_history": history})
            self._nodes[trial.trial_id] = str(node)
        self.tracker.log_metrics(run_id, metric_items(result), step)
        for key, value in result.items():
            if key.startswith(ARTIFACT_PREFIX):
                name = key[len(ARTIFACT_PREFIX) :]
                self.tracker.log_bytes(run_id, base64.b64decode(value), name)
        self._last_step[trial.trial_id] = step

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        run_id = self._run_id(trial)
        if not self._final.get(trial.trial_id, True):
            self.tracker.set_tags(run_id, {"early_stopped": "true"})  # stopped by ASHA
        self.tracker.set_status(run_id, "FINISHED")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.tracker.set_status(self._run_id(trial), "FAILED")


def run_study(
    spec: StudySpec,
    tracking_uri: str,
    storage: Storage,
    address: str | None = None,
    verbose: bool = False,
) -> StudyOutcome:
    """Run (or resume) every stage of `spec` under Ray Tune, tracking it in MLflow. The
    console shows one line per finished trial (`study.progress`); `verbose`: Ray's tables."""
    check_same_spec(storage, spec)

    tracker = Tracker(tracking_uri)
    experiment_id = tracker.experiment_id(spec.name)
    tracker.describe_experiment(experiment_id, spec.description)
    parent_id = tracker.parent_run(experiment_id, spec.name, spec.spec_hash(), spec.to_dict())
    if spec.search is not None:
        tracker.set_tags(parent_id, {"sampler": json.dumps(sampler_settings(spec.search))})
    _record_study(storage, spec, tracking_uri)
    if not verbose:
        # Ray's new output engine prints its experiment box and status table even at
        # verbose=0; its legacy reporter at verbose=0 prints nothing (Ray 2.60)
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"

    _init_ray(address)
    expected = expected_trials(spec)

    def run(plan: TunerPlan) -> Any:
        return _run_plan(plan, spec, storage, tracker, experiment_id, parent_id, verbose)

    try:
        grids = [run(plan) for plan in first_stage(spec)]
        done = _settle(tracker, experiment_id, spec.name, expected, parent_id, final=False)
        if spec.evaluate is not None and done.finished.get("tune") == expected["tune"]:
            best = _best_of_stage1(spec, grids, storage)
            grids = [run(evaluate_stage(spec, best))]
    except KeyboardInterrupt:
        # A second Ctrl-C (or SIGTERM) while Tune was stopping: leave no run RUNNING.
        _settle(tracker, experiment_id, spec.name, expected, parent_id, final=True)
        raise
    final = [
        {**trial_overrides(r.config or {}), **metric_items(r.metrics or {})}
        for grid in grids
        for r in grid
        if r.error is None and "final_paper_top5_error" in (r.metrics or {})
    ]
    outcome = _settle(
        tracker, experiment_id, spec.name, expected, parent_id, final=True,
        summary=(list(spec.grid), spec.analysis.metric),
    )  # fmt: skip
    return StudyOutcome(
        spec.name, experiment_id, parent_id, tracking_uri, storage, expected, outcome.finished,
        outcome.errored, final,
    )  # fmt: skip


def _progress(plan: TunerPlan, spec: StudySpec) -> ProgressCallback:
    metric = spec.search.metric if plan.stage == "tune" and spec.search else spec.analysis.metric
    stage = f"{plan.stage} [{trial_label(plan.cell)}]" if plan.cell else plan.stage
    return ProgressCallback(stage, plan.n_trials, metric, _trial_label)


def _run_plan(
    plan: TunerPlan,
    spec: StudySpec,
    storage: Storage,
    tracker: Tracker,
    experiment_id: str,
    parent_id: str,
    verbose: bool = False,
) -> Any:
    from ray import tune

    # A plain study is the Tune experiment `<storage>/<name>`; stages live inside that folder.
    storage_path, name = (
        (storage.uri(), spec.name) if not plan.key else (storage.uri(spec.name), plan.key)
    )
    path = f"{storage_path}/{name}"
    states = Storage(f"{path}/{STATES_FOLDER}")
    trainable = tune.with_resources(
        tune.with_parameters(
            _trainable,
            base=plan.base,
            states=states,
            policy=spec.checkpoint,
            gpu_share=spec.resources.gpu,
        ),
        {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu},
    )
    if tune.Tuner.can_restore(path):
        tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True)
        return tuner.fit()
    search = spec.search if plan.stage == "tune" else None
    # Early stopping only where it cannot bias the comparison: the search, or a plain study
    # that asks for it. The evaluate stage is always FIFO at full budget.
    asha = spec.scheduler.name == "asha" and plan.stage != "evaluate"
    metric = search.metric if search else (spec.scheduler.metric if asha else None)
    mode = search.mode if search else "min"
    tuner = tune.Tuner(
        trainable,
        param_space={"overrides": tune.grid_search(list(plan.grid))} if plan.grid else {},
        tune_config=tune.TuneConfig(
            search_alg=build_search(search, plan.base) if search else None,
            scheduler=(
                build_scheduler(spec.scheduler, plan.base.schedule.epochs, metric, mode)
                if asha
                else None
            ),
            num_samples=search.num_samples if search else 1,
            max_concurrent_trials=spec.resources.max_concurrent_trials,
            # a finished trial's worker process runs the next trial: imports and data caches
            # stay warm (the trainable keeps no state between calls)
            reuse_actors=True,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage_path,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            callbacks=[
                TrackingCallback(tracker, experiment_id, parent_id, spec.name, plan),
                *([] if verbose else [_progress(plan, spec)]),
            ],
            # Ray's tables print every trial's every result: only when asked for
            verbose=1 if verbose else 0,
        ),
    )
    return tuner.fit()


def _best_of_stage1(spec: StudySpec, grids: list[Any], storage: Storage) -> list[dict[str, Any]]:
    """Each cell's best searched values by the last reported search metric. Written once to
    `stage1_best.json` and read back on every restart: the record of the decision, so that a
    restored ResultGrid (whose order is not stable) cannot change the winners."""
    assert spec.search is not None
    if storage.exists(spec.name, BEST_FILE):
        stored: list[dict[str, Any]] = json.loads(storage.read_text(spec.name, BEST_FILE))
        return stored
    sign = 1.0 if spec.search.mode == "min" else -1.0
    keys_per_plan = [list(spec.search.params_for(p.base.loss.name)) for p in first_stage(spec)]
    best = []
    for grid, keys in zip(grids, keys_per_plan, strict=True):
        scored = []
        for result in grid:
            value = (result.metrics or {}).get(spec.search.metric)
            if result.error is None and isinstance(value, int | float) and math.isfinite(value):
                config = trial_overrides(result.config or {})
                chosen = {k: config[k] for k in keys}
                # ties (common on tiny data) are broken by the values themselves: deterministic
                scored.append((sign * float(value), json.dumps(chosen, sort_keys=True), chosen))
        if not scored:
            raise UserError(f"stage 1: no trial reported {spec.search.metric!r}")
        best.append(min(scored, key=lambda item: item[:2])[2])
    storage.write_text(json.dumps(best, indent=2), spec.name, BEST_FILE)
    return best


@dataclass(frozen=True)
class _Counts:
    finished: dict[str, int]
    errored: dict[str, int]


def _settle(
    tracker: Tracker,
    experiment_id: str,
    study: str,
    expected: dict[str, int],
    parent_id: str,
    final: bool,
    summary: tuple[list[str], str] | None = None,
) -> _Counts:
    """Count child runs per stage; runs left RUNNING (an interrupted fit) become KILLED, and at
    the end the parent becomes FINISHED, FAILED or KILLED. `summary` (grid axes, metric): also
    write the results per cell as the parent run's description."""
    finished: dict[str, int] = dict.fromkeys(expected, 0)
    errored: dict[str, int] = dict.fromkeys(expected, 0)
    runs = [
        r
        for r in tracker.find_runs(experiment_id, lossbench__role="trial", study=study)
        if r.data.tags.get("mlflow.parentRunId") == parent_id
    ]
    for run in runs:
        stage = run.data.tags.get("stage", "main")
        if run.info.status == "RUNNING":
            tracker.set_status(run.info.run_id, "KILLED")
        elif run.info.status == "FINISHED":
            finished[stage] = finished.get(stage, 0) + 1
        elif run.info.status == "FAILED":
            errored[stage] = errored.get(stage, 0) + 1
    if final:
        if all(finished.get(s, 0) == n for s, n in expected.items()):
            status = "FINISHED"
        elif any(errored.values()):
            status = "FAILED"
        else:
            status = "KILLED"
        if summary is not None:
            counts = {s: f"{finished.get(s, 0)}/{n} finished" for s, n in expected.items()}
            note = summary_note(study, runs, summary[0], summary[1], counts)
            tracker.set_tags(parent_id, {NOTE_TAG: note})
        tracker.set_status(parent_id, status)
    return _Counts(finished, errored)


def _record_study(storage: Storage, spec: StudySpec, tracking_uri: str) -> None:
    """Write the study record when it starts; a resume writes it again with its creation
    time and commit kept and the tracking URI it now uses (a moved server: `study status`
    finds the runs where they now are), which also brings a record of an older version up to
    date."""
    if not has_record(storage, spec.name):
        save_study_record(storage, new_record(spec, tracking_uri))
        return
    stored = load_record(storage, spec.name)
    save_study_record(
        storage, StudyRecord(stored.spec, tracking_uri, stored.created, stored.git_sha)
    )


def _init_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    # Trials run in Ray workers whose cwd is a scratch folder: every path we hand them is
    # absolute already; keep the worker's cwd where the driver was for anything else.
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(address="local", include_dashboard=False, log_to_driver=True)
    terminate_like_interrupt()  # ray.init replaced our SIGTERM handler with one that exits
