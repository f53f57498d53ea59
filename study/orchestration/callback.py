"""Driver-side MLflow logging of a Tune experiment: one child run per Ray trial, found again by
trial id after a restore, each epoch logged once (a resumed trial re-sends what it reported
before: `study.orchestration.trainable`), artifacts logged with their epoch, and the node each
epoch ran on. The writes happen off Tune's event loop (`study.orchestration.writer`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from study import contract as c
from study.orchestration.run_writes import BatchWriter, ClientStore, TrialRuns
from study.orchestration.sql_writes import SqlStore
from study.orchestration.stages import TuneExperiment, trial_label
from study.orchestration.tracking import Tracker, metric_items
from study.orchestration.trainable import (
    ARTIFACT_PREFIX,
    BACKLOG_KEY,
    NODE_KEY,
    trial_name,
    trial_overrides,
)
from study.orchestration.writer import NewRun, Pending, RunWriter, now_ms


def _tune_callback_base() -> type:
    from ray.tune import Callback

    return Callback


class TrackingCallback(_tune_callback_base()):  # type: ignore[misc]
    """Driver-side MLflow logging: one child run per Ray trial, found again by trial id. The
    Tune event loop only queues; a `RunWriter` thread writes (`study.orchestration.writer`):
    on a tracking database in one transaction per batch (`sql_writes.SqlStore`), through a
    tracking server by MLflow's client (`run_writes.ClientStore`)."""

    def __init__(
        self,
        tracker: Tracker,
        experiment_id: str,
        parent_id: str,
        study: str,
        exp: TuneExperiment,
    ) -> None:
        self.tracker = tracker
        self.runs = TrialRuns(tracker, experiment_id, parent_id, study, exp.stage)
        self.base = exp.base
        self.tags = {c.STAGE_TAG: exp.stage, c.CELL_TAG: trial_label(exp.cell), **exp.tags}
        self._restored = False
        self._setup()

    def _setup(self) -> None:
        self._runs: dict[str, NewRun] = {}  # the trials running, and how their runs start
        self._final: dict[str, bool] = {}
        self._diverged: set[str] = set()  # trials whose last report says they diverged
        self._writer: RunWriter | None = None  # started at the first event

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles the run config; a restored callback starts a writer of its own and
        # looks its runs up again.
        skip = ("_runs", "_final", "_diverged", "_writer")
        state = {k: v for k, v in self.__dict__.items() if k not in skip}
        state["_restored"] = True
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    @property
    def writer(self) -> RunWriter:
        if self._writer is None:
            find = self.runs.find if self._restored else None
            engine = self.tracker.engine()
            store = SqlStore(self.runs, engine) if engine is not None else ClientStore(self.runs)
            self._writer = RunWriter(BatchWriter(store, find))
        return self._writer

    def _new_run(self, trial: Any) -> NewRun:
        if trial.trial_id not in self._runs:
            overrides = trial_overrides(trial.config)
            # a search trial's name shows its cell too (the cell is in its base config)
            cell = self.tags[c.CELL_TAG]
            self._runs[trial.trial_id] = NewRun(
                f"{cell} | {trial_name(trial)}" if cell else trial_name(trial),
                self.base.with_overrides(overrides),
                {**self.tags, c.TRIAL_LABEL_TAG: trial_label(overrides)},
            )
        return self._runs[trial.trial_id]

    def _submit(self, trial: Any, update: Callable[[Pending], None]) -> None:
        self.writer.submit(trial.trial_id, self._new_run(trial), update)

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._submit(trial, _start)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        arrived, node = now_ms(), result.get(NODE_KEY)
        epochs = [*json.loads(result.get(BACKLOG_KEY, "[]")), result]
        logged = [(int(e.get("epoch", 0)), metric_items(e), arrived) for e in epochs]
        files = [
            (int(e.get("epoch", 0)), k[len(ARTIFACT_PREFIX) :], base64.b64decode(v))
            for e in epochs
            for k, v in e.items()
            if k.startswith(ARTIFACT_PREFIX)
        ]
        # Tune keeps every trial's last result for the whole study: the files and re-sent
        # reports leave it once queued (Tune lets a callback change the result in place).
        for key in [k for k in result if k.startswith(ARTIFACT_PREFIX) or k == BACKLOG_KEY]:
            del result[key]
        self._final[trial.trial_id] = c.finished(result)
        if result.get(c.DIVERGED):
            self._diverged.add(trial.trial_id)
        self._submit(trial, lambda p: _add(p, logged, str(node) if node else "", files))

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        # stopped by ASHA before its last epoch
        tags = {c.EARLY_STOPPED_TAG: "true"} if not self._final.pop(trial.trial_id, True) else {}
        if trial.trial_id in self._diverged:  # a result at chance level (study.training.finals)
            self._diverged.discard(trial.trial_id)
            tags[c.DIVERGED_TAG] = "true"
        self._submit(trial, lambda p: _end(p, "FINISHED", tags))
        self._runs.pop(trial.trial_id, None)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._submit(trial, lambda p: _end(p, "FAILED", {}))

    def get_state(self) -> dict[str, Any] | None:
        # Called before Tune uploads its experiment snapshot: whatever the snapshot calls
        # finished is in MLflow first. Nothing to restore from (runs are found by trial id).
        if self._writer is not None:
            self._writer.flush()
        return None

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _start(p: Pending) -> None:
    # A trial Tune retries after an error, before the writer wrote that error, runs again:
    # its run is RUNNING, not FAILED (it ends with its next status).
    p.started = True
    p.status = None


def _add(
    p: Pending, epochs: list[tuple[int, dict[str, float], int]], node: str,
    files: list[tuple[int, str, bytes]],
) -> None:  # fmt: skip
    p.epochs += epochs
    p.nodes += [node] * bool(node)
    p.artifacts += files


def _end(p: Pending, status: str, tags: dict[str, str]) -> None:
    p.tags.update(tags)
    p.status = status
