"""What the driver's MLflow writer does with a batch of queued runs (`BatchWriter`, on the
writer thread of `study.orchestration.writer`): for each run, what it still needs (created,
RUNNING again, its params, tags and the epochs waiting, its files, its status), skipping the
epochs a run of a restored trial already holds, handed to a `RunStore`:

* `ClientStore`: MLflow's client, call by call (one `log_batch` per run, split at MLflow's
  request limits), for a tracking server over HTTP;
* `study.orchestration.sql_writes.SqlStore`: the whole batch in one transaction on the
  tracking database (SQLite, PostgreSQL), as MLflow's own store would write it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from study import contract as c
from study.orchestration.tracking import Tracker
from study.orchestration.writer import NewRun, Pending

Epochs = list[tuple[int, dict[str, float], int]]  # step, metrics, time (ms)
Params = dict[str, Any]


@dataclass(frozen=True)
class TrialRuns:
    """How one Tune experiment's trial runs are created (through MLflow's client) and found
    again."""

    tracker: Tracker
    experiment_id: str
    parent_id: str
    study: str
    stage: str

    def create(self, trial_id: str, run: NewRun) -> tuple[str, str]:
        return self.tracker.create_trial_run(
            self.experiment_id, self.parent_id, self.study, trial_id, run.name, run.cfg, run.tags
        )

    def find(self) -> dict[str, Any]:
        return self.tracker.trial_runs_by_id(
            self.experiment_id, self.study, self.parent_id, self.stage
        )


class RunStore(Protocol):
    """Where a batch's writes go; `commit` ends the batch."""

    def create(self, trial_id: str, run: NewRun) -> tuple[str, str]: ...  # id, artifact URI

    def last_step(self, run_id: str) -> int: ...

    def restart(self, run_id: str) -> None: ...

    def log(self, run_id: str, epochs: Epochs, params: Params, tags: dict[str, str]) -> None: ...

    def log_file(self, run_id: str, artifact_uri: str, name: str, data: bytes) -> None: ...

    def end(self, run_id: str, status: str) -> None: ...

    def commit(self) -> None: ...


@dataclass(frozen=True)
class ClientStore:
    """A `RunStore` of MLflow client calls, each made at once (`Tracker`, its retries)."""

    runs: TrialRuns

    def create(self, trial_id: str, run: NewRun) -> tuple[str, str]:
        return self.runs.create(trial_id, run)

    def last_step(self, run_id: str) -> int:
        return self.runs.tracker.last_step(run_id)

    def restart(self, run_id: str) -> None:
        self.runs.tracker.client.update_run(run_id, status="RUNNING")

    def log(self, run_id: str, epochs: Epochs, params: Params, tags: dict[str, str]) -> None:
        self.runs.tracker.log_batch(run_id, epochs, params, tags)

    def log_file(self, run_id: str, artifact_uri: str, name: str, data: bytes) -> None:
        self.runs.tracker.log_bytes(run_id, data, name, artifact_uri=artifact_uri)

    def end(self, run_id: str, status: str) -> None:
        self.runs.tracker.set_status(run_id, status)

    def commit(self) -> None:
        """Each call was made already."""


@dataclass
class _Known:
    """The writer's view of one run: its id, the last step logged, the nodes it ran on (in
    the order first seen) and the latest."""

    run_id: str
    artifact_uri: str
    last_step: int = 0
    nodes: list[str] = field(default_factory=list)
    node: str = ""


class BatchWriter:
    """Writes batches of queued runs of one Tune experiment to `store`, a batch at a time.

    `find` lists the experiment's existing trial runs (`TrialRuns.find`): called once, at the
    first write, when the experiment was restored; a fresh experiment's trials have fresh Ray
    trial ids and no runs yet.
    """

    def __init__(self, store: RunStore, find: Callable[[], dict[str, Any]] | None) -> None:
        self.store, self.find = store, find
        self._known: dict[str, _Known] = {}
        self._found: dict[str, Any] | None = None

    def write(self, batch: dict[str, Pending]) -> None:
        for trial_id, pending in batch.items():
            self._write(trial_id, pending)
        self.store.commit()

    def _write(self, trial_id: str, p: Pending) -> None:
        known, params = self._run(trial_id, p)
        run_id = known.run_id
        if p.started and not params:
            self.store.restart(run_id)
        metrics = [(s, m, t) for s, m, t in p.epochs if s > known.last_step]
        tags = dict(p.tags)
        seen = list(dict.fromkeys([*known.nodes, *p.nodes]))
        if p.nodes and (seen != known.nodes or p.nodes[-1] != known.node):
            known.nodes, known.node = seen, p.nodes[-1]
            tags.update({c.NODE_TAG: known.node, c.NODE_HISTORY_TAG: ",".join(seen)})
        self.store.log(run_id, metrics, params, tags)
        for step, name, data in p.artifacts:  # a file is logged with its epoch, once
            if step > known.last_step:
                self.store.log_file(run_id, known.artifact_uri, name, data)
        known.last_step = max([known.last_step, *(s for s, _, _ in metrics)])
        if p.status:
            self.store.end(run_id, p.status)

    def _run(self, trial_id: str, p: Pending) -> tuple[_Known, dict[str, Any]]:
        """The run's writer view, and the params to log (a new run's config)."""
        if trial_id in self._known:
            return self._known[trial_id], {}
        if self._found is None:
            self._found = self.find() if self.find else {}
        run = self._found.pop(trial_id, None)
        if run is not None:  # the run of a restored trial
            run_id = str(run.info.run_id)
            tags = run.data.tags
            history = [n for n in tags.get(c.NODE_HISTORY_TAG, "").split(",") if n]
            last = self.store.last_step(run_id)
            uri = str(run.info.artifact_uri)
            known = _Known(run_id, uri, last, history, tags.get(c.NODE_TAG, ""))
            p.started = True
            self._known[trial_id] = known
            return known, {}
        self._known[trial_id] = known = _Known(*self.store.create(trial_id, p.run))
        return known, p.run.cfg.to_flat_dict()
