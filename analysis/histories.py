"""Per-epoch metric histories of many runs, read in bulk: one table with the columns `run_id`,
`metric`, `step`, `value`, `timestamp`, every point MLflow holds for those runs and keys. (The
runs themselves are read in bulk by `study.contract.runs.read_runs`.)

How, by tracking URI:

* a database (`sqlite:`, `postgresql:`, `mysql:`): one SQL query per 500 runs over MLflow's
  own `metrics` table, through SQLAlchemy (the library MLflow's store itself uses), all keys at
  once. A study of 10⁴ runs is 20 queries instead of ~15 × 10⁴ `get_metric_history` calls;
* a `study server` (`http:`, `https:`): that SQL on its database, one call per 500 runs
  (`study.tools.server_app`);
* another MLflow tracking server: its `get-history-bulk` endpoint (the one the MLflow UI's
  charts use), per key and at most 100 runs a call, fewer when the runs have many steps, so
  that no call reaches the endpoint's 25,000-point limit;
* any other store: `MlflowClient.get_metric_history` per run and key.

They give the same rows (tests/test_load.py compares them with `get_metric_history`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from study import contract as c
from study.contract.runs import SQL_RUNS_PER_QUERY, connected, http_auth, post_json

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
        rows = from_database(tracking_uri, keys)
    elif scheme in ("http", "https"):
        rows = _from_server(tracking_uri, keys, steps)
    else:
        rows = _one_by_one(tracking_uri, keys)
    return pd.DataFrame(rows, columns=COLUMNS)


def from_database(uri: str, keys: Mapping[str, Sequence[str]]) -> list[tuple[Any, ...]]:
    """The points of `keys[run_id]` as rows of `COLUMNS`, from MLflow's `metrics` table of a
    database store (also what `study server` answers with)."""
    import sqlalchemy as sa

    wanted = {(run, key) for run, ks in keys.items() for key in ks}
    runs = sorted(keys)
    query = sa.text(
        "SELECT run_uuid, key, step, value, is_nan, timestamp FROM metrics WHERE run_uuid IN :runs"
    ).bindparams(sa.bindparam("runs", expanding=True))
    rows = []
    with connected(uri) as conn:
        for i in range(0, len(runs), SQL_RUNS_PER_QUERY):
            for run, key, step, value, is_nan, stamp in conn.execute(
                query, {"runs": runs[i : i + SQL_RUNS_PER_QUERY]}
            ):
                if (run, key) in wanted:  # MLflow stores NaN as a flag beside a 0
                    rows.append(
                        (run, key, int(step), math.nan if is_nan else float(value), int(stamp))
                    )
    return rows


def _from_server(uri: str, keys: Mapping[str, Sequence[str]], steps: int) -> list[tuple[Any, ...]]:
    runs = sorted(keys)
    rows: list[tuple[Any, ...]] = []
    for i in range(0, len(runs), SQL_RUNS_PER_QUERY):  # `study server`: its database's SQL
        chunk = {run: list(keys[run]) for run in runs[i : i + SQL_RUNS_PER_QUERY]}
        got = post_json(uri, c.SERVER_HISTORIES_PATH, {"keys": chunk})
        if got is None:  # a plain MLflow server
            return _from_mlflow_server(uri, keys, steps)
        rows += [tuple(row) for row in got]
    return rows


def _from_mlflow_server(
    uri: str, keys: Mapping[str, Sequence[str]], steps: int
) -> list[tuple[Any, ...]]:
    import requests

    # room for steps logged twice (a retried trial re-sends its epochs)
    per_call = max(1, min(HTTP_MAX_RUNS, HTTP_MAX_POINTS // (2 * max(steps, 1))))
    by_key: dict[str, list[str]] = {}
    for run, ks in keys.items():
        for key in ks:
            by_key.setdefault(key, []).append(run)
    auth = http_auth()
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
