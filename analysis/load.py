"""MLflow → tidy pandas tables. Reads runs only: never imports Ray, never trains.

* `trials`: one row per trial run — run id, status, stage (`main`, or `tune` / `evaluate` of a
  tune-then-evaluate study), the params cast to their types (dotted keys), `loss_label` (the
  loss name with its hyperparameters), and every metric's last value.
* `epochs`: one row per (run, metric, step) from the metric histories, read in bulk
  (`analysis.histories`); a step logged twice (a retried trial re-sending an epoch) keeps its
  latest value.
* `cell_keys`: the study's grid axes other than the loss and the seed, read from the parent
  run's `grid_axes` tag and expanded to the dotted params that vary across trials.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.histories import read_histories
from study import contract as c
from study.contract import loss_label
from study.contract.runs import find_parent, read_trials

PAIRING_EXCLUDED = ("loss", "seed")


@dataclass(frozen=True)
class StudyRuns:
    experiment: str
    experiment_id: str
    parent: dict[str, Any]  # run_id, tags, params of the study's parent run
    trials: pd.DataFrame
    epochs: pd.DataFrame
    cell_keys: list[str]


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


def load_study(tracking_uri: str, experiment: str, with_epochs: bool = True) -> StudyRuns:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        known = ", ".join(e.name for e in client.search_experiments()) or "none"
        raise LookupError(f"no experiment {experiment!r} at {tracking_uri} (known: {known})")
    exp_id = str(exp.experiment_id)
    parent = find_parent(tracking_uri, exp_id, experiment, client=client)  # the latest
    if parent is None:
        raise LookupError(f"experiment {experiment!r} has no lossbench study (parent) run")
    children = read_trials(tracking_uri, exp_id, experiment, parent.info.run_id, client=client)
    trials = _trials_frame(children)
    epochs = read_epochs(tracking_uri, trials) if with_epochs else pd.DataFrame()
    axes = json.loads(parent.data.tags.get(c.GRID_AXES_TAG, "[]"))
    return StudyRuns(
        experiment=experiment,
        experiment_id=str(exp.experiment_id),
        parent={
            "run_id": parent.info.run_id,
            "tags": dict(parent.data.tags),
            "params": dict(parent.data.params),
        },
        trials=trials,
        epochs=epochs,
        cell_keys=cell_keys(trials, axes),
    )


def _reliability(artifact_uri: str, tracking_uri: str) -> dict[str, Any] | None:
    """A run's `reliability_test.json`, or None: read in place from a local artifact store,
    else downloaded from the run's artifact repository."""
    import tempfile

    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.utils.file_utils import local_file_uri_to_path

    name = "reliability_test.json"
    if artifact_uri.startswith("file:"):
        path = Path(local_file_uri_to_path(artifact_uri)) / name
        return dict(json.loads(path.read_text())) if path.is_file() else None
    with tempfile.TemporaryDirectory(prefix="lossbench-rel-") as tmp:
        try:
            repo = get_artifact_repository(artifact_uri, tracking_uri=tracking_uri)
            local = repo.download_artifacts(name, tmp)
        except Exception:
            return None
        return dict(json.loads(Path(local).read_text()))


def cell_keys(trials: pd.DataFrame, axes: list[str]) -> list[str]:
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


def _trials_frame(runs: list[Any]) -> pd.DataFrame:
    rows = []
    for run in runs:
        params = {k: cast_param(v) for k, v in run.data.params.items()}
        row: dict[str, Any] = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "artifact_uri": run.info.artifact_uri,
            "ray_trial_id": run.data.tags.get(c.TRIAL_ID_TAG),
            "stage": c.stage_of(run),
            "cell": run.data.tags.get(c.CELL_TAG, ""),
            "loss_label": loss_label(params),
            **params,
            **run.data.metrics,
        }
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values(["loss_label", "seed"], kind="stable").reset_index(drop=True)
    return frame


