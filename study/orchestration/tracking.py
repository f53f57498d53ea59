"""MLflow tracking: one experiment per study, a parent run per study, a child run per trial.

All calls go through `MlflowClient` with an explicit tracking URI (no fluent global state), and
all of them happen on the driver: workers never need to reach the tracking store. (On a
tracking database the driver's writer writes trial runs in batches itself,
`study.orchestration.sql_writes`, as MLflow's store would.) Runs are
found again by tags (the schema of `study.contract`), so a resumed study reuses its
runs instead of duplicating them, and re-sent epochs (after a retry) are not logged twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from study import contract as c
from study.coerce import flatten
from study.contract.runs import find_parent, read_trials
from study.orchestration.client import RetryingClient, sqlite_write_ahead, with_retries
from study.orchestration.run_tags import CONFIG_FILE, config_file, git_sha, trial_tags
from study.training.config import TrialConfig

DEFAULT_DB = "mlflow.db"


def ui_link(base: str, experiment_id: str | None = None) -> str:
    """The MLflow UI page of an experiment's runs table. MLflow 3.17 opens on its GenAI
    overview (traces) unless the URL asks for the model-training view; the choice is then
    remembered by the browser."""
    page = f"experiments/{experiment_id}" if experiment_id else "experiments"
    return f"{base.rstrip('/')}/#/{page}?workflowType=machine_learning"


def resolve_tracking_uri(uri: str | None, cwd: Path | None = None) -> str:
    """Default `sqlite:///<abs>/mlflow.db`; a relative sqlite path is made absolute (a Ray worker
    runs in a scratch directory, where a relative path would land)."""
    base = (cwd or Path.cwd()).resolve()
    if uri is None:
        return f"sqlite:///{base / DEFAULT_DB}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(base / uri[len('sqlite:///') :]).resolve()}"
    if "://" not in uri:  # a bare file path
        return f"sqlite:///{(base / uri).resolve()}"
    return uri


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def local_folder(uri: str) -> Path | None:
    """The folder of a `file:` artifact URI or a plain path; None for a remote store (S3, a
    tracking server's `mlflow-artifacts:`)."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    return Path(uri) if parsed.scheme == "" else None


def artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts beside the SQLite DB (`<db dir>/mlartifacts/<experiment>`); a server decides
    its own."""
    db = sqlite_path(uri)
    return (db.parent / "mlartifacts" / experiment).as_uri() if db else None


def metric_items(result: Mapping[str, Any]) -> dict[str, float]:
    """Our metrics from a Tune result (Ray adds many bookkeeping keys of its own)."""
    return {
        k: float(v)
        for k, v in result.items()
        if c.is_tracked_metric(k) and isinstance(v, int | float)
    }


class Tracker:
    """Thin typed wrapper over `MlflowClient` for one tracking URI. `driver`: the tracker of a
    study's driver, which writes every trial's runs (on SQLite: `sqlite_write_ahead`)."""

    def __init__(self, uri: str, driver: bool = False) -> None:
        self.uri = uri
        self.driver = driver
        self._client: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # a client is not picklable state
        return {"uri": self.uri, "driver": self.driver, "_client": None}

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            db = sqlite_path(self.uri)
            if db is not None:
                db.parent.mkdir(parents=True, exist_ok=True)
            client = MlflowClient(tracking_uri=self.uri)
            if db is not None and self.driver:
                sqlite_write_ahead(client._tracking_client.store.engine)
            self._client = RetryingClient(client)
        return self._client

    # --- experiments and runs ---------------------------------------------------------------

    def experiment_id(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(exp.experiment_id)
            return str(exp.experiment_id)
        return str(
            self.client.create_experiment(name, artifact_location=artifact_location(self.uri, name))
        )

    def describe_experiment(self, experiment_id: str, description: str) -> None:
        """The study's description, shown on the experiment's page of the MLflow UI, and the
        experiment's kind: model training, not GenAI. (MLflow 3.17's UI still opens on its
        GenAI overview unless the link says `?workflowType=machine_learning`: `ui_link`.)"""
        self.client.set_experiment_tag(experiment_id, c.KIND_TAG, "custom_model_development")
        if description.strip():
            self.client.set_experiment_tag(experiment_id, c.NOTE_TAG, description.strip())

    def study_parent(
        self, experiment_id: str, study: str, spec_hash: str | None = None
    ) -> Any | None:
        """The study's parent run (`study.contract.runs.find_parent`), or None."""
        return with_retries(find_parent, "find_parent", self.uri, experiment_id, study,
                            spec_hash, client=self.client)  # fmt: skip

    def study_trials(
        self, experiment_id: str, study: str, parent_id: str, params: bool = True,
        stage: str | None = None,
    ) -> list[Any]:  # fmt: skip
        """The study's trial runs (of one stage), read in bulk (`study.contract.runs.read_runs`);
        `params=False`: without their params."""
        return list(with_retries(read_trials, "read_trials", self.uri, experiment_id, study,
                                 parent_id, stage, params=params, client=self.client))  # fmt: skip

    def parent_run(
        self, experiment_id: str, study: str, spec_hash: str, spec: Mapping[str, Any]
    ) -> str:
        """The study's parent run: reused when the same spec is resumed, else created."""
        found = self.study_parent(experiment_id, study, spec_hash)
        if found is not None:
            run_id = str(found.info.run_id)
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        run = self.client.create_run(
            experiment_id,
            run_name=study,
            tags={
                c.ROLE_TAG: c.PARENT_ROLE,
                c.STUDY_TAG: study,
                c.SPEC_HASH_TAG: spec_hash,
                c.GIT_SHA_TAG: git_sha(),
                c.GRID_AXES_TAG: json.dumps(list(spec.get("grid", {}))),
            },
        )
        run_id = str(run.info.run_id)
        self.log_params(run_id, flatten(spec))
        self.client.log_dict(run_id, dict(spec), "study_spec.json")
        return run_id

    def trial_runs_by_id(
        self, experiment_id: str, study: str, parent_id: str, stage: str
    ) -> dict[str, Any]:
        """The study's trial runs of one stage, by Ray trial id, read in bulk."""
        runs = self.study_trials(experiment_id, study, parent_id, params=False, stage=stage)
        return {c.tags(r)[c.TRIAL_ID_TAG]: r for r in runs}

    def create_trial_run(
        self,
        experiment_id: str,
        parent_id: str,
        study: str,
        trial_id: str,
        trial_name: str,
        cfg: TrialConfig,
        extra_tags: Mapping[str, str] | None = None,
    ) -> tuple[str, str]:
        """A new child run for one Ray trial, with its tags (`trial_tags`) and its config as an
        artifact (its params go in its first `log_batch`): its id and artifact URI."""
        tags = trial_tags(parent_id, study, trial_id, cfg, extra_tags)
        info = self.client.create_run(experiment_id, run_name=trial_name, tags=tags).info
        self.log_bytes(info.run_id, config_file(cfg), CONFIG_FILE, artifact_uri=info.artifact_uri)
        return str(info.run_id), str(info.artifact_uri)

    def engine(self) -> Any | None:
        """The SQLAlchemy engine of a database store (SQLite, PostgreSQL); None over HTTP."""
        store = self.client._client._tracking_client.store
        return getattr(store, "engine", None)

    # --- logging ----------------------------------------------------------------------------

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.log_batch(run_id, [], params)

    def log_batch(
        self,
        run_id: str,
        epochs: Sequence[tuple[int, Mapping[str, float], int]],
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Log epochs (step, metrics, time in ms), params and tags in as few calls as MLflow's
        limits allow (per request: 1,000 metrics, 100 params, 100 tags, 1,000 in all)."""
        from mlflow.entities import Metric, Param, RunTag

        metrics = [Metric(k, float(v), ms, s) for s, m, ms in epochs for k, v in m.items()]
        # MLflow keeps at most 6000 characters of a param value
        ps = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
        ts = [RunTag(k, v) for k, v in (tags or {}).items()]
        while metrics or ps or ts:
            p, ps, t, ts = ps[:100], ps[100:], ts[:100], ts[100:]
            room = 1000 - len(p) - len(t)
            m, metrics = metrics[:room], metrics[room:]
            self.client.log_batch(run_id, metrics=m, params=p, tags=t)

    def log_bytes(
        self, run_id: str, data: bytes, name: str, folder: str | None = None,
        artifact_uri: str | None = None,
    ) -> None:  # fmt: skip
        """Store `data` as artifact `name` of the run (in its artifact folder `folder`). Given
        the run's `artifact_uri`, the file goes straight to it: written in place when it is a
        local folder (what MLflow's local repository does, less its temporary copy), else
        through MLflow's artifact repository for it, without the `get_run` that
        `MlflowClient.log_artifact` makes to find it."""
        local = local_folder(artifact_uri) if artifact_uri else None
        if local is not None:
            target = local / folder if folder else local
            target.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(data)
            return
        import tempfile

        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        with tempfile.TemporaryDirectory(prefix="lossbench-art-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            if artifact_uri is None:
                self.client.log_artifact(run_id, str(path), folder)
            else:
                repo = get_artifact_repository(artifact_uri, tracking_uri=self.uri)
                with_retries(repo.log_artifact, "log_artifact", str(path), folder)

    def last_step(self, run_id: str, key: str = "train_loss") -> int:
        history = self.client.get_metric_history(run_id, key)
        return max((int(m.step) for m in history), default=0)

    def set_status(self, run_id: str, status: str) -> None:
        """FINISHED, FAILED or KILLED (sets the end time)."""
        self.client.set_terminated(run_id, status=status)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)
