"""The store of a tracking server over HTTP: runs and curves through `study server`'s bulk
endpoints (`study.tools.server_app`: the SQL of `database.DatabaseStore` on its database, one
call per 500 runs), else MLflow's REST API, which every MLflow server has:

* runs: `search_runs`, page after page (`client.ClientStore`);
* curves: the `get-history-bulk` endpoint (the one the MLflow UI's charts use), per key and at
  most 100 runs a call, fewer when the runs have many steps, so that no call reaches the
  endpoint's 25,000-point limit.

Writes go through MLflow's client. Requests does the HTTP; the credentials are the ones
MLflow's client reads (`MLFLOW_TRACKING_USERNAME`, `MLFLOW_TRACKING_PASSWORD`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from study import contract as c
from study.errors import UserError
from study.store.access import PASSWORD_VAR, USER_VAR
from study.store.client import ClientStore, histories_frame
from study.store.records import RunData, RunInfo, RunRecord
from study.store.sql_writes import SQL_RUNS_PER_QUERY

if TYPE_CHECKING:
    import pandas as pd

HTTP_MAX_RUNS = 100  # the endpoint's limits (mlflow/server/handlers.py)
HTTP_MAX_POINTS = 25_000


def http_auth() -> tuple[str, str] | None:
    """The basic-auth credentials MLflow's client reads from the environment, if set."""
    user, password = os.environ.get(USER_VAR), os.environ.get(PASSWORD_VAR)
    return (user, password) if user and password else None


class ServerStore(ClientStore):
    """A study's runs on a tracking server, read in bulk where it is a `study server`."""

    def post_json(self, path: str, body: Any) -> Any | None:
        """The answer of a `study server` endpoint; None from a server without it (404)."""
        import requests

        url = self.uri.rstrip("/") + path
        answer = requests.post(url, json=body, auth=http_auth(), timeout=600)
        if answer.status_code == 404:
            return None
        if answer.status_code in (401, 403):  # `study server --auth`: who may read what
            said = answer.text.strip().splitlines()[0] if answer.text.strip() else ""
            raise UserError(f"the tracking server at {self.uri} refused a bulk read "
                            f"({answer.status_code} {said})")  # fmt: skip
        answer.raise_for_status()
        return json.loads(answer.text)  # NaN as Python writes it (`server_app`)

    def read_runs(
        self, experiment_id: str, wanted: Mapping[str, str], params: bool = True,
        only: Mapping[str, Iterable[str]] | None = None,
    ) -> list[RunRecord]:  # fmt: skip
        body = {"experiment_id": str(experiment_id), "wanted": dict(wanted), "params": params,
                "only": {k: list(v) for k, v in (only or {}).items()}}  # fmt: skip
        rows = self.post_json(c.SERVER_RUNS_PATH, body)
        if rows is None:  # a plain MLflow server
            return super().read_runs(experiment_id, wanted, params, only)
        return [RunRecord(RunInfo(*r[:5]), RunData(*r[5:])) for r in rows]

    def read_histories(self, keys: Mapping[str, Sequence[str]], steps: int = 1) -> pd.DataFrame:
        runs = sorted(keys)
        rows: list[tuple[Any, ...]] = []
        for i in range(0, len(runs), SQL_RUNS_PER_QUERY):
            chunk = {run: list(keys[run]) for run in runs[i : i + SQL_RUNS_PER_QUERY]}
            got = self.post_json(c.SERVER_HISTORIES_PATH, {"keys": chunk})
            if got is None:  # a plain MLflow server
                return histories_frame(self._bulk_histories(keys, steps))
            rows += [tuple(row) for row in got]
        return histories_frame(rows)

    def _bulk_histories(
        self, keys: Mapping[str, Sequence[str]], steps: int
    ) -> list[tuple[Any, ...]]:
        import requests

        # room for steps logged twice (a retried trial re-sends its epochs)
        per_call = max(1, min(HTTP_MAX_RUNS, HTTP_MAX_POINTS // (2 * max(steps, 1))))
        by_key: dict[str, list[str]] = {}
        for run, ks in keys.items():
            for key in ks:
                by_key.setdefault(key, []).append(run)
        url = f"{self.uri.rstrip('/')}/ajax-api/2.0/mlflow/metrics/get-history-bulk"
        rows = []
        with requests.Session() as session:
            for key, runs in sorted(by_key.items()):
                for i in range(0, len(runs), per_call):
                    chunk = runs[i : i + per_call]
                    params = [("metric_key", key), ("max_results", str(HTTP_MAX_POINTS))]
                    params += [("run_id", r) for r in chunk]
                    answer = session.get(url, params=params, auth=http_auth(), timeout=120)
                    answer.raise_for_status()
                    points = answer.json().get("metrics", [])
                    if len(points) >= HTTP_MAX_POINTS:
                        raise RuntimeError(f"{key}: {len(chunk)} runs hold more than "
                                           f"{HTTP_MAX_POINTS} points; pass steps=")  # fmt: skip
                    rows += [(p["run_id"], key, int(p.get("step", 0)), float(p["value"]),
                              int(p["timestamp"])) for p in points]  # fmt: skip
        return rows
