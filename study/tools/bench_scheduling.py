"""`study bench scheduling`: what a study of N trivial trials costs beyond its trials' own
compute, on local Ray with MLflow in SQLite, against the same trials under bare Ray Tune.

The study is `loss: [ce, lace]` × N/2 seeds of a trivial trial (40 digits, width 2, `epochs`
epochs). Printed: the study's wall time (Ray started before, not counted), one trial's own
compute, the slot time per trial of the study and of bare Ray Tune (a function trainable that
trains the same configs and reports once, no callbacks, no logger files, actor reuse), their
ratio, per-epoch results per second through the driver, the driver's RSS growth per trial
(a slope over the last three quarters of each run, beside bare Tune's), and how long
`study status` and `study report` take on the finished study, each in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from study import contract as c
from study.tools.bench import machine_line

BASE = {
    "data": {"name": "digits", "n_train": 40, "n_test": 40, "crop_padding": 1, "flip": False},
    "model": {"width": 2},
    "schedule": {"epochs": 1, "batch_size": 20},
    "eval": {"batch_size": 100, "final_window": 1, "train_every": 1000},
    "device": "cpu",
}


def _rss_mb(field: str = "VmRSS") -> float:
    """The driver's resident memory now (VmRSS) or at its peak (VmHWM), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _RssSampler:
    """The driver's RSS every `period` seconds while a block runs, so that the growth per
    trial is a slope over the last three quarters of the run (the first quarter pays for the
    imports and caches of the first trials, which a larger study does not pay again)."""

    def __init__(self, period: float = 0.25) -> None:
        self.period, self.samples = period, [(time.perf_counter(), _rss_mb())]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.samples.append((time.perf_counter(), _rss_mb()))

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), _rss_mb()))

    def growth_kb_per_trial(self, n_trials: int) -> float:
        """Least-squares slope of RSS over time in the last three quarters, per trial (the
        trials of a grid end at an even pace): robust to one sample's noise."""
        import numpy as np

        start, end = self.samples[0][0], self.samples[-1][0]
        late = [(t, rss) for t, rss in self.samples if t >= start + (end - start) / 4]
        if len(late) < 2:
            return float("nan")
        t, rss = np.array(late).T
        slope = float(np.polyfit(t, rss, 1)[0])  # MB per second
        return slope * 1024 * (end - start) / n_trials


def trivial_study(n_trials: int, epochs: int, name: str = "bench_scheduling") -> dict[str, Any]:
    """The study file of N trivial trials: `loss: [ce, lace]` × N/2 seeds of `BASE`."""
    base = {**BASE, "schedule": {"epochs": epochs, "batch_size": 20}}
    seeds = list(range(max(1, n_trials // 2)))
    return {"name": name, "base": base, "resources": {"cpu": 1},
            "grid": {"loss": [{"name": "ce"}, {"name": "lace"}], "seed": seeds},
            "analysis": {"metric": c.PAPER_TOP1, "min_effect": 1.0}}  # fmt: skip


def _spec(n_trials: int, epochs: int) -> Any:
    from study.orchestration.spec import spec_from_dict

    return spec_from_dict(trivial_study(n_trials, epochs))


def _bare_tune(spec: Any, folder: Path) -> tuple[float, float]:
    """Wall time of the same trials under bare Ray Tune (Ray already started), and the
    driver's RSS growth per trial (KB)."""
    from ray import tune

    from study.orchestration.spec.translate import build_grid
    from study.training.trial import run_trial

    def trainable(config: dict[str, Any]) -> None:
        point = json.loads(config["overrides"])
        last = run_trial(spec.base.with_overrides(point), lambda m, s, a: None)
        tune.report({c.FINISHED_METRIC: last[c.FINISHED_METRIC]})

    points = spec.grid_points()
    start = time.perf_counter()
    with _RssSampler() as rss:
        tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space={"overrides": None},
            # the points as presets, as the study gives them: a `grid_search` over 10⁴
            # points costs Tune O(N²) before the first trial
            tune_config=tune.TuneConfig(
                search_alg=build_grid(points, None), num_samples=len(points), reuse_actors=True
            ),
            run_config=tune.RunConfig(name="bare", storage_path=str(folder), verbose=0),
        ).fit()
    return time.perf_counter() - start, rss.growth_kb_per_trial(len(points))


def timed_command(*args: str) -> float:
    """Wall time of `python -m study ARGS` in a fresh process (imports included)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "study", *args], capture_output=True, text=True)
    if done.returncode != 0:  # the benchmark says why, not just that it failed
        raise RuntimeError(f"study {args[0]} failed ({done.returncode}): {done.stderr[-3000:]}")
    return time.perf_counter() - start


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_scheduling(n_trials: int = 200, epochs: int = 1) -> list[str]:
    from study.orchestration.ray_setup import init_ray
    from study.orchestration.record import open_study
    from study.orchestration.runner import run_study
    from study.orchestration.storage import Storage
    from study.training.trial import run_trial

    spec = _spec(n_trials, epochs)
    n, cpus = len(spec.grid_points()), os.cpu_count() or 1
    run_trial(spec.base, lambda m, s, a: None)  # warm caches, then time one trial's compute
    compute = _timed(lambda: run_trial(spec.base, lambda m, s, a: None))
    ray_start = _timed(lambda: init_ray(None))
    with tempfile.TemporaryDirectory(prefix="lossbench-bench-") as tmp:
        folder = Path(tmp)
        uri, storage = f"sqlite:///{folder / 'mlflow.db'}", Storage.of(folder / "runs")
        before = _rss_mb()
        outcome: list[Any] = []
        with _RssSampler() as rss:
            wall = _timed(
                lambda: outcome.append(run_study(open_study(storage, spec, uri), storage))
            )
        peak = _rss_mb("VmHWM") - before
        where = ["--storage", str(folder / "runs")]
        status = timed_command("status", spec.name, *where)
        report = timed_command("report", spec.name, *where, "--out", str(folder / "report"),
                               "--no-log")  # fmt: skip
        bare, bare_growth = _bare_tune(spec, folder / "bare")
    slots = min(cpus, n)
    ours, theirs = wall * slots / n, bare * slots / n
    return [
        f"# study bench scheduling: {n} trivial trials of {epochs} epoch(s), local Ray, {cpus} "
        f"CPUs (1 CPU per trial, actor reuse), MLflow in SQLite; {machine_line('cpu')}",
        f"Ray start (not counted below): {ray_start:.1f} s",
        f"wall time of the study: {wall:.1f} s; of bare Ray Tune on the same trials: {bare:.1f} s",
        f"one trial's own compute (in-process): {compute:.3f} s",
        f"slot time per trial (wall × concurrency / trials): {ours:.3f} s; bare Tune "
        f"{theirs:.3f} s; ratio {ours / theirs:.2f} (target <= 1.5)",
        f"overhead per trial beyond its compute: {ours - compute:.3f} s; bare Tune "
        f"{theirs - compute:.3f} s",
        f"per-epoch results through the driver: {n * epochs / wall:.1f} per second",
        f"driver RSS growth per trial over the last 3/4 of the run: "
        f"{rss.growth_kb_per_trial(n):.0f} KB (target <= 50); bare Tune {bare_growth:.0f} KB",
        f"driver RSS: {before:.0f} MB before the study, peak {peak:+.0f} MB",
        f"`study status` (a fresh process): {status:.2f} s (target <= 5); `study report`: "
        f"{report:.1f} s (target <= 60 at 24 epochs)",
        f"MLflow trial runs FINISHED: {outcome[0].finished.get(c.MAIN_STAGE, 0)}/{n}",
    ]
