"""MLflow writes off Ray Tune's event loop: the tracking callback queues what each trial's run
needs (`Pending`), and one background thread hands everything waiting, as one batch, to the
batch writer (`study.orchestration.batches.BatchWriter`: on a tracking database one
transaction per batch). The more the driver receives, the more each batch carries: its cost
per result falls as the load grows instead of stalling the event loop.

Nothing is lost on a driver crash: Tune uploads its experiment snapshot only after asking the
callbacks for their state (`Callback.get_state`, Ray 2.60 `TuneController.save_to_dir`), and
the callback waits there until the writer has written everything queued (`RunWriter.flush`).
So a trial that a snapshot calls finished has its run complete in MLflow, and a trial whose
writes were still queued is unfinished in the snapshot: it resumes, re-sends every report
from its state file, and the writer logs the epochs its run lacks.

The standard library's `threading` does the work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from study.errors import causes
from study.store import NewRun, Refused

logger = logging.getLogger(__name__)

MAX_QUEUED = 100_000  # events queued before the event loop waits for the writer (bounds memory)


class TrackingError(RuntimeError):
    """MLflow refused a write (after the store's retries, `study.store.retry`)."""


def refusal(exc: BaseException | None) -> Refused | None:
    """The `Refused` (a write to a deleted run or experiment) behind `exc`, if any: Tune
    re-raises a callback's error, which wraps the writer's."""
    return next((e for e in causes(exc) if isinstance(e, Refused)), None)


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


class Sink(Protocol):
    """Writes batches of queued runs (trial id -> what its run still needs), in order."""

    def write(self, batch: dict[str, Pending]) -> None: ...


class RunWriter:
    """One background thread that hands the queued runs of one Tune experiment to `sink`,
    everything waiting at once."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._pending: dict[str, Pending] = {}
        self._queued = 0  # events in `_pending`
        self._asked = self._done = 0  # write cycles asked for / completed
        self._error: BaseException | None = None
        self._closing = False
        self._cond = threading.Condition()
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
                self.sink.write(batch)
            except BaseException as exc:  # handed to the event loop at its next call
                if not isinstance(exc, Refused):  # a deleted run: the runner says it in a line
                    logger.exception("MLflow write failed")
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self._done = asked
                self._cond.notify_all()
