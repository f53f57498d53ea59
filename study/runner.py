"""Build, run and resume a study's Ray Tune `Tuner`.

One trial = one call of `study.trial.run_trial` inside a Tune function trainable; every epoch
it reports metrics with a checkpoint, so a crashed trial retries from its last epoch. MLflow is
written only from the driver, by `TrackingCallback`. Storage: `<storage>/<study name>`; running
the same study again resumes it (`Tuner.restore`), a different spec under the same name is
refused.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.config import TrialConfig
from study.errors import UserError
from study.spaces import StudySpec
from study.tracking import Tracker, metric_items
from study.trial import load_checkpoint, run_trial, save_checkpoint

SPEC_FILE = "lossbench_spec.json"
ARTIFACT_PREFIX = "artifact:"
CHECKPOINT_FILE = "checkpoint.pt"


@dataclass(frozen=True)
class StudyOutcome:
    name: str
    experiment_id: str
    parent_run_id: str
    tracking_uri: str
    storage: Path
    n_trials: int
    finished: int
    errored: int
    final: list[dict[str, Any]] = field(default_factory=list)  # per trial: overrides + finals

    @property
    def complete(self) -> bool:
        return self.finished == self.n_trials


def trial_label(overrides: Mapping[str, Any]) -> str:
    """Readable trial name, e.g. `loss=lace,seed=1` or `loss=focal(gamma=2.0),seed=0`."""

    def short(value: Any) -> str:
        if isinstance(value, Mapping):
            head_key = "name" if "name" in value else "kind" if "kind" in value else None
            head = str(value[head_key]) if head_key else ""
            params = ",".join(f"{k}={v}" for k, v in value.items() if k != head_key)
            return f"{head}({params})" if params else head
        return str(value)

    return ",".join(f"{k}={short(v)}" for k, v in overrides.items())


def _trial_name(trial: Any) -> str:
    return f"{trial_label(trial.config['overrides'])}_{trial.trial_id}"


def _trainable(config: dict[str, Any], base: TrialConfig) -> None:
    """Tune function trainable: resume from Tune's checkpoint if any, report every epoch."""
    from ray import tune

    cfg = base.with_overrides(config["overrides"])
    state = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = load_checkpoint(str(Path(folder) / CHECKPOINT_FILE))

    def report(
        metrics: dict[str, float], trial_state: dict[str, Any], artifacts: dict[str, bytes]
    ) -> None:
        # Files travel to the driver inside the result (base64): workers never need access to
        # the tracking store, and a file is logged by the driver together with its epoch.
        result: dict[str, Any] = dict(metrics)
        result.update(
            {ARTIFACT_PREFIX + k: base64.b64encode(v).decode() for k, v in artifacts.items()}
        )
        with tempfile.TemporaryDirectory(prefix="lossbench-ckpt-") as folder:
            save_checkpoint(trial_state, str(Path(folder) / CHECKPOINT_FILE))
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder))

    run_trial(cfg, report, state)


def _tune_callback_base() -> type:
    from ray.tune import Callback

    return Callback


class TrackingCallback(_tune_callback_base()):  # type: ignore[misc]
    """Driver-side MLflow logging: one child run per Ray trial, found again by trial id."""

    def __init__(
        self, tracker: Tracker, experiment_id: str, parent_id: str, study: str, base: TrialConfig
    ) -> None:
        self.tracker = tracker
        self.experiment_id = experiment_id
        self.parent_id = parent_id
        self.study = study
        self.base = base
        self._runs: dict[str, str] = {}
        self._last_step: dict[str, int] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles the run config; run ids are looked up again after a restore.
        state = dict(self.__dict__)
        state["_runs"], state["_last_step"] = {}, {}
        return state

    def _run_id(self, trial: Any) -> str:
        if trial.trial_id not in self._runs:
            cfg = self.base.with_overrides(trial.config["overrides"])
            run_id = self.tracker.trial_run(
                self.experiment_id,
                self.parent_id,
                self.study,
                trial.trial_id,
                _trial_name(trial),
                cfg,
                {"trial_label": trial_label(trial.config["overrides"])},
            )
            self._runs[trial.trial_id] = run_id
            self._last_step[trial.trial_id] = self.tracker.last_step(run_id)
        return self._runs[trial.trial_id]

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._run_id(trial)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        run_id = self._run_id(trial)
        step = int(result.get("epoch", 0))
        if step <= self._last_step[trial.trial_id]:
            return  # re-sent after a retry: already logged
        self.tracker.log_metrics(run_id, metric_items(result), step)
        for key, value in result.items():
            if key.startswith(ARTIFACT_PREFIX):
                name = key[len(ARTIFACT_PREFIX) :]
                self.tracker.log_bytes(run_id, base64.b64decode(value), name)
        self._last_step[trial.trial_id] = step

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.tracker.set_status(self._run_id(trial), "FINISHED")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.tracker.set_status(self._run_id(trial), "FAILED")


