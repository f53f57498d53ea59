"""Trial runs written to the tracking database in one transaction per batch (`SqlWrites`, the
writes of `database.DatabaseStore`), as MLflow's own store writes them, without its ORM.

MLflow's `SqlAlchemyStore` opens a session per call and builds an ORM object per row: creating
a trial run, logging its first epoch with its ~40 params, and ending it cost the driver ~24 ms
of Python (py-spy, 1,000 trivial trials), about what Tune's event loop spends on the trial
itself, under the same interpreter lock. Here a batch of runs becomes a handful of
`executemany` statements of SQLAlchemy Core over MLflow's own table definitions
(`mlflow.store.tracking.dbmodels.models`, the schema MLflow checked when it opened the store),
with the rules of `SqlAlchemyStore` (values and limits in `rules`):

* a new run: `create_run`'s row (status RUNNING, source UNKNOWN, user `unknown`, lifecycle
  `active`, artifacts at `<experiment location>/<run id>/artifacts`) and its tags, the run
  name among them (`mlflow.runName`); a fresh uuid4 hex id;
* params inserted once, values cut at 6,000 characters (MLflow's limit); a param logged again
  with its value is skipped, with another value refused with MLflow's `MlflowException`
  ("Changing param values is not allowed");
* tag values cut at 8,000 characters, with MLflow's warning;
* metrics: NaN stored as 0 with `is_nan`, ±inf as ±max float, identical points once (also
  across batches: `ON CONFLICT DO NOTHING` on the metrics' key, where MLflow skips a point it
  holds); another value at a step already written is a second point, as in MLflow;
  `latest_metrics` keeps, per key, the point with the largest (step, timestamp, value);
* tags replaced by key; a status update sets the end time (`set_terminated`), RUNNING does
  not (`update_run`);
* a deleted run or experiment takes no writes (`_check_run_is_active`,
  `_check_experiment_is_active`): the batch is refused whole with MLflow's message
  (`records.Refused`), checked inside its transaction with the rows locked (`FOR UPDATE` on
  PostgreSQL; SQLite has one writer at a time), so that a deletion commits before or after
  the batch, never in its middle.

A test writes the same trials through MLflow's client and through this store and compares
what MLflow reads back (runs, params, tags, latest metrics, histories, files), on SQLite and on
PostgreSQL. The transaction is retried whole on a transient error (`retry.with_retries`);
a driver killed mid-batch leaves none of it, which the writer's flush-before-snapshot
contract covers (`study.orchestration.writer`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from study import contract as c
from study.store.records import Epochs, NewRun, Params, Refused, now_ms
from study.store.retry import with_retries
from study.store.rules import changed_param, cut_tags, sanitized

SQL_RUNS_PER_QUERY = 500  # runs per `IN` list of a query (reads and writes)


class SqlWrites:
    """The batch writes of a database store: `create`, `restart`, `log` and `end` gather a
    batch; `commit` writes it in one transaction on the store's engine."""

    _location: str | None = None
    call: Any  # the store's MLflow client call, file writer and engine (`DatabaseStore`)
    log_file: Any
    engine: Any

    def _clear(self) -> None:
        self._new: list[dict[str, Any]] = []
        self._tags: dict[str, dict[str, str]] = {}
        self._params: list[dict[str, Any]] = []
        self._metrics: dict[str, dict[tuple[Any, ...], None]] = {}  # run: points, in order
        self._updates: list[dict[str, Any]] = []  # status changes, in order

    def create(self, experiment_id: str, run: NewRun) -> tuple[str, str]:
        from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
        from mlflow.utils.uri import append_to_uri_path

        if self._location is None:
            self._location = str(self.call("get_experiment", experiment_id).artifact_location)
        run_id = uuid.uuid4().hex
        artifact_uri = append_to_uri_path(self._location, run_id, "artifacts")
        self._new.append({
            "run_uuid": run_id, "name": run.name, "source_type": "UNKNOWN", "source_name": "",
            "entry_point_name": "", "user_id": "unknown", "status": "RUNNING",
            "start_time": now_ms(), "end_time": None, "deleted_time": None,
            "source_version": "", "lifecycle_stage": "active", "artifact_uri": artifact_uri,
            "experiment_id": int(experiment_id),
        })  # fmt: skip
        self._tags[run_id] = cut_tags({**run.tags, MLFLOW_RUN_NAME: run.name})
        for name, data in run.files.items():
            self.log_file(run_id, artifact_uri, name, data)
        return run_id, artifact_uri

    def restart(self, run_id: str) -> None:
        self._updates.append({"r": run_id, "s": "RUNNING", "e": None})

    def log(self, run_id: str, epochs: Epochs, params: Params, tags: Mapping[str, str]) -> None:
        self._params += [{"run_uuid": run_id, "key": k, "value": str(v)[: c.PARAM_CHARS]}
                         for k, v in params.items()]  # fmt: skip
        self._tags.setdefault(run_id, {}).update(cut_tags(tags))
        points = self._metrics.setdefault(run_id, {})
        for step, values, ms in epochs:
            for key, v in values.items():
                value, is_nan = sanitized(float(v))
                points[(key, value, ms, step, is_nan)] = None

    def end(self, run_id: str, status: str) -> None:
        self._updates.append({"r": run_id, "s": status, "e": now_ms()})

    def commit(self) -> None:
        """One transaction; the batch is dropped whether it was written or refused (a
        resumed trial sends what its run lacks again)."""
        try:
            if self._new or self._tags or self._params or self._metrics or self._updates:
                with_retries(self._transaction, "write runs")
        finally:
            self._clear()

    def _transaction(self) -> None:
        from mlflow.store.tracking.dbmodels.models import (
            SqlLatestMetric,
            SqlMetric,
            SqlParam,
            SqlRun,
            SqlTag,
        )  # fmt: skip
        from sqlalchemy import insert

        new = {r["run_uuid"] for r in self._new}
        with self.engine().begin() as conn:
            self._check_active(conn, new)
            if self._new:
                conn.execute(insert(SqlRun.__table__), self._new)
            self._write_tags(conn, SqlTag.__table__, new)
            params = self._new_params(conn, SqlParam.__table__, new)
            if params:
                conn.execute(insert(SqlParam.__table__), params)
            names = ("key", "value", "timestamp", "step", "is_nan")
            points = [{**dict(zip(names, p, strict=True)), "run_uuid": r}
                      for r, ps in self._metrics.items() for p in ps]  # fmt: skip
            if points:
                conn.execute(_insert_new(conn, SqlMetric.__table__), points)
                self._latest(conn, SqlLatestMetric.__table__, points, new)
            if self._updates:
                self._update(conn, SqlRun.__table__)

    def _check_active(self, conn: Any, new: set[str]) -> None:
        """`Refused` when the batch writes to a deleted run, or creates one in a deleted
        experiment (MLflow's rule and words)."""
        from mlflow.store.tracking.dbmodels.models import SqlExperiment, SqlRun
        from sqlalchemy import select

        experiments = {str(r["experiment_id"]) for r in self._new}
        if experiments:
            table = SqlExperiment.__table__
            query = select(table.c.experiment_id, table.c.lifecycle_stage).where(
                table.c.experiment_id.in_([int(e) for e in experiments])
            )
            for exp, stage in conn.execute(query.with_for_update()):
                if stage != "active":
                    raise Refused(f"The experiment {exp} must be in the 'active' state. "
                                  f"Current state is {stage}.")  # fmt: skip
        touched = sorted({*self._tags, *(p["run_uuid"] for p in self._params), *self._metrics,
                          *(u["r"] for u in self._updates)} - new)  # fmt: skip
        runs = SqlRun.__table__
        for i in range(0, len(touched), SQL_RUNS_PER_QUERY):
            chunk = touched[i : i + SQL_RUNS_PER_QUERY]
            query = select(runs.c.run_uuid, runs.c.lifecycle_stage).where(
                runs.c.run_uuid.in_(chunk)
            )
            for run, stage in conn.execute(query.with_for_update()):
                if stage != "active":
                    raise Refused(f"The run {run} must be in the 'active' state. "
                                  f"Current state is {stage}.")  # fmt: skip

    def _new_params(self, conn: Any, table: Any, new: set[str]) -> list[dict[str, Any]]:
        """The batch's params less those the runs hold already with the same value; another
        value is MLflow's error."""
        from sqlalchemy import select

        held: dict[tuple[str, str], str] = {}
        old = sorted({p["run_uuid"] for p in self._params} - new)
        for i in range(0, len(old), SQL_RUNS_PER_QUERY):
            query = select(table.c.run_uuid, table.c.key, table.c.value)
            chunk = old[i : i + SQL_RUNS_PER_QUERY]
            held |= {
                (r, k): v for r, k, v in conn.execute(query.where(table.c.run_uuid.in_(chunk)))
            }
        rows = []
        for p in self._params:
            at = (p["run_uuid"], p["key"])
            if at in held:
                if held[at] != p["value"]:
                    changed_param(p, held[at])
                continue
            held[at] = p["value"]
            rows.append(p)
        return rows

    def _write_tags(self, conn: Any, table: Any, new: set[str]) -> None:
        """Tags replaced by key (a new run has none yet)."""
        from sqlalchemy import insert

        old = [{"r": r, "k": k} for r, kv in self._tags.items() if r not in new for k in kv]
        if old:
            conn.execute(delete_where(table), old)
        rows = [{"run_uuid": r, "key": k, "value": v}
                for r, kv in self._tags.items() for k, v in kv.items()]  # fmt: skip
        if rows:
            conn.execute(insert(table), rows)

    def _latest(self, conn: Any, table: Any, points: list[dict[str, Any]], new: set[str]) -> None:
        """`latest_metrics`: per run and key, the point of largest (step, timestamp, value)."""
        from sqlalchemy import insert, select

        best: dict[tuple[str, str], dict[str, Any]] = {}
        for p in points:
            at = (p["run_uuid"], p["key"])
            if at not in best or _order(p) > _order(best[at]):
                best[at] = p
        old = [r for r in {r for r, _ in best} if r not in new]
        stale = []
        for i in range(0, len(old), SQL_RUNS_PER_QUERY):
            chunk = old[i : i + SQL_RUNS_PER_QUERY]
            for row in conn.execute(select(table).where(table.c.run_uuid.in_(chunk))).mappings():
                at = (row["run_uuid"], row["key"])
                if at in best:
                    if _order(row) >= _order(best[at]):
                        del best[at]  # what the table holds is as recent
                    else:
                        stale.append({"r": at[0], "k": at[1]})
        if stale:
            conn.execute(delete_where(table), stale)
        if best:
            conn.execute(insert(table), list(best.values()))

    def _update(self, conn: Any, runs: Any) -> None:
        """Statuses: the restarted runs first, then the ended ones (the order of the batch
        writer, `study.orchestration.batches`, which restarts a run before anything else)."""
        from sqlalchemy import bindparam, update

        where = runs.c.run_uuid == bindparam("r")
        restarted = [{"r": u["r"]} for u in self._updates if u["e"] is None]
        ended = [u for u in self._updates if u["e"] is not None]
        if restarted:
            conn.execute(update(runs).where(where).values(status="RUNNING"), restarted)
        if ended:
            end = update(runs).where(where).values(status=bindparam("s"), end_time=bindparam("e"))
            conn.execute(end, ended)


def _insert_new(conn: Any, table: Any) -> Any:
    """INSERT that skips rows whose key the table holds (SQLite, PostgreSQL), else INSERT."""
    from sqlalchemy import insert
    from sqlalchemy.dialects import postgresql, sqlite

    dialects: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
    if conn.dialect.name in dialects:
        return dialects[conn.dialect.name](table).on_conflict_do_nothing()
    return insert(table)


def delete_where(table: Any) -> Any:
    """DELETE of the rows of one run (`r`) and key (`k`), for `executemany`."""
    from sqlalchemy import bindparam, delete

    return delete(table).where(table.c.run_uuid == bindparam("r"), table.c.key == bindparam("k"))


def _order(p: Any) -> tuple[int, int, float]:
    return (int(p["step"]), int(p["timestamp"]), float(p["value"]))
