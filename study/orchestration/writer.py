"""MLflow writes off Ray Tune's event loop: the tracking callback queues what each trial's run
needs (`Pending`), and one background thread writes it (`RunWriter`), everything queued for a
run in as few MLflow calls as its limits allow (one `log_batch` for params, tags and every
epoch waiting, then files, then the status). The more the driver receives, the more each call
carries: its cost per result falls as the load grows instead of stalling the event loop.

Nothing is lost on a driver crash: Tune uploads its experiment snapshot only after asking the
callbacks for their state (`Callback.get_state`, Ray 2.60 `TuneController.save_to_dir`), and
the callback waits there until the writer has written everything queued (`RunWriter.flush`).
So a trial that a snapshot calls finished has its run complete in MLflow, and a trial whose
writes were still queued is unfinished in the snapshot: it resumes, re-sends every report
from its state file, and the writer logs the epochs its run lacks.

The standard library's `threading` does the work; MLflow's client is shared with the driver
(which writes nothing while a fit runs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from study import contract as c
from study.orchestration.tracking import Tracker
from study.training.config import TrialConfig

logger = logging.getLogger(__name__)

MAX_QUEUED = 100_000  # events queued before the event loop waits for the writer (bounds memory)


class TrackingError(RuntimeError):
    """MLflow refused a write (after the retries of `client.RetryingClient`)."""


@dataclass(frozen=True)
class NewRun:
    """What a trial's child run is created with."""

    name: str
    cfg: TrialConfig
    tags: dict[str, str]


@dataclass
class Pending:
    """What one trial's run still needs written, in the order it is written."""

    run: NewRun
    started: bool = False  # (re)started since the last write: the run is RUNNING again
    epochs: list[tuple[int, dict[str, float], int]] = field(default_factory=list)  # step, ms
    nodes: list[str] = field(default_factory=list)  # where those epochs ran, in order
    artifacts: list[tuple[int, str, bytes]] = field(default_factory=list)  # step, name, data
    tags: dict[str, str] = field(default_factory=dict)
    status: str | None = None  # FINISHED or FAILED, set last


@dataclass
class _Known:
    """The writer's view of one run: its id, the last step logged, the nodes it ran on (in
    the order first seen) and the latest."""

    run_id: str
    artifact_uri: str
    last_step: int = 0
    nodes: list[str] = field(default_factory=list)
    node: str = ""


class RunWriter:
    """One background thread that writes the queued runs of one Tune experiment to MLflow.

    `find` lists the experiment's existing trial runs (`Tracker.trial_runs_by_id`): called
    once, on the writer's thread, when the experiment was restored; a fresh experiment's
    trials have fresh Ray trial ids and no runs yet.
    """

    def __init__(
        self, tracker: Tracker, create: Callable[[str, NewRun], tuple[str, str]],
        find: Callable[[], dict[str, Any]] | None,
    ) -> None:  # fmt: skip
        self.tracker, self.create, self.find = tracker, create, find
        self._pending: dict[str, Pending] = {}
        self._queued = 0  # events in `_pending`
        self._asked = self._done = 0  # write cycles asked for / completed
        self._error: BaseException | None = None
        self._closing = False
        self._cond = threading.Condition()
        self._known: dict[str, _Known] = {}
        self._found: dict[str, Any] | None = None
        self._thread = threading.Thread(target=self._loop, name="lossbench-mlflow", daemon=True)
        self._thread.start()

    # --- the event loop's side ------------------------------------------------------------

    def submit(self, trial_id: str, run: NewRun, update: Callable[[Pending], None]) -> None:
        """Queue `update` of the trial's pending writes (the event loop never waits on MLflow,
        unless `MAX_QUEUED` events are waiting)."""
        with self._cond:
            self._raise()
            while self._queued >= MAX_QUEUED and self._error is None:
                self._cond.wait()
            self._raise()
            update(self._pending.setdefault(trial_id, Pending(run)))
            self._queued += 1
            self._asked += 1
            self._cond.notify_all()

    def flush(self) -> None:
        """Wait until everything queued so far is written; raise what the writer met."""
        with self._cond:
            target = self._asked
            while self._done < target and self._error is None:
                self._cond.wait()
            self._raise()

    def close(self) -> None:
        """Flush, then stop the thread."""
        self.flush()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise TrackingError(f"MLflow write failed: {self._error}") from self._error

    # --- the writer's thread --------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending, self._queued = self._pending, {}, 0
                asked = self._asked
                self._cond.notify_all()  # room in the queue again
            try:
                for trial_id, pending in batch.items():
                    self._write(trial_id, pending)
            except BaseException as exc:  # handed to the event loop at its next call
                logger.exception("MLflow write failed")
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self._done = asked
                self._cond.notify_all()

    def _write(self, trial_id: str, p: Pending) -> None:
        known, params = self._run(trial_id, p)
        run_id = known.run_id
        if p.started and not params:
            self.tracker.client.update_run(run_id, status="RUNNING")
        metrics = [(s, m, t) for s, m, t in p.epochs if s > known.last_step]
        tags = dict(p.tags)
        seen = list(dict.fromkeys([*known.nodes, *p.nodes]))
        if p.nodes and (seen != known.nodes or p.nodes[-1] != known.node):
            known.nodes, known.node = seen, p.nodes[-1]
            tags.update({c.NODE_TAG: known.node, c.NODE_HISTORY_TAG: ",".join(seen)})
        self.tracker.log_batch(run_id, metrics, params, tags)
        for step, name, data in p.artifacts:  # a file is logged with its epoch, once
            if step > known.last_step:
                self.tracker.log_bytes(run_id, data, name, artifact_uri=known.artifact_uri)
        known.last_step = max([known.last_step, *(s for s, _, _ in metrics)])
        if p.status:
            self.tracker.set_status(run_id, p.status)

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
            last = self.tracker.last_step(run_id)
            uri = str(run.info.artifact_uri)
            known = _Known(run_id, uri, last, history, tags.get(c.NODE_TAG, ""))
            p.started = True
            self._known[trial_id] = known
            return known, {}
        self._known[trial_id] = known = _Known(*self.create(trial_id, p.run))
        return known, p.run.cfg.to_flat_dict()


def now_ms() -> int:
    return int(time.time() * 1000)
