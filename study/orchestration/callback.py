"""Driver-side MLflow logging of a Tune experiment: one child run per Ray trial, found again by
trial id after a restore, each epoch logged once (a resumed trial re-sends what it reported
before: `study.orchestration.trainable`), artifacts logged with their epoch, and the node each
epoch ran on."""

from __future__ import annotations

import base64
import json
from typing import Any

from study import contract as c
from study.orchestration.stages import TuneExperiment, trial_label
from study.orchestration.tracking import Tracker, metric_items
from study.orchestration.trainable import (
    ARTIFACT_PREFIX,
    BACKLOG_KEY,
    NODE_KEY,
    trial_name,
    trial_overrides,
)


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
        exp: TuneExperiment,
    ) -> None:
        self.tracker = tracker
        self.experiment_id = experiment_id
        self.parent_id = parent_id
        self.study = study
        self.base = exp.base
        self.tags = {c.STAGE_TAG: exp.stage, c.CELL_TAG: trial_label(exp.cell), **exp.tags}
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
                f"{self.tags[c.CELL_TAG]} | {trial_name(trial)}"
                if self.tags[c.CELL_TAG]
                else trial_name(trial),
                self.base.with_overrides(overrides),
                {**self.tags, c.TRIAL_LABEL_TAG: trial_label(overrides)},
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
        self._final[trial.trial_id] = c.finished(result)
        if step <= self._last_step[trial.trial_id]:
            return  # re-sent after a retry: already logged
        node = result.get(NODE_KEY)
        if node and self._nodes.get(trial.trial_id) != node:  # first epoch, or moved by a retry
            seen = self.tracker.client.get_run(run_id).data.tags.get(c.NODE_HISTORY_TAG, "")
            history = ",".join(dict.fromkeys([*filter(None, seen.split(",")), str(node)]))
            self.tracker.set_tags(run_id, {c.NODE_TAG: str(node), c.NODE_HISTORY_TAG: history})
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
            self.tracker.set_tags(run_id, {c.EARLY_STOPPED_TAG: "true"})  # stopped by ASHA
        self.tracker.set_status(run_id, "FINISHED")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.tracker.set_status(self._run_id(trial), "FAILED")
