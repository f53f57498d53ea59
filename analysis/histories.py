"""Per-epoch metric histories of many runs, read in bulk: one table with the columns `run_id`,
`metric`, `step`, `value`, `timestamp`, every point MLflow holds for those runs and keys. (The
runs themselves are read in bulk by `study.contract.read_runs`.)

How, by tracking URI:

* a database (`sqlite:`, `postgresql:`, `mysql:`): one SQL query per 500 runs over MLflow's
  own `metrics` table, through SQLAlchemy (the library MLflow's store itself uses), all keys at
  once. A study of 10⁴ runs is 20 queries instead of ~15 × 10⁴ `get_metric_history` calls;
* an MLflow tracking server (`http:`, `https:`): its `get-history-bulk` endpoint (the one the
  MLflow UI's charts use), per key and at most 100 runs a call, fewer when the runs have many
  steps, so that no call reaches the endpoint's 25,000-point limit;
* any other store: `MlflowClient.get_metric_history` per run and key.

The three give the same rows (tests/test_load.py compares them with `get_metric_history`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from study import contract as c

COLUMNS = ["run_id", "metric", "step", "value", "timestamp"]
HTTP_MAX_RUNS = 100  # the endpoint's limits (mlflow/server/handlers.py)
HTTP_MAX_POINTS = 25_000


def read_histories(
    tracking_uri: str, keys: Mapping[str, Sequence[str]], steps: int = 1
) -> pd.DataFrame:
    """Every logged point of `keys[run_id]` for each run. `steps`: the most points one run logs
    per key (sizes the HTTP calls)."""
    if not keys:
        return pd.DataFrame(columns=COLUMNS)
    scheme = c.scheme(tracking_uri)
    if scheme in c.DATABASES:
        rows = _from_database(tracking_uri, keys)
    elif scheme in ("http", "https"):
        rows = _from_server(tracking_uri, keys, steps)
    else:
        rows = _one_by_one(tracking_uri, keys)
    return pd.DataFrame(rows, columns=COLUMNS)


def _from_database(uri: str, keys: Mapping[str, Sequence[str]]) -> list[tuple[Any, ...]]:
    import sqlalchemy as sa

    wanted = {(run, key) for run, ks in keys.items() for key in ks}
    runs = sorted(keys)
    query = sa.text(
        "SELECT run_uuid, key, step, value, is_nan, timestamp FROM metrics WHERE run_uuid IN :runs"
    ).bindparams(sa.bindparam("runs", expanding=True))
    rows = []
    with c.connected(uri) as conn:
        for i in range(0, len(runs), c.SQL_RUNS_PER_QUERY):
            for run, key, step, value, is_nan, stamp in conn.execute(
                query, {"runs": runs[i : i + c.SQL_RUNS_PER_QUERY]}
            ):
                if (run, key) in wanted:  # MLflow stores NaN as a flag beside a 0
                    rows.append(
                        (run, key, int(step), math.nan if is_nan else float(value), int(stamp))
                    )
    return rows


def _from_server(uri: str, keys: Mapping[str, Sequence[str]], steps: int) -> list[tuple[Any, ...]]:
    import requests

    # room for steps logged twice (a retried trial re-sends its epochs)
    per_call = max(1, min(HTTP_MAX_RUNS, HTTP_MAX_POINTS // (2 * max(steps, 1))))
    by_key: dict[str, list[str]] = {}
    for run, ks in keys.items():
        for key in ks:
            by_key.setdefault(key, []).append(run)
    user, password = (
        os.environ.get("MLFLOW_TRACKING_USERNAME"),
        os.environ.get("MLFLOW_TRACKING_PASSWORD"),
    )
    auth = (user, password) if user and password else None
    url = f"{uri.rstrip('/')}/ajax-api/2.0/mlflow/metrics/get-history-bulk"
    rows = []
    with requests.Session() as session:
        for key, runs in sorted(by_key.items()):
            for i in range(0, len(runs), per_call):
                chunk = runs[i : i + per_call]
                params = [("metric_key", key), ("max_results", str(HTTP_MAX_POINTS))]
                params += [("run_id", r) for r in chunk]
                answer = session.get(url, params=params, auth=auth, timeout=120)
                answer.raise_for_status()
                points = answer.json().get("metrics", [])
                if len(points) >= HTTP_MAX_POINTS:
                    raise RuntimeError(f"{key}: {len(chunk)} runs hold more than "
                                       f"{HTTP_MAX_POINTS} points; pass steps=")  # fmt: skip
                rows += [
                    (p["run_id"], key, int(p.get("step", 0)), float(p["value"]),
                     int(p["timestamp"]))
                    for p in points
                ]  # fmt: skip
    return rows


def _one_by_one(uri: str, keys: Mapping[str, Sequence[str]]) -> list[tuple[Any, ...]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    return [
        (run, key, int(m.step), float(m.value), int(m.timestamp))
        for run, ks in keys.items()
        for key in ks
        for m in client.get_metric_history(run, key)
    ]
