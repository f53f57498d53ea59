"""The store of a tracking database (SQLite, PostgreSQL, MySQL): runs and curves read by SQL
over MLflow's own tables through SQLAlchemy (the library MLflow's store itself uses), and trial
runs written a batch per transaction (`sql_writes.SqlWrites`). Everything else (experiments,
the parent run, files) goes through MLflow's client (`client.ClientStore`).

Reading: one query for the runs, then one per table (`params`, `tags`, `latest_metrics`) and
500 runs, where `search_runs` builds ~90 ORM objects a trial (3.3 s per 1,000 on SQLite);
curves in one query per 500 runs over `metrics`, all keys at once, where
`get_metric_history` is a call per run and key (~15 × 10⁴ for a study of 10⁴ runs). The
store's contract tests hold every store's answers equal (tests/store/).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from study.store.client import ClientStore, histories_frame
from study.store.records import RunData, RunInfo, RunRecord
from study.store.sql_writes import SQL_RUNS_PER_QUERY, SqlWrites

if TYPE_CHECKING:
    import pandas as pd

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
_points_sql = (
    "SELECT run_uuid, key, step, value, is_nan, timestamp FROM metrics WHERE run_uuid IN :runs"
)


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


class DatabaseStore(SqlWrites, ClientStore):
    """A study's runs in a tracking database, read and batch-written by SQL."""

    def __init__(self, uri: str, driver: bool = False) -> None:
        super().__init__(uri, driver)
        self._clear()

    def engine(self) -> Any:
        """The engine of MLflow's store (in write-ahead mode on a driver's SQLite)."""
        return self.mlflow._tracking_client.store.engine

    def find_experiment(self, name: str) -> str | None:
        """One SQL query, without importing MLflow (`study status` reads this way)."""
        import sqlalchemy as sa

        with connected(self.uri) as conn:
            sql = sa.text("SELECT experiment_id FROM experiments WHERE name = :name")
            row = conn.execute(sql, {"name": name}).first()
        return None if row is None else str(row[0])

    def read_runs(
        self, experiment_id: str, wanted: Mapping[str, str], params: bool = True,
        only: Mapping[str, Iterable[str]] | None = None,
    ) -> list[RunRecord]:  # fmt: skip
        import sqlalchemy as sa

        sql = _runs_sql + "".join(_tagged_sql.format(i=i) for i in range(len(wanted)))
        binds: dict[str, Any] = {"exp": str(experiment_id)}
        for i, (k, v) in enumerate(wanted.items()):
            binds |= {f"k{i}": k, f"v{i}": v}
        with connected(self.uri) as conn:
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

    def read_histories(self, keys: Mapping[str, Sequence[str]], steps: int = 1) -> pd.DataFrame:
        return histories_frame(self.history_rows(keys))

    def experiments_of(self, run_ids: Sequence[str]) -> set[str]:
        """The experiments that `run_ids` belong to (unknown ids: none), what `study server
        --auth` checks permissions on."""
        import sqlalchemy as sa

        sql = sa.text("SELECT DISTINCT experiment_id FROM runs WHERE run_uuid IN :runs")
        query = sql.bindparams(sa.bindparam("runs", expanding=True))
        found: set[str] = set()
        with connected(self.uri) as conn:
            for i in range(0, len(run_ids), SQL_RUNS_PER_QUERY):
                chunk = list(run_ids[i : i + SQL_RUNS_PER_QUERY])
                found |= {str(row[0]) for row in conn.execute(query, {"runs": chunk})}
        return found

    def history_rows(self, keys: Mapping[str, Sequence[str]]) -> list[tuple[Any, ...]]:
        """The points of `keys[run_id]` as rows of `client.HISTORY_COLUMNS` (also what
        `study server` answers with)."""
        import sqlalchemy as sa

        wanted = {(run, key) for run, ks in keys.items() for key in ks}
        runs = sorted(keys)
        query = sa.text(_points_sql).bindparams(sa.bindparam("runs", expanding=True))
        rows = []
        with connected(self.uri) as conn:
            for i in range(0, len(runs), SQL_RUNS_PER_QUERY):
                for run, key, step, value, is_nan, stamp in conn.execute(
                    query, {"runs": runs[i : i + SQL_RUNS_PER_QUERY]}
                ):
                    if (run, key) in wanted:  # MLflow stores NaN as a flag beside a 0
                        value = math.nan if is_nan else float(value)
                        rows.append((run, key, int(step), value, int(stamp)))
        return rows


def _per_run(
    conn: Any, sql: str, ids: list[str], keys: Iterable[str] | None
) -> dict[str, dict[str, Any]]:
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
