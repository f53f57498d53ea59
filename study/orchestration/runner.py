"""Run (or resume) a study under Ray Tune: the one module that builds, restores and fits Tuners. The
study is its stored record (`study.orchestration.record`); its stages (`study.orchestration.stages`)
say what to run, round after round, and the runner runs each round's experiments, hands the results
back, and settles the runs in MLflow (`study.orchestration.settle`). It never knows a stage's kind.

Running the same study again resumes it: each Tune experiment is `Tuner.restore`d when it
exists, and the stages' stored decisions are read back instead of re-taken.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from study import contract as c
from study.orchestration.callback import TrackingCallback
from study.orchestration.compact import CompactEndedTrials
from study.orchestration.decisions import EXPECTED_KEY, load_decision, save_decision
from study.orchestration.guard import StorageGuard
from study.orchestration.progress import ProgressCallback
from study.orchestration.ray_setup import init_ray
from study.orchestration.record import StudyRecord
from study.orchestration.reports import metric_items
from study.orchestration.run_tags import study_runs
from study.orchestration.settle import Counts, settle
from study.orchestration.spec.model import StudySpec
from study.orchestration.spec.translate import (
    build_grid,
    build_scheduler,
    build_search,
    sampler_settings,
)
from study.orchestration.stages import (
    Stage,
    StageContext,
    TrialResult,
    TuneExperiment,
    study_stages,
    trial_label,
)
from study.orchestration.stops import stop_error
from study.orchestration.storage import Storage
from study.orchestration.trainable import (
    STATES_FOLDER,
    trainable,
    trial_label_of,
    trial_name,
    trial_overrides,
)
from study.store import Store, open_store


@dataclass(frozen=True)
class StudyOutcome:
    name: str
    experiment_id: str
    parent_run_id: str
    tracking_uri: str
    storage: Storage
    expected: dict[str, int]  # trials per stage (given the stages' decisions)
    finished: dict[str, int]
    errored: dict[str, int]
    final: list[dict[str, Any]] = field(default_factory=list)  # compared stages: overrides+finals

    @property
    def complete(self) -> bool:
        return all(self.finished.get(s, 0) == n for s, n in self.expected.items())


def run_study(
    record: StudyRecord, storage: Storage, address: str | None = None, verbose: bool = False
) -> StudyOutcome:
    """Run (or resume) every stage of the stored study, tracking it in MLflow. The console
    shows one line per finished trial (`study.orchestration.progress`); `verbose`: Ray's tables."""
    spec = record.spec
    store = open_store(record.tracking_uri, driver=True)
    experiment_id, parent_id = study_runs(store, spec)
    if spec.search is not None:
        store.set_tags(parent_id, {c.SAMPLER_TAG: json.dumps(sampler_settings(spec.search))})
    if not verbose:
        # Ray's new output engine prints its experiment box and status table even at
        # verbose=0; its legacy reporter at verbose=0 prints nothing (Ray 2.60)
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    init_ray(address)
    _tune_settings(spec, local=address is None)
    driver = _Driver(spec, storage, store, experiment_id, parent_id, verbose)
    try:
        for stage in driver.stages:
            driver.run_stage(stage)
    except KeyboardInterrupt:
        # A second Ctrl-C (or SIGTERM) while Tune was stopping: leave no run RUNNING.
        driver.settle(final=True)
        raise
    except Exception as exc:
        stop = stop_error(exc, spec.name, storage, lambda: driver.settle(final=True))
        if stop is None:
            raise
        raise stop from None
    outcome = driver.settle(final=True, summary=(list(spec.grid), spec.analysis.metric))
    return StudyOutcome(
        spec.name, experiment_id, parent_id, record.tracking_uri, storage, driver.expected(),
        outcome.finished, outcome.errored, driver.final,
    )  # fmt: skip


