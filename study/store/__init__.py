"""The one package that reads and writes MLflow: every byte between lossbench and a tracking
store passes here.

`open_store(uri)` gives the `Store` for a tracking URI, chosen once by its scheme:

* a database (`sqlite:`, `postgresql:`, `mysql:`, `mssql:`): `database.DatabaseStore`, SQL over
  MLflow's own tables for the bulk reads and the trial runs' batched writes;
* a tracking server (`http:`, `https:`): `server.ServerStore`, `study server`'s bulk endpoints,
  else MLflow's REST API;
* anything else: `client.ClientStore`, MLflow's client call by call (the others' fallback).

Each covers the same contract (tests/store/, one suite over every implementation): the
experiment, the parent run, runs found by tags, runs and curves in bulk, files, the stages'
decisions, and trial runs written in batches (`create`, `restart`, `log`, `end`, then
`commit`; `set_status` and `set_tags` write at once). The names it reads and writes are
`study.contract`'s. Importing the package costs the standard library only: MLflow,
SQLAlchemy and requests are imported by the calls that use them (`study status` reads a
database without MLflow).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from study import contract as c
from study.store.records import Epochs, NewRun, Params, Refused, RunRecord, now_ms, runs_frame
from study.store.uris import resolve_tracking_uri, sqlite_path, ui_link

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Epochs", "NewRun", "Params", "Refused", "RunRecord", "Store", "now_ms", "open_store",
    "resolve_tracking_uri", "runs_frame", "sqlite_path", "ui_link",
]  # fmt: skip


class Store(Protocol):
    """What every store does (`client.ClientStore` documents each call)."""

    uri: str

    def find_experiment(self, name: str) -> str | None: ...
    def experiment_names(self) -> list[str]: ...
    def experiment_id(self, name: str) -> str: ...
    def describe_experiment(self, experiment_id: str, description: str) -> None: ...

    def read_runs(
        self, experiment_id: str, wanted: Mapping[str, str], params: bool = True,
        only: Mapping[str, Iterable[str]] | None = None,
    ) -> list[RunRecord]: ...  # fmt: skip
    def find_parent(
        self, experiment_id: str, study: str, spec_hash: str | None = None
    ) -> RunRecord | None: ...
    def read_trials(
        self, experiment_id: str, study: str, parent_id: str, stage: str | None = None,
        **how: Any,
    ) -> list[RunRecord]: ...  # fmt: skip
    def parent_run(
        self, experiment_id: str, study: str, spec_hash: str, tags: Mapping[str, str],
        params: Params, spec: Mapping[str, Any],
    ) -> str: ...  # fmt: skip
    def read_histories(self, keys: Mapping[str, Sequence[str]], steps: int = 1) -> pd.DataFrame: ...

    def read_file(self, artifact_uri: str, name: str) -> bytes | None: ...
    def list_files(self, artifact_uri: str, folder: str) -> list[str]: ...
    def log_file(
        self, run_id: str, artifact_uri: str | None, name: str, data: bytes,
        folder: str | None = None,
    ) -> None: ...  # fmt: skip
    def read_decisions(self, parent: RunRecord) -> dict[str, Any]: ...
    def log_decision(self, parent_id: str, key: str, value: Any) -> None: ...

    def create(self, experiment_id: str, run: NewRun) -> tuple[str, str]: ...
    def last_step(self, run_id: str, key: str = ...) -> int: ...
    def restart(self, run_id: str) -> None: ...
    def log(self, run_id: str, epochs: Epochs, params: Params, tags: Mapping[str, str]) -> None: ...
    def end(self, run_id: str, status: str) -> None: ...
    def commit(self) -> None: ...
    def set_status(self, run_id: str, status: str) -> None: ...
    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...


def open_store(uri: str, driver: bool = False) -> Store:
    """The store of a tracking URI (`driver`: the one that writes a study's trial runs)."""
    kind = c.scheme(uri)
    if kind in c.DATABASES:
        from study.store.database import DatabaseStore

        return DatabaseStore(uri, driver)
    if kind in ("http", "https"):
        from study.store.server import ServerStore

        return ServerStore(uri, driver)
    from study.store.client import ClientStore

    return ClientStore(uri, driver)
