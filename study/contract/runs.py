"""Reading a study's runs back in bulk: its parent run, its trial runs, in one SQL query per
500 runs on a database store, through `study server`'s bulk endpoint over HTTP, or page by
page with `MlflowClient.search_runs` elsewhere. The names it reads are `study.contract`'s;
SQLAlchemy, requests or MLflow are imported by the readers that use them, so that importing
this module costs the standard library only (`study status` reads a database without MLflow).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

from study.contract import (
    DATABASES,
    PAGE,
    PARENT_ROLE,
    PARENT_TAG,
    ROLE_TAG,
    SERVER_RUNS_PATH,
    SPEC_HASH_TAG,
    STAGE_TAG,
    STUDY_TAG,
    TRIAL_ROLE,
    scheme,
)


def search_all(client: Any, experiment_ids: list[str], where: str, page: int = PAGE) -> list[Any]:
    """Every run `MlflowClient.search_runs` finds, page after page (one call returns at most
    `max_results` runs and a token for the next page)."""
    found: list[Any] = []
    token = None
    while True:
        batch = client.search_runs(experiment_ids, where, max_results=page, page_token=token)
        found.extend(batch)
        token = getattr(batch, "token", None)
        if not token:
            return found


# a run as `search_runs` gives it: `.info` and `.data` (params, tags, latest metrics)
class RunInfo(NamedTuple):
    run_id: str
    run_name: str
    status: str
    artifact_uri: str
    start_time: int | None


class RunData(NamedTuple):
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float]


class RunRecord(NamedTuple):
    info: RunInfo
    data: RunData


_runs_sql = """
SELECT r.run_uuid, r.name, r.status, r.artifact_uri, r.start_time FROM runs r
WHERE r.experiment_id = :exp AND r.lifecycle_stage = 'active'
"""
_tagged_sql = " AND r.run_uuid IN (SELECT run_uuid FROM tags WHERE key = :k{i} AND value = :v{i})"
_per_run_sql = {
    "params": "SELECT run_uuid, key, value FROM params WHERE run_uuid IN :runs",
    "tags": "SELECT run_uuid, key, value FROM tags WHERE run_uuid IN :runs",
    "metrics": "SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN :runs",
}
SQL_RUNS_PER_QUERY = 500


@contextmanager
def connected(tracking_uri: str) -> Iterator[Any]:
    """A SQLAlchemy connection to a database store; its engine is disposed afterwards."""
    import sqlalchemy as sa

    engine = sa.create_engine(tracking_uri)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def find_experiment(tracking_uri: str, name: str) -> str | None:
    """The id of the experiment named `name`, or None (`MlflowClient.get_experiment_by_name`;
    on a database, one SQL query without importing MLflow)."""
    if scheme(tracking_uri) not in DATABASES:
        from mlflow.tracking import MlflowClient

        found = MlflowClient(tracking_uri).get_experiment_by_name(name)
        return None if found is None else str(found.experiment_id)
    import sqlalchemy as sa

    with connected(tracking_uri) as conn:
        sql = sa.text("SELECT experiment_id FROM experiments WHERE name = :name")
        row = conn.execute(sql, {"name": name}).first()
    return None if row is None else str(row[0])


def read_runs(
    tracking_uri: str, experiment_id: str, wanted: Mapping[str, str], params: bool = True,
    client: Any = None, only: Mapping[str, Iterable[str]] | None = None,
) -> list[Any]:  # fmt: skip
    """The active runs of an experiment with every tag of `wanted`, as `search_runs` gives
    them (params unless `params=False`; `only`: just these keys of a table, where read by SQL).
    On a database, SQL through SQLAlchemy over MLflow's `runs`, `params`, `tags` and
    `latest_metrics`: one query for the runs, one per table and 500 runs (`search_runs` builds
    ~90 ORM objects a trial: 3.3 s per 1,000 on SQLite); through a `study server`, that SQL on
    its database (`SERVER_RUNS_PATH`); elsewhere `search_all` with `client`.
    tests/test_load.py holds them equal."""
    if scheme(tracking_uri) in ("http", "https"):
        body = {"experiment_id": str(experiment_id), "wanted": dict(wanted), "params": params,
                "only": {k: list(v) for k, v in (only or {}).items()}}  # fmt: skip
        rows = post_json(tracking_uri, SERVER_RUNS_PATH, body)
        if rows is not None:
            return [RunRecord(RunInfo(*r[:5]), RunData(*r[5:])) for r in rows]
    if scheme(tracking_uri) not in DATABASES:
        if client is None:
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri)
        where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in wanted.items())
        return search_all(client, [experiment_id], where)
    import sqlalchemy as sa

    sql = _runs_sql + "".join(_tagged_sql.format(i=i) for i in range(len(wanted)))
    binds: dict[str, Any] = {"exp": str(experiment_id)}
    for i, (k, v) in enumerate(wanted.items()):
        binds |= {f"k{i}": k, f"v{i}": v}
    with connected(tracking_uri) as conn:
        found = conn.execute(sa.text(sql), binds).all()
        ids = [row[0] for row in found]
        tables = {name: _per_run(conn, query, ids, (only or {}).get(name))
                  if params or name != "params" else {}
                  for name, query in _per_run_sql.items()}  # fmt: skip
    return [
        RunRecord(
            RunInfo(run, name or "", status, uri, start),
            RunData(*(tables[t].get(run, {}) for t in ("params", "tags", "metrics"))),
        )
        for run, name, status, uri, start in found
    ]


def _per_run(
    conn: Any, sql: str, ids: list[str], keys: Iterable[str] | None
) -> dict[str, dict[str, Any]]:
    import math

    import sqlalchemy as sa

    binds = {} if keys is None else {"keys": list(keys)}
    names = ["runs", *binds]
    query = sa.text(sql + (" AND key IN :keys" if binds else ""))
    query = query.bindparams(*(sa.bindparam(n, expanding=True) for n in names))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), SQL_RUNS_PER_QUERY):
        for row in conn.execute(query, {"runs": ids[i : i + SQL_RUNS_PER_QUERY], **binds}):
            # MLflow stores a NaN metric as a flag beside a 0
            value = row[2] if len(row) == 3 else (math.nan if row[3] else float(row[2]))
            out.setdefault(row[0], {})[row[1]] = value
    return out


def http_auth() -> tuple[str, str] | None:
    """The basic-auth credentials MLflow's client reads from the environment, if set."""
    import os

    user, password = (os.environ.get(f"MLFLOW_TRACKING_{k}") for k in ("USERNAME", "PASSWORD"))
    return (user, password) if user and password else None


