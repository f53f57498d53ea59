"""MLflow → tidy pandas tables, in one pass through the study's store (`study.store`). Reads
runs only: never imports Ray, never trains.

* `trials`: one row per trial run — run id, status, stage (`main`, or `tune` / `evaluate` of a
  tune-then-evaluate study), the params cast to their types (dotted keys), `loss_label` (the
  loss name with its hyperparameters), and every metric's last value.
* `epochs`: one row per (run, metric, step) from the metric histories, read in bulk; a step
  logged twice (a retried trial re-sending an epoch) keeps its latest value.
* `setting_keys`: the study's grid axes other than the loss and the seed, read from the
  parent run's `grid_axes` tag and expanded to the dotted params that vary across trials.
* `spec`: the stored study spec (the parent run's copy of the study record's).
* `decisions`: a sequential study's verdicts, copied to the parent run by the driver.
* `reliability`: each finished trial's reliability bins, by run id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from study import contract as c
from study.contract import loss_label
from study.store import RunRecord, Store, open_store, runs_frame

PAIRING_EXCLUDED = ("loss", "seed")
DECISION_COLUMNS = ["comparison", "candidate", "setting", "decision", "look", "mean", "ci_low",
                    "ci_high", "futility_bound", "boundary"]  # fmt: skip
Curves = Collection[str] | Callable[[Mapping[str, Any]], Collection[str] | None] | None


@dataclass(frozen=True)
class StudyRuns:
    experiment: str
    experiment_id: str
    parent: dict[str, Any]  # run_id, tags, params of the study's parent run
    trials: pd.DataFrame
    epochs: pd.DataFrame
    setting_keys: list[str]
    spec: dict[str, Any] = field(default_factory=dict)
    decisions: pd.DataFrame = field(default_factory=lambda: _no_decisions())
    reliability: dict[str, dict[str, Any]] = field(default_factory=dict)  # run id -> bins


def _no_decisions() -> pd.DataFrame:
    return pd.DataFrame(columns=DECISION_COLUMNS)


def cast_param(value: str) -> Any:
    """MLflow stores params as strings: give them back their types."""
    if value in ("True", "False"):
        return value == "True"
    if value == "None":
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def load_study(
    tracking_uri: str, experiment: str, curves: Curves = None, files: bool = True
) -> StudyRuns:
    """The study's latest parent run, its trials, their curves (`curves`: these, or a function
    of the spec giving them, or every curve the trials logged when None; none when empty) and,
    with `files`, its decisions and the finished trials' reliability bins."""
    store = open_store(tracking_uri)
    exp_id = store.find_experiment(experiment)
    if exp_id is None:
        known = ", ".join(store.experiment_names()) or "none"
        raise LookupError(f"no experiment {experiment!r} at {tracking_uri} (known: {known})")
    parent = store.find_parent(exp_id, experiment)  # the latest
    if parent is None:
        raise LookupError(f"experiment {experiment!r} has no lossbench study (parent) run")
    spec_file = store.read_file(parent.info.artifact_uri, c.SPEC_FILE) if files else None
    spec = json.loads(spec_file) if spec_file else {}
    trials = trials_frame(store.read_trials(exp_id, experiment, parent.info.run_id))
    wanted = curves(spec) if callable(curves) else curves
    axes = json.loads(parent.data.tags.get(c.GRID_AXES_TAG, "[]"))
    return StudyRuns(
        experiment=experiment,
        experiment_id=exp_id,
        parent={
            "run_id": parent.info.run_id,
            "tags": dict(parent.data.tags),
            "params": dict(parent.data.params),
        },
        trials=trials,
        epochs=read_epochs(store, trials, wanted),
        setting_keys=setting_keys(trials, axes),
        spec=spec,
        decisions=read_decisions(store, parent) if files else _no_decisions(),
        reliability=read_reliability(store, trials) if files else {},
    )


