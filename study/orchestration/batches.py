"""What the driver's MLflow writer does with a batch of queued runs (`BatchWriter`, on the
writer thread of `study.orchestration.writer`): for each run, what it still needs (created,
RUNNING again, its params, tags and the epochs waiting, its files, its status), skipping the
epochs a run of a restored trial already holds, handed to the study's store
(`study.store`): on a tracking database the whole batch in one transaction, through a
tracking server call by call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from study import contract as c
from study.orchestration.writer import Pending
from study.store import RunRecord, Store


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
    """Writes batches of queued runs of one Tune experiment (in experiment `experiment_id`) to
    `store`, a batch at a time.

    `find` gives the experiment's existing trial runs by Ray trial id: called once, at the
    first write, when the experiment was restored; a fresh experiment's trials have fresh Ray
    trial ids and no runs yet.
    """

    def __init__(
        self, store: Store, experiment_id: str, find: Callable[[], dict[str, RunRecord]] | None
    ) -> None:
        self.store, self.experiment_id, self.find = store, experiment_id, find
        self._known: dict[str, _Known] = {}
        self._found: dict[str, RunRecord] | None = None

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
        self._known[trial_id] = known = _Known(*self.store.create(self.experiment_id, p.run))
        return known, p.run.params
