"""The shared MLflow tracking server (`study server`) and the driver's health check.

Bound to 127.0.0.1 unless told otherwise: on a cluster it runs on the head node next to the
driver (the only process that writes to MLflow), and people reach its UI through an SSH tunnel.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from study.errors import UserError


def server_command(host: str, port: int, artifacts_destination: str) -> list[str]:
    """`mlflow server` with lossbench's bulk reads (`study.tools.server_app`, the `lossbench`
    app of pyproject.toml); the backend store URI travels in the environment (`server_env`),
    so that a database password never shows in a process listing."""
    return [
        sys.executable, "-m", "mlflow", "server",
        "--host", host, "--port", str(port),
        "--artifacts-destination", artifacts_destination,
        "--workers", "1", "--app-name", "lossbench",
    ]  # fmt: skip


def server_env(backend_store_uri: str) -> dict[str, str]:
    return {
        **os.environ,
        "MLFLOW_BACKEND_STORE_URI": backend_store_uri,
        # MLflow 3's job runner would start extra worker processes (~0.7 GB) we do not use.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }


def redacted(uri: str) -> str:
    """`postgresql://user:***@host/db`: a URI fit to print."""
    parts = urllib.parse.urlsplit(uri)
    if not parts.password:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def start_server(
    port: int,
    backend_store_uri: str,
    artifacts_destination: str,
    host: str = "127.0.0.1",
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server in its own process group (stop it with `stop_server`)."""
    out = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        server_command(host, port, artifacts_destination),
        env=server_env(backend_store_uri), stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True,
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


def is_healthy(uri: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(uri: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_healthy(uri, timeout=2.0):
            return
        time.sleep(0.5)
    raise TimeoutError(f"no healthy MLflow server at {uri} after {timeout:.0f} s")


def check_tracking(uri: str) -> None:
    """Before any trial: an HTTP tracking server must answer its health check."""
    if uri.startswith(("http://", "https://")) and not is_healthy(uri):
        raise UserError(
            f"--tracking-uri: the tracking server at {uri} does not answer ({uri}/health); "
            f"start it with `study server` or fix the URI"
        )