def read_reliability(store: Store, trials: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Each finished trial's `contract.RELIABILITY_FILE`, by run id (a run without it is left
    out), read straight from each run's artifacts a few at a time (a tracking server's are
    HTTP calls)."""
    if trials.empty:
        return {}
    done = trials[trials["status"] == "FINISHED"]
    rows = list(zip(done["run_id"], done["artifact_uri"], strict=True))
    with ThreadPoolExecutor(8) as pool:
        found = pool.map(lambda r: (r[0], store.read_file(r[1], c.RELIABILITY_FILE)), rows)
        return {run: dict(json.loads(data)) for run, data in found if data is not None}


def read_decisions(store: Store, parent: RunRecord) -> pd.DataFrame:
    """A sequential study's verdicts, one row per comparison: its candidate and setting, the
    look at which it was decided (or its last look), its decision, the mean gain, the repeated
    CI, the futility bound and the boundary it crossed at that look. Read from the parent
    run's decisions `look-<n>` (`study.orchestration.runner` copies them there from the study
    storage); empty when the study has none."""
    looks = {c.look_number(k): v for k, v in store.read_decisions(parent).items()}
    rows: dict[str, dict[str, Any]] = {}
    for n in sorted(k for k in looks if k is not None):
        for comparison, verdict in looks[n].items():
            rows[comparison] = {"comparison": comparison, **verdict}  # a later look supersedes
    return pd.DataFrame(list(rows.values()), columns=DECISION_COLUMNS)


def setting_keys(trials: pd.DataFrame, axes: list[str]) -> list[str]:
    """Dotted params that vary across trials and belong to a grid axis, minus loss and seed."""
    if trials.empty:
        return []
    varying = [c for c in trials.columns if "." in c and trials[c].astype(str).nunique() > 1]
    keys = []
    for col in varying:
        top = col.split(".")[0]
        if top in PAIRING_EXCLUDED or col in PAIRING_EXCLUDED:
            continue
        if not axes or any(col == a or col.startswith(a + ".") for a in axes):
            keys.append(col)
    return keys


def trials_frame(runs: list[RunRecord]) -> pd.DataFrame:
    """One row per trial run, from the store's frame of the runs (`study.store.runs_frame`):
    its info, stage and grid point, `loss_label`, the params cast to their types (a run
    without a param has no value there), then every metric's last value."""
    raw = runs_frame(runs)
    params = [k for k in raw.columns if k.startswith("params.")]
    metrics = [k for k in raw.columns if k.startswith("metrics.")]
    rows = []
    for run in raw.to_dict("records"):
        # MLflow's params are strings: a missing one is NaN in the frame
        cast = {k[7:]: cast_param(run[k]) for k in params if isinstance(run[k], str)}
        rows.append({
            "run_id": run["run_id"], "run_name": run["run_name"], "status": run["status"],
            "artifact_uri": run["artifact_uri"],
            "ray_trial_id": _tag(run, c.TRIAL_ID_TAG, None),
            "stage": _tag(run, c.STAGE_TAG, "") or c.MAIN_STAGE,
            "grid_point": _tag(run, c.GRID_POINT_TAG, ""),
            c.HARDWARE_TAG: _tag(run, c.HARDWARE_TAG, ""),
            "loss_label": loss_label(cast),
            **cast,
            **{k[8:]: run[k] for k in metrics},  # NaN where a run lacks one, as logged NaN
        })  # fmt: skip
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values(["loss_label", "seed"], kind="stable").reset_index(drop=True)
    return frame


def _tag(run: dict[str, Any], key: str, default: Any) -> Any:
    value = run.get(f"tags.{key}")
    return default if _missing(value) else value


def _missing(value: Any) -> bool:
    """Absent from the run: NaN in the frame."""
    return value is None or (isinstance(value, float) and value != value)


def read_epochs(
    store: Store, trials: pd.DataFrame, curves: Collection[str] | None = None
) -> pd.DataFrame:
    """The trials' per-epoch metrics, read in bulk: `curves` of them, or every curve they
    logged (None). A metric is a curve of the runs whose latest values hold it; each is asked
    of every run (a run without it gives no rows)."""
    if trials.empty:
        return pd.DataFrame(columns=["run_id", "metric", "step", "value"])
    wanted = [k for k in trials.columns if c.is_tracked_metric(k) and c.is_curve(k)
              and (curves is None or k in curves)]  # fmt: skip
    last = pd.to_numeric(trials.get("epoch", pd.Series(dtype=float)), errors="coerce").max()
    steps = 1 if pd.isna(last) else int(last) + 1
    frame = store.read_histories({run: wanted for run in trials["run_id"]}, steps)
    # a re-sent step (retry from a checkpoint) keeps its latest value
    frame = frame.sort_values("timestamp").drop_duplicates(
        ["run_id", "metric", "step"], keep="last"
    )
    return (
        frame.drop(columns="timestamp")
        .sort_values(["run_id", "metric", "step"])
        .reset_index(drop=True)
    )
