"""Bad input at `study server`'s bulk endpoints: every malformed body gets 400 and one short
line, never a 500 or a traceback, and no SQL runs for it (Flask's test client over the
server's own app, on a SQLite store holding one study)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from study import contract as c
from study.store.database import DatabaseStore
from tests.store.test_contract import write_study

MILLION = {"keys": {f"{i:032x}": ["train_loss"] for i in range(1_000_000)}}

BAD: list[tuple[str, str, Any, str]] = [
    # (endpoint, what, body, the message's start)
    (c.SERVER_RUNS_PATH, "not JSON", b"{experiment_id: 1", "body: expected a JSON object"),
    (c.SERVER_RUNS_PATH, "a JSON list", [1, 2], "body: expected a JSON object"),
    (c.SERVER_RUNS_PATH, "no experiment", {"wanted": {}}, "experiment_id:"),
    (c.SERVER_RUNS_PATH, "SQL as the experiment", {"experiment_id": "1; DROP TABLE runs; --"},
     "experiment_id: expected an experiment id"),
    (c.SERVER_RUNS_PATH, "a float experiment", {"experiment_id": 1.5}, "experiment_id:"),
    (c.SERVER_RUNS_PATH, "a boolean experiment", {"experiment_id": True}, "experiment_id:"),
    (c.SERVER_RUNS_PATH, "wanted a list", {"experiment_id": "1", "wanted": ["a"]}, "wanted:"),
    (c.SERVER_RUNS_PATH, "wanted numbers", {"experiment_id": "1", "wanted": {"a": 1}},
     "wanted:"),
    (c.SERVER_RUNS_PATH, "params a string", {"experiment_id": "1", "params": "yes"}, "params:"),
    (c.SERVER_RUNS_PATH, "only a list", {"experiment_id": "1", "only": ["tags"]}, "only:"),
    (c.SERVER_RUNS_PATH, "only of numbers", {"experiment_id": "1", "only": {"tags": [1]}},
     "only.tags:"),
    (c.SERVER_HISTORIES_PATH, "not JSON", b"\xff\xfe", "body: expected a JSON object"),
    (c.SERVER_HISTORIES_PATH, "no keys", {}, "keys:"),
    (c.SERVER_HISTORIES_PATH, "keys a list", {"keys": ["r1"]}, "keys:"),
    (c.SERVER_HISTORIES_PATH, "metrics a string", {"keys": {"r1": "train_loss"}}, "keys:"),
    (c.SERVER_HISTORIES_PATH, "10^6 run ids", MILLION, "keys: 1000000 run ids, at most"),
]  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from mlflow.server.constants import BACKEND_STORE_URI_ENV_VAR

    from study.tools import server_app

    db = f"sqlite:///{tmp_path_factory.mktemp('served') / 'mlflow.db'}"
    write_study(DatabaseStore(db, driver=True), "served")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BACKEND_STORE_URI_ENV_VAR, db)
        yield server_app.flask_app.test_client()


@pytest.mark.parametrize(("path", "what", "body", "said"), BAD, ids=[b[1] for b in BAD])
def test_a_malformed_body_gets_400_and_one_short_line(
    client: Any, path: str, what: str, body: Any, said: str
) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body)
    answer = client.post(path, data=data, content_type="application/json")
    text = answer.get_data(as_text=True)
    assert answer.status_code == 400, (what, answer.status_code, text[:300])
    assert text.startswith(said) and text.count("\n") == 1 and len(text) < 120, text
    assert "Traceback" not in text


def test_a_well_formed_body_is_answered(client: Any) -> None:
    runs = client.post(c.SERVER_RUNS_PATH, json={"experiment_id": "1", "wanted": {}})
    assert runs.status_code == 200 and len(runs.get_json()) > 0
    # an experiment id as a JSON number reads as the same experiment
    same = client.post(c.SERVER_RUNS_PATH, json={"experiment_id": 1, "wanted": {}})
    assert same.get_json() == runs.get_json()
    ids = [row[0] for row in runs.get_json()]
    points = client.post(c.SERVER_HISTORIES_PATH, json={"keys": {i: ["train_loss"] for i in ids}})
    assert points.status_code == 200 and points.get_json()
