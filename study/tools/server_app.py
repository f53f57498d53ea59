"""`study server`'s app: MLflow's tracking server (`mlflow.server.fastapi_app`, its UI and REST
API unchanged) with two bulk reads of a study added to its Flask app, for readers over HTTP
(`study.store.server.ServerStore`):

* POST `SERVER_RUNS_PATH` `{experiment_id, wanted, params, only}`: the runs that
  `DatabaseStore.read_runs` finds on the server's database, each as
  `[run_id, run_name, status, artifact_uri, start_time, params, tags, metrics]`;
* POST `SERVER_HISTORIES_PATH` `{keys: {run_id: [metric, ...]}}`: the points
  `DatabaseStore.history_rows` reads from that database, `[run_id, metric, step, value,
  timestamp]`.

Both run the store's SQL on the server's database. Over MLflow's own endpoints a reader pays
for ~90 entities a run built and serialised one by one (`search_runs`: 8.0 s for 2,000 runs
against 0.69 s here, `benchmarks/server_reads.py`) and one `get-history-bulk` call per metric
and 100 runs. The answers are JSON with NaN written as Python writes it (`json.dumps`), which
`json.loads` reads back. A store that is not a database answers 404, as a plain MLflow server
does, and the readers fall back to MLflow's endpoints.

MLflow loads the app as a plugin: pyproject.toml's `mlflow.app` entry point `lossbench`, and
`mlflow server --app-name lossbench` (`study.tools.server.server_command`). The routes sit
behind the same middleware as MLflow's own (host checks, CORS, authentication if any).
"""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Response, request
from mlflow.server import app as flask_app
from mlflow.server.constants import BACKEND_STORE_URI_ENV_VAR
from mlflow.server.fastapi_app import app

from study import contract as c
from study.store.database import DatabaseStore

__all__ = ["app"]


def _database() -> DatabaseStore | None:
    uri = os.environ.get(BACKEND_STORE_URI_ENV_VAR, "")
    return DatabaseStore(uri) if c.scheme(uri) in c.DATABASES else None


def _answer(payload: Any) -> Response:
    return Response(json.dumps(payload), mimetype="application/json")


def runs() -> Response:
    store, body = _database(), request.get_json(force=True)
    if store is None:
        return Response("not a database store", status=404)
    found = store.read_runs(str(body["experiment_id"]), body["wanted"], bool(body["params"]),
                            only=body.get("only") or None)  # fmt: skip
    return _answer([[*r.info, *r.data] for r in found])


def histories() -> Response:
    store, body = _database(), request.get_json(force=True)
    if store is None:
        return Response("not a database store", status=404)
    return _answer(store.history_rows(body["keys"]))


flask_app.add_url_rule(c.SERVER_RUNS_PATH, "lossbench_runs", runs, methods=["POST"])
flask_app.add_url_rule(c.SERVER_HISTORIES_PATH, "lossbench_histories", histories, methods=["POST"])
