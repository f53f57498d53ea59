"""Every store (`study.store`), opened on a fresh tracking store: the fixture `opened` runs
each test of the store's contract once per implementation, as timm's tests run over its model
registry.

* `client`: MLflow's client, call by call (`ClientStore`), here on a SQLite file;
* `sqlite`, `postgresql`: a tracking database (`DatabaseStore`), the second a real PostgreSQL;
* `server`: a `study server` over SQLite (`ServerStore`, its bulk endpoints);
* `mlflow-server`: the same server with the bulk endpoints answering 404, as a plain MLflow
  server does (`ServerStore`, MLflow's REST API).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from study.store import Store
from tests.services import postgres

KINDS = ["client", "sqlite", "postgresql", "server", "mlflow-server"]


@dataclass(frozen=True)
class Opened:
    kind: str
    store: Store
    truth: str  # a tracking URI where MLflow's own client reads what was written


@contextmanager
def _served(db: str, folder: Path) -> Iterator[str]:
    from study.tools.server import start_server, stop_server, wait_healthy
    from tests.conftest import free_port

    port = free_port()
    server = start_server(port, db, str(folder / "served"), log=folder / "server.log")
    try:
        uri = f"http://127.0.0.1:{port}"
        wait_healthy(uri)
        yield uri
    finally:
        stop_server(server)


@contextmanager
def open_kind(kind: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Opened]:
    from study.store.client import ClientStore
    from study.store.database import DatabaseStore
    from study.store.server import ServerStore

    monkeypatch.chdir(folder)  # PostgreSQL's default artifact root: ./mlruns
    db = f"sqlite:///{folder / 'mlflow.db'}"
    if kind == "client":
        yield Opened(kind, ClientStore(db, driver=True), db)
    elif kind == "sqlite":
        yield Opened(kind, DatabaseStore(db, driver=True), db)
    elif kind == "postgresql":
        with postgres() as pg:
            yield Opened(kind, DatabaseStore(pg.uri, driver=True), pg.uri)
    else:
        DatabaseStore(db).mlflow.search_experiments()  # the schema, before the server opens it
        with _served(db, folder) as uri:
            if kind == "mlflow-server":  # what a plain MLflow server answers
                monkeypatch.setattr(ServerStore, "post_json", lambda *args: None)
            yield Opened(kind, ServerStore(uri, driver=True), uri)


@pytest.fixture(params=KINDS, scope="module")
def opened(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Opened]:
    """A fresh store of each kind, shared by the tests of one module (servers take seconds to
    start): tests that write use experiments of their own."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp(request.param)
        with open_kind(request.param, folder, patch) as found:
            yield found
