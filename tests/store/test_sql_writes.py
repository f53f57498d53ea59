"""The database store's batch writes (`study.store.sql_writes`) against MLflow's client
(`ClientStore`): the same study written both ways into one database, SQLite and a real
PostgreSQL, read back through MLflow must be the same runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from study import contract as c
from study.store.client import ClientStore
from study.store.database import DatabaseStore
from tests.store.conftest import open_kind
from tests.store.test_contract import write_study


def _seen(client: MlflowClient, run: Any) -> dict[str, Any]:
    """What MLflow shows of a run, less what differs between two runs of the same trial."""
    from mlflow.artifacts import download_artifacts

    run_id, info = run.info.run_id, run.info
    uri = client._tracking_client.tracking_uri
    files = Path(download_artifacts(run_id=run_id, tracking_uri=uri, artifact_path=""))
    return {
        "info": (info.run_name, info.status, info.lifecycle_stage, info.user_id,
                 info.artifact_uri.endswith(f"/{run_id}/artifacts"), info.end_time is not None),
        "params": run.data.params,
        "tags": {k: v for k, v in run.data.tags.items() if k != c.PARENT_TAG},
        "metrics": {k: _v(v) for k, v in run.data.metrics.items()},
        "history": {k: [(m.step, m.timestamp, _v(m.value))
                        for m in client.get_metric_history(run_id, k)]
                    for k in run.data.metrics},
        "files": {p.name: p.read_bytes() for p in files.rglob("*") if p.is_file()},
    }  # fmt: skip


def _v(value: float) -> float | str:
    return "nan" if math.isnan(value) else value  # NaN equals itself here


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_database_writer_writes_what_mlflow_would(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_kind(kind, tmp_path, monkeypatch) as opened:
        assert isinstance(opened.store, DatabaseStore)
        client = MlflowClient(opened.truth)
        seen = {}
        for name, store in (("client", ClientStore(opened.truth)), ("sql", opened.store)):
            exp, parent = write_study(store, name)
            found = client.search_runs([exp], f"tags.`{c.PARENT_TAG}` = '{parent}'")
            seen[name] = {r.data.tags[c.TRIAL_ID_TAG]: _seen(client, r) for r in found}
    assert sorted(seen["sql"]) == ["t1", "t2", "t3"]
    for trial in ("t1", "t2", "t3"):
        assert seen["sql"][trial] == seen["client"][trial], trial


def _edges(store: Any, client: MlflowClient, name: str) -> tuple[str, list[str]]:
    """MLflow's edge cases written through `store`: its run, and what each step raised."""
    from study.store import NewRun

    exp = store.experiment_id(name)
    run, _ = store.create(exp, NewRun("edge", {}, {}, {"f.txt": b"f"}))
    store.commit()
    raised: list[str] = []
    steps: list[tuple[list[Any], dict[str, Any], dict[str, str]]] = [
        ([(1, {"m": 1.0}, 5)], {"p": 1}, {"t": "y" * 8500}),
        ([(1, {"m": 1.0}, 5)], {"p": 1}, {}),  # the same point and param again
        ([(1, {"m": 2.0}, 6)], {}, {}),  # another value at a step already written
        ([], {"p": 2}, {}),  # a param logged again with another value
    ]
    for epochs, params, tags in steps:
        try:
            store.log(run, epochs, params, tags)
            store.commit()
            raised.append("")
        except Exception as exc:
            raised.append(f"{type(exc).__name__}: {str(exc).split('[')[0]}")
    client.delete_run(run)
    for write in (lambda: store.log(run, [(2, {"m": 3.0}, 7)], {}, {}),
                  lambda: store.end(run, "FINISHED")):  # fmt: skip
        try:
            write()
            store.commit()
            raised.append("")
        except Exception as exc:
            raised.append(f"{type(exc).__name__}: {str(exc).replace(run, 'RUN')}")
    client.delete_experiment(exp)
    try:
        store.create(exp, NewRun("late", {}, {}))
        store.commit()
        raised.append("")
    except Exception as exc:
        raised.append(f"{type(exc).__name__}: {str(exc).replace(exp, 'EXP')}")
    client.restore_experiment(exp)
    client.restore_run(run)
    return run, raised


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_mlflow_s_rules_kept_by_the_database_writer(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An oversized tag, a param logged again (same value, then another), a metric at a step
    already written, writes to a deleted run and a run created in a deleted experiment: the
    database writer does what MLflow's client does, and refuses what it refuses."""
    with open_kind(kind, tmp_path, monkeypatch) as opened:
        client = MlflowClient(opened.truth)
        seen, said = {}, {}
        for name, store in (("client", ClientStore(opened.truth)), ("sql", opened.store)):
            run, said[name] = _edges(store, client, name)
            seen[name] = _seen(client, client.get_run(run))
    assert said["sql"] == said["client"]
    assert said["sql"][:3] == ["", "", ""]
    assert said["sql"][3].startswith("MlflowException: Changing param values is not allowed")
    assert said["sql"][4:] == [
        "Refused: The run RUN must be in the 'active' state. Current state is deleted.",
        "Refused: The run RUN must be in the 'active' state. Current state is deleted.",
        "Refused: The experiment EXP must be in the 'active' state. Current state is deleted.",
    ]
    assert seen["sql"] == seen["client"]
    assert len(seen["sql"]["tags"]["t"]) == 8000 and seen["sql"]["params"] == {"p": "1"}
    assert seen["sql"]["history"]["m"] == [(1, 5, 1.0), (1, 6, 2.0)]
