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

A body that is not what an endpoint reads (not JSON, a wrong type, an experiment id that is not
digits, more than `MAX_RUNS` run ids) gets 400 and one short line saying what is wrong
(`parse_runs`, `parse_histories`), before any SQL runs.

MLflow loads the app as a plugin: pyproject.toml's `mlflow.app` entry point `lossbench`, and
`mlflow server --app-name lossbench` (`study.tools.server.server_command`); `lossbench-auth`
(`study.tools.server_auth`) is the same routes behind MLflow's basic-auth.
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

__all__ = ["MAX_RUNS", "BadRequest", "app", "body", "parse_histories", "parse_runs"]

MAX_RUNS = 10_000  # run ids a histories request may name (`ServerStore` sends 500)


class BadRequest(ValueError):
    """A body an endpoint cannot read: answered 400 with this message."""


def database() -> DatabaseStore | None:
    uri = os.environ.get(BACKEND_STORE_URI_ENV_VAR, "")
    return DatabaseStore(uri) if c.scheme(uri) in c.DATABASES else None


def body() -> Any:
    """The request's JSON, None if it is not JSON (the parsers say so)."""
    return request.get_json(force=True, silent=True)


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{what}: expected a list of strings")
    return value


def _string_map(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadRequest(f"{what}: expected an object of strings")
    return value


def parse_runs(body: Any) -> tuple[str, dict[str, str], bool, dict[str, list[str]] | None]:
    """`(experiment_id, wanted, params, only)` of a runs request, else `BadRequest`."""
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    exp = body.get("experiment_id")
    if isinstance(exp, bool) or not isinstance(exp, str | int) or not str(exp).isdigit():
        raise BadRequest("experiment_id: expected an experiment id (digits)")
    wanted = _string_map(body.get("wanted", {}), "wanted")
    params = body.get("params", True)
    if not isinstance(params, bool):
        raise BadRequest("params: expected true or false")
    only = body.get("only") or None
    if only is not None:
        if not isinstance(only, dict):
            raise BadRequest("only: expected an object of lists")
        only = {str(k): _strings(v, f"only.{k}") for k, v in only.items()}
    return str(exp), wanted, params, only


def parse_histories(body: Any) -> dict[str, list[str]]:
    """The `{run_id: [metric, ...]}` of a histories request, else `BadRequest`."""
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    if not isinstance(body.get("keys"), dict):
        raise BadRequest("keys: expected an object of run id: [metric, ...]")
    keys: dict[str, Any] = body["keys"]
    if len(keys) > MAX_RUNS:
        raise BadRequest(f"keys: {len(keys)} run ids, at most {MAX_RUNS} a request")
    return {run: _strings(ks, "keys") for run, ks in keys.items()}


def _answer(payload: Any) -> Response:
    return Response(json.dumps(payload), mimetype="application/json")


def _refused(exc: BadRequest) -> Response:
    return Response(f"{exc}\n", status=400, mimetype="text/plain")


def runs() -> Response:
    store = database()
    if store is None:
        return Response("not a database store", status=404)
    try:
        experiment_id, wanted, params, only = parse_runs(body())
    except BadRequest as exc:
        return _refused(exc)
    found = store.read_runs(experiment_id, wanted, params, only=only)
    return _answer([[*r.info, *r.data] for r in found])


def histories() -> Response:
    store = database()
    if store is None:
        return Response("not a database store", status=404)
    try:
        keys = parse_histories(body())
    except BadRequest as exc:
        return _refused(exc)
    return _answer(store.history_rows(keys))


flask_app.add_url_rule(c.SERVER_RUNS_PATH, "lossbench_runs", runs, methods=["POST"])
flask_app.add_url_rule(c.SERVER_HISTORIES_PATH, "lossbench_histories", histories, methods=["POST"])