def run_study(
    spec: StudySpec,
    tracking_uri: str,
    storage: Path,
    address: str | None = None,
) -> StudyOutcome:
    """Run (or resume) `spec` to completion under Ray Tune, tracking it in MLflow."""
    from ray import tune

    storage = storage.resolve()
    exp_path = storage / spec.name
    _check_same_spec(exp_path, spec)

    tracker = Tracker(tracking_uri)
    experiment_id = tracker.experiment_id(spec.name)
    parent_id = tracker.parent_run(experiment_id, spec.name, spec.spec_hash(), spec.to_dict())

    _init_ray(address)
    trainable = tune.with_resources(
        tune.with_parameters(_trainable, base=spec.base),
        {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu},
    )
    if tune.Tuner.can_restore(str(exp_path)):
        tuner = tune.Tuner.restore(
            str(exp_path), trainable, resume_unfinished=True, resume_errored=True
        )
    else:
        exp_path.mkdir(parents=True, exist_ok=True)
        (exp_path / SPEC_FILE).write_text(json.dumps(spec.to_dict(), indent=2, default=str))
        callback = TrackingCallback(tracker, experiment_id, parent_id, spec.name, spec.base)
        tuner = tune.Tuner(
            trainable,
            param_space={"overrides": tune.grid_search(spec.trial_overrides())},
            tune_config=tune.TuneConfig(
                max_concurrent_trials=spec.resources.max_concurrent_trials,
                trial_name_creator=_trial_name,
                trial_dirname_creator=_trial_name,
            ),
            run_config=tune.RunConfig(
                name=spec.name,
                storage_path=str(storage),
                failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                callbacks=[callback],
                verbose=1,
            ),
        )
    grid = tuner.fit()
    return _settle(spec, tracker, experiment_id, parent_id, storage, grid)


def _settle(
    spec: StudySpec,
    tracker: Tracker,
    experiment_id: str,
    parent_id: str,
    storage: Path,
    grid: Any,
) -> StudyOutcome:
    """Mark interrupted runs KILLED and the parent FINISHED / FAILED / KILLED."""
    finished = errored = 0
    final: list[dict[str, Any]] = []
    for result in grid:
        metrics = result.metrics or {}
        if result.error is not None:
            errored += 1
        elif "final_paper_top5_error" in metrics:
            finished += 1
            overrides = (result.config or {}).get("overrides", {})
            final.append({**overrides, **metric_items(metrics)})
    for run in tracker.find_runs(experiment_id, lossbench__role="trial", study=spec.name):
        if run.info.status == "RUNNING":
            tracker.set_status(run.info.run_id, "KILLED")
    n_trials = len(spec.trial_overrides())
    if finished == n_trials:
        status = "FINISHED"
    elif errored:
        status = "FAILED"
    else:
        status = "KILLED"
    tracker.set_status(parent_id, status)
    return StudyOutcome(
        spec.name,
        experiment_id,
        parent_id,
        tracker.uri,
        storage,
        n_trials,
        finished,
        errored,
        final,
    )


def _check_same_spec(exp_path: Path, spec: StudySpec) -> None:
    stored = exp_path / SPEC_FILE
    if not stored.is_file():
        return
    previous = json.loads(stored.read_text())
    if json.dumps(previous, sort_keys=True) != json.dumps(
        json.loads(json.dumps(spec.to_dict(), default=str)), sort_keys=True
    ):
        raise UserError(
            f"name: study {spec.name!r} already exists in {exp_path} with a different spec; "
            f"rename the study or remove that folder (re-running the same spec resumes it)"
        )


def _init_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    # Trials run in Ray workers whose cwd is a scratch folder: every path we hand them is
    # absolute already; keep the worker's cwd where the driver was for anything else.
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    # We checkpoint every epoch on purpose (exact resume); with short epochs Tune then warns
    # about frequent experiment snapshots on every report. Real epochs take seconds or more.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(address="local", include_dashboard=False, log_to_driver=True)
