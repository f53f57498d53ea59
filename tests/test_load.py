"""Reading runs back from MLflow, on a tracking DB written by hand (no Ray)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from analysis.load import cast_param, load_study, loss_label, read_epochs


def _study(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("s", artifact_location=(tmp_path / "art").as_uri())
    parent = client.create_run(
        exp,
        tags={
            "lossbench.role": "parent",
            "study": "s",
            "grid_axes": json.dumps(["loss", "noise", "seed"]),
        },
    )
    pid = parent.info.run_id
    for loss, extra in (("ce", {}), ("focal", {"loss.gamma": "2.0"})):
        for seed in (0, 1):
            for rate in ("0.2", "0.4"):
                run = client.create_run(
                    exp, tags={"lossbench.role": "trial", "study": "s", "mlflow.parentRunId": pid}
                )
                rid = run.info.run_id
                params = {"loss.name": loss, "seed": str(seed), "noise.rate": rate,
                          "noise.kind": "symmetric", "optim.lr": "0.1", "data.flip": "True",
                          "data.n_train": "None", **extra}  # fmt: skip
                for k, v in params.items():
                    client.log_param(rid, k, v)
                client.log_batch(rid, metrics=[Metric("train_loss", 2.0, 1, 1)])
                client.log_batch(rid, metrics=[Metric("train_loss", 1.0, 2, 2)])
                client.log_batch(rid, metrics=[Metric("train_loss", 0.9, 3, 2)])  # re-sent
                client.log_batch(rid, metrics=[Metric("final_paper_top5_error", 5.0, 4, 2)])
                client.set_terminated(rid, "FINISHED")
    client.create_run(
        exp, tags={"lossbench.role": "trial", "study": "s", "mlflow.parentRunId": "other"}
    )
    return uri


def test_tidy_tables(tmp_path: Path) -> None:
    study = load_study(_study(tmp_path), "s")
    trials = study.trials
    assert len(trials) == 8  # the run of another parent is not included
    assert set(trials["loss_label"]) == {"ce", "focal(gamma=2.0)"}
    assert trials["seed"].dtype.kind == "i" and trials["noise.rate"].dtype.kind == "f"
    assert trials["data.flip"].all() and trials["data.n_train"].isna().all()
    assert study.cell_keys == ["noise.rate"]  # varies, on a grid axis, not loss or seed
    per_run = study.epochs[study.epochs["metric"] == "train_loss"].groupby("run_id")
    assert per_run.size().eq(2).all()  # step 2 logged twice: kept once
    last = study.epochs[(study.epochs["metric"] == "train_loss") & (study.epochs["step"] == 2)]
    assert set(last["value"]) == {0.9}  # the latest value of a re-sent step


def test_the_report_reads_only_the_curves_it_asks_for(tmp_path: Path) -> None:
    uri = _study(tmp_path)
    run_id = load_study(uri, "s", with_epochs=False).trials["run_id"].iloc[0]
    MlflowClient(uri).log_batch(run_id, metrics=[Metric("test_top1_error", 40.0, 5, 1)])
    every = load_study(uri, "s").epochs
    assert set(every["metric"]) == {"train_loss", "test_top1_error"}  # final_* is no curve
    trials = load_study(uri, "s", with_epochs=False).trials
    asked = read_epochs(uri, trials, {"train_loss", "test_top5_error"})
    assert asked.equals(every[every["metric"] == "train_loss"].reset_index(drop=True))
    assert read_epochs(uri, trials, set()).empty


def test_unknown_experiment(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no experiment 'nope'"):
        load_study(_study(tmp_path), "nope")


def test_casts_and_labels() -> None:
    assert [cast_param(v) for v in ("3", "0.5", "True", "None", "ce")] == [3, 0.5, True, None, "ce"]
    assert loss_label({"loss.name": "focal", "loss.gamma": 1.0}) == "focal(gamma=1.0)"
    assert loss_label({"loss.name": "ce"}) == "ce"


def _view(run: object) -> tuple:
    """A run as a comparable tuple (a NaN metric as "nan")."""
    info, data = run.info, run.data  # type: ignore[attr-defined]
    metrics = {k: "nan" if v != v else v for k, v in data.metrics.items()}
    return (info.run_id, info.run_name, info.status, info.artifact_uri, info.start_time,
            data.params, data.tags, metrics)  # fmt: skip


def _as_mlflow_shows(uri: str, runs: list[str], keys: list[str]) -> list[tuple]:
    client = MlflowClient(uri)
    return sorted(
        (r, k, m.step, m.value, m.timestamp)
        for r in runs
        for k in keys
        for m in client.get_metric_history(r, k)
    )


def _histories(uri: str) -> tuple[list[str], list[tuple]]:
    from analysis.histories import read_histories

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("s")
    runs = [r.info.run_id for r in client.search_runs([exp.experiment_id])]
    keys = ["train_loss", "final_paper_top5_error"]
    frame = read_histories(uri, {r: keys for r in runs}, steps=3)
    got = sorted(tuple(row) for row in frame.itertuples(index=False))
    return runs, [(r, k, int(s), v, int(t)) for r, k, s, v, t in got]


def test_bulk_histories_equal_what_mlflow_shows_on_sqlite(tmp_path: Path) -> None:
    uri = _study(tmp_path)
    client = MlflowClient(uri)
    run = client.search_runs([client.get_experiment_by_name("s").experiment_id])[0]
    client.log_batch(run.info.run_id, metrics=[Metric("train_loss", float("nan"), 9, 3)])
    runs, got = _histories(uri)
    shown = _as_mlflow_shows(uri, runs, ["train_loss", "final_paper_top5_error"])
    assert len(got) == len(shown) == 8 * 4 + 1
    nan = [g for g in got if g[3] != g[3]]
    assert len(nan) == 1 and [g for g in got if g[3] == g[3]] == [s for s in shown if s[3] == s[3]]


def test_every_run_is_read_however_many_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No silent truncation: with pages of 3 runs, all 9 runs of the study still come back."""
    from study.contract import runs as contract

    uri = _study(tmp_path)
    monkeypatch.setattr(contract.search_all, "__defaults__", (3,))
    study = load_study(uri, "s", with_epochs=False)
    assert len(study.trials) == 8
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("s").experiment_id
    pages = []
    real = client.search_runs

    def counted(*args: object, **kwargs: object) -> object:
        pages.append(kwargs.get("page_token"))
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "search_runs", counted)
    assert len(contract.search_all(client, [exp], "", page=3)) == 10  # 8 + 1 + the parent
    assert len(pages) == 4 and pages[0] is None and all(pages[1:])


