"""The MLflow writer of the driver (`study.orchestration.writer`, its thread, handing batches to
`study.orchestration.batches`), on a recording store: what it batches, what it skips, and how
a failure reaches the event loop. No MLflow, no Ray."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from study import contract
from study.orchestration.batches import BatchWriter
from study.orchestration.writer import Pending, RunWriter, TrackingError
from study.store import NewRun


class Recorder:
    """A store that records what it is asked to write (`create`: how runs are created)."""

    def __init__(self, create: Any = None, fail: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail = fail
        self._create = create or (lambda *a: ("r", ""))

    def create(self, experiment_id: str, run: NewRun) -> tuple[str, str]:
        assert experiment_id == "exp"
        return tuple(self._create(run.name, run))

    def restart(self, run: str) -> None:
        self.calls.append(("update_run", run, "RUNNING"))

    def log(self, run: str, epochs: list[Any], params: Any, tags: Any) -> None:
        if self.fail:
            raise ValueError("bad request")
        self.calls.append(("log_batch", run, [s for s, _, _ in epochs], dict(params), dict(tags)))

    def log_file(self, run: str, artifact_uri: str, name: str, data: bytes) -> None:
        self.calls.append(("log_bytes", run, name))

    def end(self, run: str, status: str) -> None:
        self.calls.append(("set_status", run, status))

    def last_step(self, run: str) -> int:
        return 3

    def commit(self) -> None:
        self.calls.append(("commit",))


def _run(trial: str = "t") -> NewRun:
    return NewRun(trial, {}, {"seed": 0})


def _epoch(step: int) -> Any:
    return lambda p: (p.epochs.append((step, {"train_loss": 1.0 / step}, 0)),
                      p.nodes.append("n1"))  # fmt: skip


def _end(p: Pending) -> None:
    p.status = "FINISHED"


def test_what_waits_is_written_in_one_batch_per_run_and_flush_waits_for_it() -> None:
    entered, release = threading.Event(), threading.Event()
    created: list[str] = []

    def create(trial_id: str, run: NewRun) -> tuple[str, str]:
        if not created:
            entered.set()
            release.wait(10)  # the writer is busy while the event loop queues more
        created.append(trial_id)
        return f"run-{trial_id}", "file:///art"

    tracker = Recorder(create)
    writer = RunWriter(BatchWriter(tracker, "exp", None))
    writer.submit("a", _run("a"), lambda p: setattr(p, "started", True))
    assert entered.wait(10)
    for step in range(1, 6):
        for trial in ("a", "b"):
            writer.submit(trial, _run(trial), _epoch(step))
    writer.submit("a", _run("a"), _end)
    writer.submit("b", _run("b"), _end)
    release.set()
    writer.flush()
    assert tracker.calls.count(("commit",)) == 2  # one per batch
    batches = [c for c in tracker.calls if c[0] == "log_batch"]
    assert batches[0] == ("log_batch", "run-a", [], {"seed": 0}, {})  # created, nothing else yet
    node = {contract.NODE_TAG: "n1", contract.NODE_HISTORY_TAG: "n1"}
    assert batches[1:] == [("log_batch", "run-a", [1, 2, 3, 4, 5], {}, node),
                           ("log_batch", "run-b", [1, 2, 3, 4, 5], {"seed": 0}, node)]  # fmt: skip
    assert tracker.calls[-2:] == [("set_status", "run-b", "FINISHED"), ("commit",)]
    assert ("update_run", "run-a", "RUNNING") not in tracker.calls  # new: RUNNING already
    writer.close()


def test_a_found_run_gets_only_the_epochs_and_files_it_lacks() -> None:
    tracker = Recorder(lambda *a: ("new", ""))
    found = SimpleNamespace(info=SimpleNamespace(run_id="old", artifact_uri="file:///art"),
                            data=SimpleNamespace(tags={contract.NODE_HISTORY_TAG: "n1",
                                                       contract.NODE_TAG: "n1"}))  # fmt: skip
    writer = RunWriter(BatchWriter(tracker, "exp", lambda: {"a": found}))
    run = _run()
    for step in range(1, 6):  # re-sent by a resumed trial: epochs 1-3 are in MLflow already
        writer.submit("a", run, _epoch(step))
        writer.submit("a", run, lambda p, s=step: p.artifacts.append((s, f"f{s}", b"x")))
    writer.close()
    assert tracker.calls[0] == ("update_run", "old", "RUNNING")
    assert tracker.calls[1] == ("log_batch", "old", [4, 5], {}, {})  # same node: no tag
    assert [c[2] for c in tracker.calls if c[0] == "log_bytes"] == ["f4", "f5"]


def test_a_refused_write_reaches_the_event_loop() -> None:
    writer = RunWriter(BatchWriter(Recorder(fail=True), "exp", None))
    run = _run()
    writer.submit("a", run, _epoch(1))
    with pytest.raises(TrackingError, match="bad request"):
        writer.flush()
    with pytest.raises(TrackingError):
        writer.submit("a", run, _epoch(2))
