"""The contract between `study` (which writes MLflow runs) and `analysis` (which reads them).

Tag names, run roles, stage names, metric keys, the signal that a trial finished, and how a
study's runs are found and read in bulk. Standard library only on import (SQLAlchemy or MLflow
are imported by the readers), so that both packages import it and neither imports the other
(as Ray Tune's `ray.tune.result` names a result's keys). tests/test_layout.py fails on any of
these strings written elsewhere in `study/` or `analysis/`.

The schema in MLflow: one experiment per study; in it one *parent* run per study (tags
`lossbench.role=parent`, `study`, `spec_hash`, `git_sha`, `grid_axes`) and one *trial* run per
Ray trial (tags `lossbench.role=trial`, `study`, `mlflow.parentRunId`, `ray.trial_id`, `stage`,
`cell`, `config_hash`, `noise_draw_seed` and the tags of `TRIAL_TAG_KEYS`), with per-epoch
metrics (`train_*`, `test_*`, `val_*`) and, in the last epoch only, the `final_*` metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

# --- tags -----------------------------------------------------------------------------------
ROLE_TAG = "lossbench.role"
STUDY_TAG = "study"
SPEC_HASH_TAG = "spec_hash"
GIT_SHA_TAG = "git_sha"
GRID_AXES_TAG = "grid_axes"  # JSON list of the study's grid axes (parent run)
SAMPLER_TAG = "sampler"  # JSON of an Optuna search's sampler settings (parent run)
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own: nests a trial under its study in the UI
TRIAL_ID_TAG = "ray.trial_id"
STAGE_TAG = "stage"
CELL_TAG = "cell"  # the grid cell a tune/evaluate/looks trial belongs to ("" for `main`)
TRIAL_LABEL_TAG = "trial_label"  # the trial's overrides in a few words
LOOK_TAG = "look"  # the look a sequential study's trial belongs to
NODE_TAG = "ray.node_id"  # the node a trial runs on now
NODE_HISTORY_TAG = "ray.node_history"  # every node it ran on, in order (retries move it)
EARLY_STOPPED_TAG = "early_stopped"  # "true" on a trial ASHA stopped before its last epoch
CONFIG_HASH_TAG = "config_hash"
NOISE_DRAW_SEED_TAG = "noise_draw_seed"  # what `noise.seed: trial` resolved to
NOTE_TAG = "mlflow.note.content"  # the description the MLflow UI shows for a run/experiment
KIND_TAG = "mlflow.experimentKind"
# Tags every trial run carries, with the trial config key each comes from.
TRIAL_TAG_KEYS = {
    "loss": "loss.name",
    "seed": "seed",
    "lr": "optim.lr",
    "noise_kind": "noise.kind",
    "noise_rate": "noise.rate",
}

# --- roles ----------------------------------------------------------------------------------
PARENT_ROLE = "parent"
TRIAL_ROLE = "trial"

# --- stages (the names `study.orchestration.stages` registers) -------------------------------
MAIN_STAGE = "main"  # a plain grid study
TUNE_STAGE = "tune"  # an Optuna search per cell, on the validation holdout: never compared
EVALUATE_STAGE = "evaluate"  # each cell's best configuration again with fresh seeds
LOOKS_STAGE = "looks"  # a sequential study's seeds, look after look
STAGE_NAMES = (MAIN_STAGE, TUNE_STAGE, EVALUATE_STAGE, LOOKS_STAGE)

# --- metrics --------------------------------------------------------------------------------
METRIC_PREFIXES = ("train_", "test_", "val_", "final_", "noise_")
STEP_KEYS = ("epoch", "lr")  # logged every epoch beside the prefixed metrics
FINAL_PREFIX = "final_"  # the last epoch's value of a per-epoch metric (last report only)
PAPER_PREFIX = "final_paper_"  # test error averaged over the last `final_window` epochs
BEST_PREFIX = "final_best_"  # the best epoch's value: model selection on the test set
NOISE_REALIZED_RATE = "noise_realized_rate"  # one value per trial, not a curve
PAPER_TOP1 = PAPER_PREFIX + "top1_error"
PAPER_TOP5 = PAPER_PREFIX + "top5_error"
BEST_TEST_TOP1 = BEST_PREFIX + "test_top1_error"
DEFAULT_METRIC = PAPER_TOP5  # what a study compares unless its `analysis.metric` says otherwise
FINISHED_METRIC = PAPER_TOP5  # in a trial's last report only: its presence means "finished"


def paper_error(k: int) -> str:
    """`final_paper_top{k}_error`: the paper's figure, test top-k error over the last epochs."""
    return f"{PAPER_PREFIX}top{k}_error"


def finished(metrics: Mapping[str, Any]) -> bool:
    """Whether a trial's report (or a run's metrics) is its last one."""
    return FINISHED_METRIC in metrics


def is_tracked_metric(key: str) -> bool:
    """Whether a key of a trial's report is one of our metrics (Ray adds many keys of its own)."""
    return key.startswith(METRIC_PREFIXES) or key in STEP_KEYS


def is_curve(key: str) -> bool:
    """Whether a metric is logged per epoch (a curve) rather than once per trial."""
    return not key.startswith(FINAL_PREFIX) and key != NOISE_REALIZED_RATE


def epoch_curve(metric: str) -> str:
    """The per-epoch metric behind a final metric: `final_paper_top5_error` →
    `test_top5_error`, `final_best_test_top1_error` → `test_top1_error`, `final_test_nll` →
    `test_nll`; a per-epoch name is returned as is."""
    if metric.startswith(PAPER_PREFIX):
        return "test_" + metric[len(PAPER_PREFIX) :]
    for prefix in (BEST_PREFIX, FINAL_PREFIX):
        if metric.startswith(prefix):
            return metric[len(prefix) :]
    return metric


def selects_on_test(metric: str) -> bool:
    """Whether a metric picks its epoch by the test set (`final_best_test_*`)."""
    return metric.startswith(BEST_PREFIX + "test")


def selects_on_val(metric: str) -> bool:
    """Whether a metric is read on the validation holdout (`val_*`, `final_val_*`)."""
    return metric.startswith(("val_", FINAL_PREFIX + "val_"))


# --- finding runs ---------------------------------------------------------------------------
PAGE = 1000  # runs per `search_runs` call; every page is read, so nothing is ever cut off


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


DATABASES = ("sqlite", "postgresql", "mysql", "mssql")  # stores MLflow keeps in SQL tables


def scheme(tracking_uri: str) -> str:
    """`postgresql` of `postgresql+psycopg://...`."""
    return tracking_uri.split(":", 1)[0].split("+", 1)[0]


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
    them (params unless `params=False`; `only`: just these keys of a table on a database).
    On a database, SQL through SQLAlchemy over MLflow's `runs`, `params`, `tags` and
    `latest_metrics`: one query for the runs, one per table and 500 runs (`search_runs` builds
    ~90 ORM objects a trial: 3.3 s per 1,000 on SQLite). Elsewhere `search_all` with `client`.
    tests/test_load.py holds the two equal."""
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


def tags(run: Any) -> Mapping[str, str]:
    return run.data.tags


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


def stage_of(run: Any) -> str:
    """A trial run's stage (`main` when untagged: a plain grid study)."""
    return tags(run).get(STAGE_TAG) or MAIN_STAGE


def compared(stage: str) -> bool:
    """Whether a stage's trials enter the comparison (a search's trials saw the holdout)."""
    return stage != TUNE_STAGE
