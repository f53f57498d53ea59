"""The store of any tracking URI, through MLflow's client (`MlflowClient`, with an explicit
URI: no fluent global state): experiments, the parent run, runs found by tags (the schema of
`study.contract`), curves, files and decisions, and a trial run's writes call by call. A
tracking database (`database.DatabaseStore`) and a `study server` (`server.ServerStore`) read
and write the same things faster; this class is what they fall back on.

Every call is retried with backoff on a transient error (`retry.with_retries`), so a tracking
server that goes away and comes back fails no trial and loses no metric.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from study import contract as c
from study.errors import UserError
from study.store.records import Epochs, NewRun, Params, Refused, RunRecord, record_of
from study.store.retry import sqlite_write_ahead, with_retries
from study.store.uris import artifact_location, local_folder, sqlite_path

if TYPE_CHECKING:
    import pandas as pd

HISTORY_COLUMNS = ["run_id", "metric", "step", "value", "timestamp"]
DENIED = ("PERMISSION_DENIED", "UNAUTHENTICATED")  # MLflow's error codes of a 403, a 401


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def histories_frame(rows: Iterable[Sequence[Any]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(list(rows), columns=HISTORY_COLUMNS)


class ClientStore:
    """A study's runs through MLflow's client. `driver`: the store of a study's driver, which
    writes every trial's runs (on SQLite: `sqlite_write_ahead`)."""

    def __init__(self, uri: str, driver: bool = False) -> None:
        self.uri = uri
        self.driver = driver
        self._mlflow: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"uri": self.uri, "driver": self.driver}  # a client is not state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["uri"], state["driver"])  # type: ignore[misc]

    @property
    def mlflow(self) -> Any:
        """The `MlflowClient` (made at the first call)."""
        if self._mlflow is None:
            from mlflow.tracking import MlflowClient

            # its "Creating initial MLflow database tables" lines say nothing a user needs
            logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
            db = sqlite_path(self.uri)
            if db is not None:
                db.parent.mkdir(parents=True, exist_ok=True)
            self._mlflow = MlflowClient(tracking_uri=self.uri)
            if db is not None and self.driver:
                sqlite_write_ahead(self._mlflow._tracking_client.store.engine)
        return self._mlflow

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """`MlflowClient.<name>(...)`, retried on transient errors; a write to a deleted run
        or experiment raises `Refused`."""
        try:
            return with_retries(getattr(self.mlflow, name), name, *args, **kwargs)
        except Exception as exc:
            if Refused.INACTIVE in str(exc):
                raise Refused(_first_line(exc)) from exc
            if getattr(exc, "error_code", "") in DENIED:  # a server's users and permissions
                raise UserError(f"the tracking server at {self.uri} refused {name}: "
                                f"{_first_line(exc)}") from None  # fmt: skip
            raise

    # --- experiments ------------------------------------------------------------------------

    def find_experiment(self, name: str) -> str | None:
        found = self.call("get_experiment_by_name", name)
        return None if found is None else str(found.experiment_id)

    def experiment_names(self) -> list[str]:
        return [e.name for e in self.call("search_experiments")]

    def experiment_id(self, name: str) -> str:
        """The experiment `name`: restored if deleted, created if absent."""
        exp = self.call("get_experiment_by_name", name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                self.call("restore_experiment", exp.experiment_id)
            return str(exp.experiment_id)
        location = artifact_location(self.uri, name)
        return str(self.call("create_experiment", name, artifact_location=location))

    def describe_experiment(self, experiment_id: str, description: str) -> None:
        """The study's description, shown on the experiment's page of the MLflow UI, and the
        experiment's kind: model training, not GenAI (MLflow 3.17's UI opens on its GenAI
        overview unless the link asks otherwise: `uris.ui_link`)."""
        self.call("set_experiment_tag", experiment_id, c.KIND_TAG, "custom_model_development")
        if description.strip():
            self.call("set_experiment_tag", experiment_id, c.NOTE_TAG, description.strip())

    # --- runs -------------------------------------------------------------------------------

    def read_runs(
        self, experiment_id: str, wanted: Mapping[str, str], params: bool = True,
        only: Mapping[str, Iterable[str]] | None = None,
    ) -> list[RunRecord]:  # fmt: skip
        """The active runs of an experiment with every tag of `wanted` (params unless
        `params=False`; `only`: just these keys of a table, where a faster store can), every
        page of `search_runs`."""
        where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in wanted.items())
        found: list[RunRecord] = []
        token = None
        while True:
            batch = self.call("search_runs", [experiment_id], where, max_results=c.PAGE,
                              page_token=token)  # fmt: skip
            found += [record_of(r) for r in batch]
            token = getattr(batch, "token", None)
            if not token:
                return found

    def find_parent(
        self, experiment_id: str, study: str, spec_hash: str | None = None
    ) -> RunRecord | None:
        """A study's parent run: among the experiment's parent runs of that study (with that
        spec hash, when the caller knows it), the latest started; None when there is none. A
        study resumed with the same spec reuses its parent run, so there is one per spec hash;
        a reader that knows only the name (`study report`) gets the latest of that name."""
        wanted = {c.ROLE_TAG: c.PARENT_ROLE, c.STUDY_TAG: study}
        if spec_hash is not None:
            wanted[c.SPEC_HASH_TAG] = spec_hash
        found = with_retries(self.read_runs, "read_runs", experiment_id, wanted)
        return max(found, key=lambda r: r.info.start_time or 0, default=None)

    def read_trials(
        self, experiment_id: str, study: str, parent_id: str, stage: str | None = None,
        **how: Any,
    ) -> list[RunRecord]:  # fmt: skip
        """The trial runs of one parent run (of one stage); `how`: `read_runs`'s keywords."""
        wanted = {c.ROLE_TAG: c.TRIAL_ROLE, c.STUDY_TAG: study, c.PARENT_TAG: parent_id}
        if stage is not None:
            wanted[c.STAGE_TAG] = stage
        return list(with_retries(self.read_runs, "read_runs", experiment_id, wanted, **how))

    def parent_run(
        self, experiment_id: str, study: str, spec_hash: str, tags: Mapping[str, str],
        params: Params, spec: Mapping[str, Any],
    ) -> str:  # fmt: skip
        """The study's parent run: reused (RUNNING again) when the same spec is resumed, else
        created with `tags` (besides its role, study and spec hash), `params` and the spec as
        `contract.SPEC_FILE`."""
        found = self.find_parent(experiment_id, study, spec_hash)
        if found is not None:
            self.call("update_run", found.info.run_id, status="RUNNING")
            return found.info.run_id
        role = {c.ROLE_TAG: c.PARENT_ROLE, c.STUDY_TAG: study, c.SPEC_HASH_TAG: spec_hash}
        run = self.call("create_run", experiment_id, run_name=study, tags={**role, **tags})
        run_id = str(run.info.run_id)
        self.log_now(run_id, [], params, {})
        self.log_file(run_id, None, c.SPEC_FILE, json.dumps(dict(spec), indent=2).encode())
        return run_id

    def read_histories(self, keys: Mapping[str, Sequence[str]], steps: int = 1) -> pd.DataFrame:
        """Every logged point of `keys[run_id]` for each run, as rows of `HISTORY_COLUMNS`
        (`get_metric_history` per run and key; `steps` sizes a server's calls)."""
        return histories_frame(
            (run, key, int(m.step), float(m.value), int(m.timestamp))
            for run, ks in keys.items()
            for key in ks
            for m in self.call("get_metric_history", run, key)
        )

    # --- files ------------------------------------------------------------------------------

    def read_file(self, artifact_uri: str, name: str) -> bytes | None:
        """A run's file `name` (a path under its artifacts), or None: read in place from a
        local artifact store, else from the run's artifact repository (MLflow's
        `get_artifact_repository`, without the `get_run` of `download_artifacts`)."""
        local = local_folder(artifact_uri)
        if local is not None:
            path = local / name
            return path.read_bytes() if path.is_file() else None
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar a file
        with tempfile.TemporaryDirectory(prefix="lossbench-read-") as tmp:
            try:
                repo = get_artifact_repository(artifact_uri, tracking_uri=self.uri)
                return Path(repo.download_artifacts(name, tmp)).read_bytes()
            except Exception:  # absent: every repository says so its own way
                return None

    def list_files(self, artifact_uri: str, folder: str) -> list[str]:
        """The names of the files in a run's artifact folder."""
        local = local_folder(artifact_uri)
        if local is not None:
            where = local / folder
            return sorted(p.name for p in where.iterdir()) if where.is_dir() else []
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        repo = get_artifact_repository(artifact_uri, tracking_uri=self.uri)
        return sorted(Path(f.path).name for f in with_retries(repo.list_artifacts, "list", folder))

    def log_file(
        self, run_id: str, artifact_uri: str | None, name: str, data: bytes,
        folder: str | None = None,
    ) -> None:  # fmt: skip
        """Store `data` as file `name` of the run (in its artifact folder `folder`): written in
        place when the run's artifacts are a local folder (what MLflow's local repository
        does, less its temporary copy), else through MLflow's artifact repository for them."""
        if artifact_uri is None:
            artifact_uri = str(self.call("get_run", run_id).info.artifact_uri)
        local = local_folder(artifact_uri)
        if local is not None:
            target = local / folder if folder else local
            target.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(data)
            return
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        with tempfile.TemporaryDirectory(prefix="lossbench-art-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            repo = get_artifact_repository(artifact_uri, tracking_uri=self.uri)
            with_retries(repo.log_artifact, "log_artifact", str(path), folder)

    def read_decisions(self, parent: RunRecord) -> dict[str, Any]:
        """The stages' decisions copied to a parent run (`contract.DECISIONS_FOLDER`), by key."""
        uri = parent.info.artifact_uri
        names = [n for n in self.list_files(uri, c.DECISIONS_FOLDER) if n.endswith(".json")]
        found = {n[:-5]: self.read_file(uri, f"{c.DECISIONS_FOLDER}/{n}") for n in names}
        return {k: json.loads(v) for k, v in found.items() if v is not None}

    def log_decision(self, parent_id: str, key: str, value: Any) -> None:
        data = c.decision_text(value).encode()
        self.log_file(parent_id, None, f"{key}.json", data, c.DECISIONS_FOLDER)

    # --- a trial run's writes, in batches (here one call each: `commit` has nothing to do) ---

    def create(self, experiment_id: str, run: NewRun) -> tuple[str, str]:
        """A new trial run with its tags and files: its id and artifact URI (its params go
        with its first `log`)."""
        info = self.call("create_run", experiment_id, run_name=run.name, tags=run.tags).info
        for name, data in run.files.items():
            self.log_file(info.run_id, info.artifact_uri, name, data)
        return str(info.run_id), str(info.artifact_uri)

    def last_step(self, run_id: str, key: str = c.TRAIN_LOSS) -> int:
        history = self.call("get_metric_history", run_id, key)
        return max((int(m.step) for m in history), default=0)

    def restart(self, run_id: str) -> None:
        self.call("update_run", run_id, status="RUNNING")

    def log_now(self, run_id: str, epochs: Epochs, params: Params, tags: Mapping[str, str]) -> None:
        """Epochs (step, metrics, time in ms), params and tags in as few calls as MLflow's
        limits allow (per request: 1,000 metrics, 100 params, 100 tags, 1,000 in all)."""
        from mlflow.entities import Metric, Param, RunTag

        metrics = [Metric(k, float(v), ms, s) for s, m, ms in epochs for k, v in m.items()]
        ps = [Param(k, str(v)[: c.PARAM_CHARS]) for k, v in params.items()]
        ts = [RunTag(k, v) for k, v in tags.items()]
        while metrics or ps or ts:
            p, ps, t, ts = ps[:100], ps[100:], ts[:100], ts[100:]
            room = 1000 - len(p) - len(t)
            m, metrics = metrics[:room], metrics[room:]
            self.call("log_batch", run_id, metrics=m, params=p, tags=t)

    log = log_now

    def end(self, run_id: str, status: str) -> None:
        self.set_status(run_id, status)

    def commit(self) -> None:
        """Each call was made already."""

    # --- written at once, by every store ----------------------------------------------------

    def set_status(self, run_id: str, status: str) -> None:
        """FINISHED, FAILED or KILLED (sets the end time)."""
        self.call("set_terminated", run_id, status=status)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.log_now(run_id, [], {}, tags)
