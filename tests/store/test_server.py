"""`study.store.server.ServerStore` on its own: it reads through `study server`'s bulk
endpoints when the server has them, and through MLflow's `get-history-bulk` within that
endpoint's limits when it has not (the contract suite holds their answers equal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from study import contract as c
from study.store.server import ServerStore
from tests.store.conftest import open_kind
from tests.store.test_contract import write_study


def test_a_study_server_is_read_through_its_bulk_endpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_kind("server", tmp_path, monkeypatch) as opened:
        store = opened.store
        assert isinstance(store, ServerStore)
        exp, parent = write_study(store, "bulk")
        calls: list[str] = []
        real = ServerStore.post_json

        def counted(self: ServerStore, path: str, body: Any) -> Any:
            calls.append(path)
            return real(self, path, body)

        monkeypatch.setattr(ServerStore, "post_json", counted)
        runs = store.read_trials(exp, "s", parent)
        store.read_histories({r.info.run_id: ["train_loss"] for r in runs})
        assert calls == [c.SERVER_RUNS_PATH, c.SERVER_HISTORIES_PATH]


def test_curves_from_a_plain_mlflow_server_stay_under_its_endpoint_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Behind a plain MLflow server: `get-history-bulk` at ≤ 100 runs a call, fewer when runs
    have many steps; each call's points come back."""
    import requests

    monkeypatch.setattr(ServerStore, "post_json", lambda *args: None)  # what a 404 gives
    calls: list[tuple[str, list[str]]] = []

    class Answer:
        def __init__(self, runs: list[str]) -> None:
            self.points = [{"run_id": r, "step": 1, "value": 0.5, "timestamp": 7} for r in runs]

        def raise_for_status(self) -> None:
            pass

        def json(self) -> dict[str, Any]:
            return {"metrics": self.points}

    def get(self: object, url: str, params: list[tuple[str, str]], **kwargs: object) -> Answer:
        key = dict(params)["metric_key"]
        runs = [v for k, v in params if k == "run_id"]
        calls.append((key, runs))
        assert url.endswith("/ajax-api/2.0/mlflow/metrics/get-history-bulk")
        return Answer(runs)

    monkeypatch.setattr(requests.Session, "get", get)
    store = ServerStore("http://127.0.0.1:1")
    keys = {f"r{i:03d}": ["a", "b"] for i in range(250)}
    frame = store.read_histories(keys, steps=1)
    assert len(frame) == 500 and [len(r) for k, r in calls if k == "a"] == [100, 100, 50]
    calls.clear()
    store.read_histories(keys, steps=500)  # 25,000 / (2 × 500) = 25 a call
    assert {len(r) for _, r in calls} == {25} and len(calls) == 2 * 10
