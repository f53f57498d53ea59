"""The shared MLflow tracking server (`study server`): its command, its environment (with
`--auth`, MLflow's basic-auth configured beside the store), and starting and stopping it by
process group. Whether a client can use it is `study.store.access`'s.

Bound to 127.0.0.1 unless told otherwise: on a cluster it runs on the head node next to the
driver (the only process that writes to MLflow), and people reach its UI through an SSH tunnel.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from study.store.access import credentials, is_healthy

AUTH_FILES = ("mlflow-auth.db", "mlflow-auth.ini")  # beside a SQLite backend store


def server_command(host: str, port: int, artifacts_destination: str, auth: bool = False
                   ) -> list[str]:  # fmt: skip
    """`mlflow server` with lossbench's bulk reads (`study.tools.server_app`, the `lossbench`
    app of pyproject.toml; `lossbench-auth` behind MLflow's basic-auth); the backend store URI
    and the credentials travel in the environment (`server_env`, `auth_env`), so that no
    password shows in a process listing."""
    return [
        sys.executable, "-m", "mlflow", "server",
        "--host", host, "--port", str(port),
        "--artifacts-destination", artifacts_destination,
        "--workers", "1", "--app-name", "lossbench-auth" if auth else "lossbench",
    ]  # fmt: skip


def server_env(backend_store_uri: str) -> dict[str, str]:
    return {
        **os.environ,
        "MLFLOW_BACKEND_STORE_URI": backend_store_uri,
        # MLflow 3's job runner would start extra worker processes (~0.7 GB) we do not use.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }


def auth_folder(backend_store_uri: str, cwd: Path) -> Path:
    """Where `study server --auth` keeps MLflow's auth database and configuration: beside a
    SQLite backend store, else in the folder the server starts in."""
    from study.store import sqlite_path

    db = sqlite_path(backend_store_uri)
    return db.parent if db else cwd.resolve()


def auth_env(folder: Path, auth_db: str | None = None) -> dict[str, str]:
    """The environment of `study server --auth`: MLflow's auth configuration
    (`folder/mlflow-auth.ini`, readable by its owner only), its users and permissions in a
    database of their own (`auth_db`, default `folder/mlflow-auth.db`: MLflow migrates it with
    its own history, apart from the runs), the admin's credentials from
    `MLFLOW_TRACKING_USERNAME` / `_PASSWORD`, and the key of its forms' CSRF check.
    No user but the admin may read anything by default: an experiment's creator manages it,
    and the admin grants the rest (`default_permission = NO_PERMISSIONS`)."""
    user, password = credentials("study server --auth")
    database = auth_db or f"sqlite:///{folder / AUTH_FILES[0]}"
    ini = folder / AUTH_FILES[1]
    ini.touch(mode=0o600)
    ini.chmod(0o600)  # before the database URI (it may hold a password) is written
    ini.write_text(
        "[mlflow]\ndefault_permission = NO_PERMISSIONS\n"
        f"database_uri = {database}\nadmin_username = {user}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_USERNAME": user,
        "MLFLOW_AUTH_ADMIN_PASSWORD": password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": os.environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY")
        or secrets.token_hex(32),
    }


def start_server(
    port: int,
    backend_store_uri: str,
    artifacts_destination: str,
    host: str = "127.0.0.1",
    log: Path | None = None,
    auth: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server in its own process group (stop it with `stop_server`); with `auth` (a
    folder), behind MLflow's basic-auth, its configuration and database there."""
    out = log.open("ab") if log else subprocess.DEVNULL
    env = server_env(backend_store_uri)
    if auth is not None:
        env |= auth_env(auth.resolve())
    return subprocess.Popen(
        server_command(host, port, artifacts_destination, auth=auth is not None),
        env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Stop the server's whole process group (gunicorn/uvicorn workers included) by its PID."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


def wait_healthy(uri: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_healthy(uri, timeout=2.0):
            return
        time.sleep(0.5)
    raise TimeoutError(f"no healthy MLflow server at {uri} after {timeout:.0f} s")