def post_json(tracking_uri: str, path: str, body: Any) -> Any | None:
    """The answer of a `study server` endpoint; None from a server without it (404)."""
    import json

    import requests

    url = tracking_uri.rstrip("/") + path
    answer = requests.post(url, json=body, auth=http_auth(), timeout=600)
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    return json.loads(answer.text)  # NaN as Python writes it (`server_app`)


def find_parent(
    tracking_uri: str, experiment_id: str, study: str, spec_hash: str | None = None,
    client: Any = None,
) -> Any | None:  # fmt: skip
    """A study's parent run: among the experiment's parent runs of that study (with that spec
    hash, when the caller knows it), the latest started; None when there is none. A study
    resumed with the same spec reuses its parent run, so there is one per spec hash; a reader
    that knows only the name (`study report`) gets the latest study of that name."""
    wanted = {ROLE_TAG: PARENT_ROLE, STUDY_TAG: study}
    if spec_hash is not None:
        wanted[SPEC_HASH_TAG] = spec_hash
    found = read_runs(tracking_uri, experiment_id, wanted, client=client)
    return max(found, key=lambda r: r.info.start_time or 0, default=None)


def read_trials(
    tracking_uri: str, experiment_id: str, study: str, parent_id: str, stage: str | None = None,
    **how: Any,
) -> list[Any]:  # fmt: skip
    """The trial runs of one parent run (of one stage); `how`: `read_runs`'s keywords."""
    wanted = {ROLE_TAG: TRIAL_ROLE, STUDY_TAG: study, PARENT_TAG: parent_id}
    if stage is not None:
        wanted[STAGE_TAG] = stage
    return read_runs(tracking_uri, experiment_id, wanted, **how)
