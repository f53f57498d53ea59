"""Driver-side MLflow logging of a Tune experiment: one child run per Ray trial, found again by
trial id after a restore, each epoch logged once (a resumed trial re-sends what it reported
before: `study.orchestration.trainable`), artifacts logged with their epoch, and the node each
epoch ran on. The writes happen off Tune's event loop (`study.orchestration.writer`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from study import contract as c
from study.orchestration.batches import BatchWriter
from study.orchestration.reports import received
from study.orchestration.run_tags import CONFIG_FILE, config_file, trial_tags
from study.orchestration.stages import TuneExperiment, trial_label
from study.orchestration.trainable import trial_name, trial_overrides
from study.orchestration.tune_callback import TuneCallback
from study.orchestration.writer import Pending, RunWriter
from study.store import NewRun, RunRecord, Store, now_ms


class TrackingCallback(TuneCallback):
    """Driver-side MLflow logging: one child run per Ray trial, found again by trial id. The
    Tune event loop only queues; a `RunWriter` thread writes (`study.orchestration.writer`)
    to the study's store (`study.store`): on a tracking database one transaction per batch,
    through a tracking server by MLflow's client."""

    def __init__(
        self, store: Store, experiment_id: str, parent_id: str, study: str, exp: TuneExperiment,
    ) -> None:  # fmt: skip
        self.store, self.experiment_id = store, experiment_id
        self.parent_id, self.study, self.stage = parent_id, study, exp.stage
        self.base = exp.base
        self.tags = {c.STAGE_TAG: exp.stage, c.GRID_POINT_TAG: trial_label(exp.point), **exp.tags}
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
            find = self._find if self._restored else None
            self._writer = RunWriter(BatchWriter(self.store, self.experiment_id, find))
        return self._writer

    def _find(self) -> dict[str, RunRecord]:
        """The stage's trial runs, by Ray trial id, read in bulk."""
        runs = self.store.read_trials(self.experiment_id, self.study, self.parent_id,
                                      self.stage, params=False)  # fmt: skip
        return {r.data.tags[c.TRIAL_ID_TAG]: r for r in runs}

    def _new_run(self, trial: Any) -> NewRun:
        if trial.trial_id not in self._runs:
            overrides = trial_overrides(trial.config)
            # a tune or evaluate trial's name shows its grid point too (in its base config)
            point = self.tags[c.GRID_POINT_TAG]
            cfg = self.base.with_overrides(overrides)
            extra = {**self.tags, c.TRIAL_LABEL_TAG: trial_label(overrides)}
            self._runs[trial.trial_id] = NewRun(
                f"{point} | {trial_name(trial)}" if point else trial_name(trial),
                trial_tags(self.parent_id, self.study, trial.trial_id, cfg, extra),
                cfg.to_flat_dict(),
                {CONFIG_FILE: config_file(cfg)},
            )
        return self._runs[trial.trial_id]

    def _submit(self, trial: Any, update: Callable[[Pending], None]) -> None:
        self.writer.submit(trial.trial_id, self._new_run(trial), update)

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._submit(trial, _start)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        got = received(result, now_ms())
        self._final[trial.trial_id] = c.finished(result)
        if result.get(c.DIVERGED):
            self._diverged.add(trial.trial_id)
        tags = {c.HARDWARE_TAG: got.hardware} if got.hardware else {}  # a process's first
        self._submit(trial, lambda p: _add(p, got.epochs, got.node, got.files, tags))

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
    files: list[tuple[int, str, bytes]], tags: dict[str, str],
) -> None:  # fmt: skip
    p.epochs += epochs
    p.nodes += [node] * bool(node)
    p.artifacts += files
    p.tags.update(tags)


def _end(p: Pending, status: str, tags: dict[str, str]) -> None:
    p.tags.update(tags)
    p.status = status