@dataclass
class _Driver:
    """One driver process's hold on a running study: its stages, their results so far, and
    where they are tracked."""

    spec: StudySpec
    storage: Storage
    store: Store
    experiment_id: str
    parent_id: str
    verbose: bool
    final: list[dict[str, Any]] = field(default_factory=list)  # compared: overrides + finals
    logged: set[str] = field(default_factory=set)  # decisions copied to the parent run

    def __post_init__(self) -> None:
        self.ctx = StageContext(self.spec, self.storage)
        self.stages = study_stages(self.spec)

    def expected(self) -> dict[str, int]:
        return {s.name: s.expected(self.spec, self.ctx) for s in self.stages}

    def settle(self, final: bool, summary: tuple[list[str], str] | None = None) -> Counts:
        return settle(self.store, self.experiment_id, self.spec.name, self.expected(),
                      self.parent_id, final=final, summary=summary)  # fmt: skip

    def fit(self, exp: TuneExperiment) -> list[TrialResult]:
        tracking = TrackingCallback(
            self.store, self.experiment_id, self.parent_id, self.spec.name, exp
        )
        callbacks = [tracking, CompactEndedTrials(),
                     *([] if self.verbose else [_progress(exp, self.spec)])]  # fmt: skip
        if not self.storage.is_remote:
            callbacks.append(StorageGuard(_experiment_path(exp, self.spec, self.storage)))
        grid = _fit(exp, self.spec, self.storage, callbacks, self.verbose)
        return [
            TrialResult(trial_overrides(r.config or {}), dict(r.metrics or {}), r.error is None)
            for r in grid
        ]

    def run_stage(self, stage: Stage) -> None:
        ctx, name = self.ctx, self.spec.name
        ctx.results[stage.name] = []
        for experiments in stage.rounds(ctx):
            # before the fit: a decision taken (or read back) for this round is on the
            # parent run even if the driver dies during the round
            _log_decisions(self.store, self.parent_id, ctx, self.logged)
            results = [self.fit(exp) for exp in experiments]
            ctx.results[stage.name].extend(results)
            # `study status` reads the trials expected given the decisions so far here
            save_decision(self.storage, name, EXPECTED_KEY, self.expected())
            if stage.compared:
                self.final += [
                    {**t.overrides, **metric_items(t.metrics)}
                    for plan_results in results
                    for t in plan_results
                    if t.ok and c.finished(t.metrics)
                ]
        now = self.expected()  # reads the stages' decisions: once per stage
        save_decision(self.storage, name, EXPECTED_KEY, now)
        counts = self.settle(final=False)
        ctx.complete[stage.name] = counts.finished.get(stage.name) == now[stage.name]
        _log_decisions(self.store, self.parent_id, ctx, self.logged)


def _log_decisions(store: Store, parent_id: str, ctx: StageContext, logged: set[str]) -> None:
    """Copy the stages' decisions to the parent run (artifacts `decisions/<key>.json`), where
    the report reads them; the storage keeps the original. A resumed driver copies the ones
    it reads back again (the same bytes): one killed before copying loses nothing."""
    for key in [k for k in ctx.used if k not in logged]:
        store.log_decision(parent_id, key, load_decision(ctx.storage, ctx.spec.name, key))
        logged.add(key)


def _stage_label(exp: TuneExperiment) -> str:
    """`tune [loss=lace]`: the stage, and the grid point a per-point experiment serves."""
    return f"{exp.stage} [{trial_label(exp.point)}]" if exp.point else exp.stage


def _progress(exp: TuneExperiment, spec: StudySpec) -> ProgressCallback:
    metric = exp.search.metric if exp.search else spec.analysis.metric
    return ProgressCallback(_stage_label(exp), exp.n_trials, metric, trial_label_of)


def _experiment_place(exp: TuneExperiment, spec: StudySpec, storage: Storage) -> tuple[str, str]:
    """Tune's `storage_path` and experiment name: a plain study is the Tune experiment
    `<storage>/<name>`; stages live inside that folder."""
    return (storage.uri(), spec.name) if not exp.key else (storage.uri(spec.name), exp.key)


def _experiment_path(exp: TuneExperiment, spec: StudySpec, storage: Storage) -> str:
    return "/".join(_experiment_place(exp, spec, storage))