def test_bulk_reads_over_http_stay_under_the_endpoint_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Behind a plain MLflow server (no bulk endpoint of `study server`): its
    `get-history-bulk` at ≤ 100 runs a call, fewer when runs have many steps; each call's
    points come back."""
    import requests

    import analysis.histories as h

    monkeypatch.setattr(h, "post_json", lambda *args: None)  # what a 404 gives
    calls: list[tuple[str, list[str]]] = []

    class Answer:
        def __init__(self, key: str, runs: list[str]) -> None:
            self.points = [{"run_id": r, "step": 1, "value": 0.5, "timestamp": 7} for r in runs]

        def raise_for_status(self) -> None:
            pass

        def json(self) -> dict:
            return {"metrics": self.points}

    def get(self: object, url: str, params: list, **kwargs: object) -> Answer:
        key = dict(params)["metric_key"]
        runs = [v for k, v in params if k == "run_id"]
        calls.append((key, runs))
        assert url.endswith("/ajax-api/2.0/mlflow/metrics/get-history-bulk")
        return Answer(key, runs)

    monkeypatch.setattr(requests.Session, "get", get)
    keys = {f"r{i:03d}": ["a", "b"] for i in range(250)}
    frame = h.read_histories("http://127.0.0.1:1", keys, steps=1)
    assert len(frame) == 500 and [len(r) for k, r in calls if k == "a"] == [100, 100, 50]
    calls.clear()
    h.read_histories("http://127.0.0.1:1", keys, steps=500)  # 25,000 / (2 × 500) = 25 a call
    assert {len(r) for _, r in calls} == {25} and len(calls) == 2 * 10


def test_runs_read_in_bulk_equal_what_search_runs_gives(tmp_path: Path) -> None:
    """The SQL reader of a database store gives each run exactly what `search_runs` gives:
    info, params, tags and latest metrics (a NaN among them), for the runs with the tags."""
    from study.contract.runs import read_runs

    uri = _study(tmp_path)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("s").experiment_id
    some = client.search_runs([exp], "tags.`lossbench.role` = 'trial'")[0].info.run_id
    client.log_batch(some, metrics=[Metric("test_top1_error", float("nan"), 9, 5)])
    deleted = client.search_runs([exp], "tags.`lossbench.role` = 'trial'")[1].info.run_id
    client.delete_run(deleted)
    wanted = {"lossbench.role": "trial", "study": "s"}
    where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in wanted.items())

    got = sorted(_view(r) for r in read_runs(uri, exp, wanted))
    shown = sorted(_view(r) for r in client.search_runs([exp], where))
    assert len(got) == 8 and got == shown  # 9 trial runs, one deleted
    assert any(v[7].get("test_top1_error") == "nan" for v in got)
    few = read_runs(uri, exp, wanted, params=False, only={"tags": ["study"], "metrics": ["x"]})
    assert sorted(r.info.run_id for r in few) == [v[0] for v in got]
    assert all(r.data.params == {} and r.data.tags == {"study": "s"} and r.data.metrics == {}
               for r in few)  # fmt: skip


def test_a_study_server_reads_in_bulk_what_mlflow_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through `study server`: its bulk reads give the runs `search_runs` gives and the points
    `get_metric_history` gives over HTTP; with the bulk endpoints missing (a plain MLflow
    server answers 404) the readers fall back to MLflow's endpoints and give the same."""
    from analysis.histories import read_histories
    from study import contract
    from study.contract import runs as contract_runs
    from study.tools.server import start_server, stop_server, wait_healthy
    from tests.conftest import free_port

    db = _study(tmp_path)
    some = load_study(db, "s", with_epochs=False).trials["run_id"].iloc[0]
    MlflowClient(db).log_batch(some, metrics=[Metric("train_loss", float("nan"), 9, 5)])
    port = free_port()
    server = start_server(port, db, str(tmp_path / "served"), log=tmp_path / "server.log")
    try:
        uri = f"http://127.0.0.1:{port}"
        wait_healthy(uri)
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name("s").experiment_id
        wanted = {"lossbench.role": "trial", "study": "s"}
        where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in wanted.items())
        shown = sorted(_view(r) for r in client.search_runs([exp], where))
        runs = [v[0] for v in shown]
        points = _as_mlflow_shows(uri, runs, ["train_loss"])
        calls: list[str] = []
        real_post = contract_runs.post_json

        def counted(*args: object) -> object:
            calls.append(str(args[1]))
            return real_post(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(contract_runs, "post_json", counted)
        monkeypatch.setattr("analysis.histories.post_json", counted)
        for bulk in (True, False):
            if not bulk:  # the paths a plain MLflow server does not serve
                monkeypatch.setattr(contract_runs, "SERVER_RUNS_PATH", "/ajax-api/2.0/x/runs")
                monkeypatch.setattr(contract, "SERVER_HISTORIES_PATH", "/ajax-api/2.0/x/h")
            calls.clear()
            found = contract_runs.read_runs(uri, exp, wanted, client=client)
            got = sorted(_view(r) for r in found)
            frame = read_histories(uri, {r: ["train_loss"] for r in runs}, steps=10)
            rows = sorted((r, k, int(s), v, int(t)) for r, k, s, v, t in frame.values.tolist())
            assert got == shown and len(got) == 9  # 8 of the parent, 1 of another
            assert [p for p in rows if p[3] == p[3]] == [p for p in points if p[3] == p[3]]
            assert len(rows) == len(points) == 8 * 3 + 1 and sum(p[3] != p[3] for p in rows) == 1
            assert len(calls) == 2 and all(("lossbench" in p) == bulk for p in calls)
    finally:
        stop_server(server)
