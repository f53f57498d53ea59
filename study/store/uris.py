"""Where a study's runs live: the tracking URI a user gives made absolute (a SQLite file by
default), the MLflow UI's link to an experiment, and where artifacts go. Standard library
only."""

from __future__ import annotations

from pathlib import Path

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
