"""`study bench tracking`: how many per-epoch results a second the driver's MLflow logging
sustains, and how long `study status` and `study report` take on the study it wrote.

No Ray: the results of N trials of E epochs are handed to the study's own `TrackingCallback`
as Tune would hand them (start, each epoch's result with its files, complete; `at_once`
trials in flight, a snapshot — `Callback.get_state`, which waits for the writer — after each
group of them), as fast as the driver takes them. Each result is one real trial's report of
that epoch (the same metric keys and artifacts), so the tracking store ends up holding what
a real study of N × E epochs holds. Then `study status` and `study report` run on it, each in
a fresh process, as a user would run them. `tracking_uri`: the store to measure (a
PostgreSQL URI, or a `study server` in front of one); default a new SQLite file. On
PostgreSQL, `benchmarks/tracking_postgres.py` starts the server (as the tests do) and reads
the study back through `study server`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from study import contract as c
from study.tools.bench import machine_line
from study.tools.bench_scheduling import _spec, timed_command


def _reports(spec: Any) -> list[dict[str, Any]]:
    """Each epoch's result of one real trial, as the trainable sends it (files in base64)."""
    from study.orchestration.reports import epoch_report, sent_from
    from study.training.trial import run_trial

    sent: list[dict[str, Any]] = []

    def report(metrics: dict[str, float], _state: Any, files: dict[str, bytes]) -> None:
        sent.append(sent_from(epoch_report(metrics, files), "bench-node"))

    run_trial(spec.base, report)
    return sent


def _feed(callback: Any, points: list[Any], reports: list[dict[str, Any]], at_once: int) -> None:
    trials = [
        SimpleNamespace(trial_id=f"bench_{i:06d}", config={"overrides": p})
        for i, p in enumerate(points)
    ]
    for g in range(0, len(trials), at_once):
        group = trials[g : g + at_once]
        for trial in group:
            callback.on_trial_start(0, trials, trial)
        for report in reports:
            for trial in group:
                callback.on_trial_result(0, trials, trial, dict(report))
        for trial in group:
            callback.on_trial_complete(0, trials, trial)
        callback.get_state()  # Tune's snapshot: waits until everything queued is written
    callback.on_experiment_end(trials)


def bench_tracking(
    n_trials: int, epochs: int, tracking_uri: str | None = None, at_once: int = 100,
    read_uri: str | None = None,
) -> list[str]:  # fmt: skip
    """`read_uri`: where `study report` reads (e.g. a `study server` in front of the store);
    default the store itself, where `study status` reads."""
    from study.orchestration.callback import TrackingCallback
    from study.orchestration.record import open_study
    from study.orchestration.run_tags import study_runs
    from study.orchestration.settle import settle
    from study.orchestration.stages import TuneExperiment
    from study.orchestration.storage import Storage
    from study.store import open_store

    spec = _spec(n_trials, epochs)
    points = spec.grid_points()
    n = len(points)
    reports = _reports(spec)
    with tempfile.TemporaryDirectory(prefix="lossbench-bench-") as tmp:
        folder = Path(tmp)
        uri = tracking_uri or f"sqlite:///{folder / 'mlflow.db'}"
        storage = Storage.of(folder / "runs")
        open_study(storage, spec, uri)
        store = open_store(uri, driver=True)
        exp_id, parent = study_runs(store, spec)
        exp = TuneExperiment("", c.MAIN_STAGE, spec.base, tuple(points))
        callback = TrackingCallback(store, exp_id, parent, spec.name, exp)
        start = time.perf_counter()
        _feed(callback, points, reports, at_once)
        wall = time.perf_counter() - start
        counts = settle(store, exp_id, spec.name, {c.MAIN_STAGE: n}, parent, final=True,
                        summary=(list(spec.grid), spec.analysis.metric))  # fmt: skip
        where = ["--storage", str(folder / "runs")]
        status = timed_command("status", spec.name, *where)
        where += ["--tracking-uri", read_uri] if read_uri else []
        report = timed_command("report", spec.name, *where, "--out", str(folder / "report"),
                               "--no-log")  # fmt: skip
    kind = uri.split(":", 1)[0] if tracking_uri else "sqlite (a new file)"
    kind += f", the report read through {read_uri.split(':', 1)[0]}" if read_uri else ""
    return [
        f"# study bench tracking: {n} trials of {epochs} epoch(s) handed to the driver's MLflow "
        f"logging ({at_once} at once, a snapshot after each group), store {kind}; "
        f"{machine_line('cpu')}",
        f"per-epoch results logged: {n * epochs} in {wall:.1f} s: {n * epochs / wall:.0f} per "
        "second (target >= 500)",
        f"trial runs FINISHED: {counts.finished.get(c.MAIN_STAGE, 0)}/{n}",
        f"`study status` (a fresh process): {status:.2f} s (target <= 5); `study report`: "
        f"{report:.1f} s (target <= 60 at 24 epochs)",
    ]
