"""`study bench scheduling`: the scheduling and tracking overhead per trial of a study of
trivial trials on local Ray with MLflow in SQLite, and the driver's peak memory."""

from __future__ import annotations

import os
import time

from study import contract as c
from study.tools.bench import machine_line


def bench_scheduling(n_trials: int = 200) -> list[str]:
    """Run a study of `n_trials` trivial trials (1 epoch of 40 digits at width 2) on local Ray
    with MLflow in a temporary SQLite file; report the overhead per trial beyond the trials'
    own compute, the driver's peak memory, and how many runs ended FINISHED."""
    import resource
    import tempfile
    from pathlib import Path

    from study.orchestration.record import open_study
    from study.orchestration.runner import run_study
    from study.orchestration.spec import spec_from_dict
    from study.orchestration.storage import Storage
    from study.orchestration.tracking import Tracker
    from study.training.trial import run_trial

    base = {
        "data": {"name": "digits", "n_train": 40, "n_test": 40, "crop_padding": 1, "flip": False},
        "model": {"width": 2},
        "schedule": {"epochs": 1, "batch_size": 20},
        "eval": {"batch_size": 100, "final_window": 1},
        "device": "cpu",
    }
    raw = {"name": "bench_scheduling", "base": base, "grid": {"seed": list(range(n_trials))},
           "resources": {"cpu": 1}}  # fmt: skip
    spec = spec_from_dict(raw)
    cpus = os.cpu_count() or 1
    run_trial(spec.base, lambda m, s, a: None)  # warm caches, then time one trial's compute
    start = time.perf_counter()
    run_trial(spec.base, lambda m, s, a: None)
    compute = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="lossbench-bench-") as folder:
        uri = f"sqlite:///{Path(folder) / 'mlflow.db'}"
        start = time.perf_counter()
        storage = Storage.of(Path(folder) / "runs")
        outcome = run_study(open_study(storage, spec, uri), storage)
        wall = time.perf_counter() - start
        tracker = Tracker(uri)
        runs = tracker.find_runs(outcome.experiment_id, c.TRIAL_ROLE)
        finished = sum(r.info.status == "FINISHED" for r in runs)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_trial = wall * min(cpus, n_trials) / n_trials
    return [
        f"# study bench scheduling: {n_trials} trivial trials, local Ray, {cpus} CPUs "
        f"(1 CPU per trial, actor reuse), MLflow in SQLite; {machine_line('cpu')}",
        f"wall time of the study (Ray start included): {wall:.1f} s",
        f"one trial's own compute (in-process): {compute:.3f} s",
        f"slot time per trial (wall × concurrency / trials): {per_trial:.3f} s",
        f"scheduling + tracking overhead per trial: {per_trial - compute:.3f} s (target <= 0.5 s)",
        f"driver peak RSS: {peak_mb:.0f} MB",
        f"MLflow trial runs FINISHED: {finished}/{n_trials}",
    ]