def _fit(
    exp: TuneExperiment, spec: StudySpec, storage: Storage, callbacks: list[Any], verbose: bool
) -> Any:
    """Build (or restore) the experiment's Tuner and fit it; returns Tune's ResultGrid."""
    from ray import tune

    storage_path, name = _experiment_place(exp, spec, storage)
    path = f"{storage_path}/{name}"
    fn = tune.with_resources(
        tune.with_parameters(
            trainable, base=exp.base, states=Storage(f"{path}/{STATES_FOLDER}"),
            policy=spec.checkpoint, gpu_share=spec.resources.gpu,
        ),
        {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu},
    )  # fmt: skip
    if tune.Tuner.can_restore(path):
        return tune.Tuner.restore(path, fn, resume_unfinished=True, resume_errored=True).fit()
    run_config = tune.RunConfig(
        name=name,
        storage_path=storage_path,
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        callbacks=callbacks,
        verbose=1 if verbose else 0,  # Ray's tables print every trial's every result
    )
    space = {} if exp.search else {"overrides": None}  # a grid's points: `build_grid`
    return tune.Tuner(fn, param_space=space, tune_config=_tune_config(exp, spec),
                      run_config=run_config).fit()  # fmt: skip


def _tune_config(exp: TuneExperiment, spec: StudySpec) -> Any:
    from ray import tune

    search = exp.search
    # Early stopping only where it cannot bias the comparison: the search, or a plain study
    # that asks for it (the stage says so); an evaluation is always FIFO at full budget.
    asha = exp.early_stopping
    metric = search.metric if search else (spec.scheduler.metric if asha else None)
    mode = search.mode if search else "min"
    scheduler = build_scheduler(spec.scheduler, exp.base.schedule.epochs, metric, mode)
    limit = spec.resources.max_concurrent_trials
    if search:
        search_alg, samples = build_search(search, exp.base, _stage_label(exp)), search.num_samples
    else:
        search_alg, samples, limit = build_grid(exp.grid, limit), max(1, len(exp.grid)), None
    return tune.TuneConfig(
        search_alg=search_alg,
        scheduler=scheduler if asha else None,
        num_samples=samples,
        max_concurrent_trials=limit,
        # a finished trial's worker process runs the next trial: imports and data caches
        # stay warm (the trainable keeps no state between calls)
        reuse_actors=True,
        trial_name_creator=trial_name,
        trial_dirname_creator=trial_name,
    )


_USER_ENV = frozenset(os.environ)  # what the user set before the driver started


def _tune_settings(spec: StudySpec, local: bool) -> None:
    """Ray Tune's own knobs for large studies (a value the user set in the environment wins).

    * `TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1`: Tune adds CSV, JSON and TensorBoard loggers
      unless told not to; they keep buffers and open files per trial in the driver (about
      300 KB a trial, ray-project/ray#64231) for a record MLflow already holds.
    * `TUNE_MAX_PENDING_TRIALS_PG`, on local Ray only: a grid queues max(200, 1.1 × cluster
      CPUs) pending trials, each a placement group the scheduler reconsiders every step; on a
      machine whose resources are fixed, twice the trials that fit at once keeps every slot
      fed. On a cluster Tune's default stays: its pending trials are what makes the
      autoscaler add nodes.
    * `TUNE_GLOBAL_CHECKPOINT_S` stays `auto`: Tune spaces its experiment snapshots so that they
      take at most ~5 % of the driver's time, which matters at 10⁴ trials; a snapshot a little
      stale costs nothing here, since a trial resumes from its own state file and a finished
      one only re-sends its reports (`study.orchestration.trainable`).
    """
    import logging

    import ray

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # ...so the ResultGrid finds no result.json / progress.csv and warns once per trial; the
    # results the stages read are each trial's last result, which Tune keeps in its state
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    res = ray.cluster_resources()
    fits = res.get("CPU", 1.0) / spec.resources.cpu
    if spec.resources.gpu > 0:
        fits = min(fits, res.get("GPU", 0.0) / spec.resources.gpu)
    limit = spec.resources.max_concurrent_trials
    slots = min(fits, limit) if limit else fits
    if local and "TUNE_MAX_PENDING_TRIALS_PG" not in _USER_ENV:  # per study: its resources
        os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(max(2, int(2 * slots)))