def read_epochs(
    tracking_uri: str, trials: pd.DataFrame, curves: Collection[str] | None = None
) -> pd.DataFrame:
    """The trials' per-epoch metrics, read in bulk (`analysis.histories`): `curves` of them,
    or every curve they logged (None). A metric is a curve of the runs whose latest values
    hold it; each is asked of every run (a run without it gives no rows)."""
    if trials.empty:
        return pd.DataFrame(columns=["run_id", "metric", "step", "value"])
    wanted = [k for k in trials.columns if c.is_tracked_metric(k) and c.is_curve(k)
              and (curves is None or k in curves)]  # fmt: skip
    last = pd.to_numeric(trials.get("epoch", pd.Series(dtype=float)), errors="coerce").max()
    steps = 1 if pd.isna(last) else int(last) + 1
    frame = read_histories(tracking_uri, {run: wanted for run in trials["run_id"]}, steps)
    # a re-sent step (retry from a checkpoint) keeps its latest value
    frame = frame.sort_values("timestamp").drop_duplicates(
        ["run_id", "metric", "step"], keep="last"
    )
    return (
        frame.drop(columns="timestamp")
        .sort_values(["run_id", "metric", "step"])
        .reset_index(drop=True)
    )


def load_decisions(tracking_uri: str, parent_run_id: str) -> pd.DataFrame:
    """A sequential study's verdicts, one row per comparison: the look at which it was decided
    (or its last look), its decision, the mean gain, the repeated CI, the futility bound and
    the boundary it crossed at that look. Read from the parent run's artifacts
    `decisions/look-<n>.json` (`study.orchestration.runner` copies them there from the study
    storage); empty when the study has none."""
    import os
    import tempfile

    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per file
    client = MlflowClient(tracking_uri)
    files = [
        f.path for f in client.list_artifacts(parent_run_id, "decisions")
        if Path(f.path).name.startswith("look-")
    ]  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="lossbench-decisions-") as tmp:
        for path in sorted(files, key=lambda p: int(Path(p).stem.split("-")[1])):
            local = client.download_artifacts(parent_run_id, path, tmp)
            for cell, verdict in json.loads(Path(local).read_text()).items():
                rows[cell] = {"comparison": cell, **verdict}  # a later look supersedes
    columns = ["comparison", "decision", "look", "mean", "ci_low", "ci_high", "futility_bound",
               "boundary"]  # fmt: skip
    return pd.DataFrame(list(rows.values()), columns=columns)


def load_reliability_bins(
    tracking_uri: str, finished: pd.DataFrame
) -> dict[str, dict[str, np.ndarray]]:
    """Reliability bins pooled per loss from each trial's `reliability_test.json` artifact,
    read straight from each run's artifact repository (MLflow's `get_artifact_repository` on
    the run's artifact URI; `MlflowClient.download_artifacts` would ask the store for the
    run first, one query per trial), a few at a time (a tracking server's are HTTP calls)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    if finished.empty:
        return {}
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per trial
    rows = list(zip(finished["loss_label"], finished["artifact_uri"], strict=True))
    with ThreadPoolExecutor(8) as pool:
        found = pool.map(lambda row: (row[0], _reliability(row[1], tracking_uri)), rows)
        out: dict[str, dict[str, np.ndarray]] = {}
        for loss, b in found:
            if b is None:  # a run without that artifact: its bins are left out
                continue
            count = np.asarray(b["count"], float)
            zeros = np.zeros_like(count)
            acc = out.setdefault(loss, {"n": zeros, "conf": zeros.copy(), "hit": zeros.copy()})
            acc["n"] += count
            acc["conf"] += count * np.asarray(b["confidence"])
            acc["hit"] += count * np.asarray(b["accuracy"])
    return {
        loss: {
            "count": a["n"],
            "confidence": a["conf"] / np.maximum(a["n"], 1),
            "accuracy": a["hit"] / np.maximum(a["n"], 1),
        }
        for loss, a in out.items()
    }
