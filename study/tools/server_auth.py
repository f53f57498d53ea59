"""`study server --auth`: the bulk reads of `study.tools.server_app` behind MLflow's basic-auth
app (`mlflow.server.auth`, which does the work: users, passwords, per-experiment
permissions, and a 401 for an anonymous request; `signed_in_for_files` adds the UI's own
files, which MLflow leaves open, so that every route but `/health` asks).

MLflow's auth checks a request before its Flask view runs, with a validator per (path,
method); the bulk reads get theirs here. A user reads a study in bulk only where MLflow would
let them read it run by run: `can_read` on the experiment of the runs request, and on every
experiment that the run ids of a histories request belong to. Admins pass, as in MLflow.
A body the validator cannot read passes to the view, which answers 400 (`server_app`).

MLflow loads it as the `lossbench-auth` app (pyproject.toml's `mlflow.app` entry point), a
factory that `mlflow server` calls in its worker; `study.tools.server.auth_env` writes its
configuration.
"""

from __future__ import annotations

from typing import Any

from flask import request

from study import contract as c
from study.tools import server_app


def _user() -> str | None:
    """The authenticated user (MLflow authenticates before it runs a validator)."""
    from mlflow.server import auth

    found = auth.authenticate_request()
    return getattr(found, "username", None)


def _can_read(experiment_ids: set[str]) -> bool:
    from mlflow.server import auth

    user = _user()
    if user is None:
        return False
    return all(auth._get_experiment_permission(e, user).can_read for e in experiment_ids)


def can_read_runs() -> bool:
    try:
        experiment_id = server_app.parse_runs(server_app.body())[0]
    except server_app.BadRequest:
        return True  # the view answers 400
    return _can_read({experiment_id})


def can_read_histories() -> bool:
    try:
        keys = server_app.parse_histories(server_app.body())
    except server_app.BadRequest:
        return True  # the view answers 400
    store = server_app.database()
    return store is None or _can_read(store.experiments_of(list(keys)))


def signed_in_for_files() -> Any:
    """MLflow leaves the UI's own files (`/static-files/...`: its page and scripts, no data)
    open; here they ask for a user too, so that every route but `/health` does."""
    from mlflow.server import auth

    if request.path.startswith("/static-files"):
        found = auth.authenticate_request()
        return found if not hasattr(found, "username") else None
    return None


def create_app() -> Any:
    """MLflow's basic-auth app over its Flask app, which holds the bulk routes."""
    from mlflow.server import auth

    server_app.flask_app.before_request(signed_in_for_files)
    auth.BEFORE_REQUEST_VALIDATORS[(c.SERVER_RUNS_PATH, "POST")] = can_read_runs
    auth.BEFORE_REQUEST_VALIDATORS[(c.SERVER_HISTORIES_PATH, "POST")] = can_read_histories
    return auth.create_app(server_app.flask_app)
