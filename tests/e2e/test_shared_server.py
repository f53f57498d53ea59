"""`study server --auth` as an operator of a shared cluster runs it: MLflow's basic-auth in
front of every route (the bulk reads included), per-experiment permissions on the bulk reads
and the writes, a study run, checked and reported through it with the credentials in the
environment, a one-line refusal (exit 2, before any trial) without them, and no password in
the console, MLflow, the storage or a process listing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from study import contract as c
from study.tools.server import stop_server, wait_healthy
from tests.conftest import free_port

pytestmark = pytest.mark.e2e

ADMIN, PASSWORD = "operator", "Op-pass-4f1c2e-SECRET"
BOB, BOB_PASSWORD = "bob", "Bob-pass-77a0d3-SECRET"
QUICKSTART = Path(__file__).parents[2] / "search_spaces" / "quickstart.yaml"


@dataclass(frozen=True)
class Served:
    uri: str
    folder: Path
    proc: subprocess.Popen[bytes]

    def env(self, user: str | None = ADMIN, password: str | None = PASSWORD) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
        if user:
            env["MLFLOW_TRACKING_USERNAME"] = user
        if password:
            env["MLFLOW_TRACKING_PASSWORD"] = password
        return env

    def study(self, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "study", *args, "--tracking-uri", self.uri]
        return subprocess.run(cmd, cwd=self.folder, capture_output=True, text=True,
                              timeout=600, env=self.env(**env))  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("shared")
    port = free_port()
    cmd = [sys.executable, "-m", "study", "server", "--auth", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
           "--artifacts-destination", str(folder / "artifacts")]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_USERNAME": ADMIN, "MLFLOW_TRACKING_PASSWORD": PASSWORD}
    with (folder / "server.log").open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(uri)
        yield Served(uri, folder, proc)
    finally:
        stop_server(proc)


ANONYMOUS = [
    ("GET", "/"),  # the UI
    ("GET", "/static-files/index.html"),
    ("GET", "/api/2.0/mlflow/experiments/search?max_results=1"),
    ("GET", "/ajax-api/2.0/mlflow/experiments/search?max_results=1"),
    ("POST", "/api/2.0/mlflow/runs/create"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts"),
    ("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk?metric_key=x&run_id=y"),
    ("POST", c.SERVER_RUNS_PATH),
    ("POST", c.SERVER_HISTORIES_PATH),
]


@pytest.mark.parametrize(("method", "path"), ANONYMOUS)
def test_every_route_refuses_an_anonymous_request(served: Served, method: str, path: str) -> None:
    answer = requests.request(method, served.uri + path, json={}, timeout=30)
    assert answer.status_code == 401, (path, answer.status_code, answer.text[:200])
    wrong = requests.request(method, served.uri + path, json={}, timeout=30,
                             auth=(ADMIN, "not-the-password"))  # fmt: skip
    assert wrong.status_code == 401
    assert requests.get(served.uri + "/health", timeout=30).status_code == 200


def _log(served: Served) -> str:
    return (served.folder / "server.log").read_text(errors="ignore")


def test_a_study_through_the_server_and_who_may_read_it(served: Served, tmp_path: Path) -> None:
    space = tmp_path / "shared.yaml"
    space.write_text(yaml.safe_dump({
        "extends": str(QUICKSTART), "name": "shared",
        "base": {"model": {"width": 4}, "schedule": {"epochs": 2}, "eval": {"final_window": 1}},
        "grid": {"loss": [{"name": "ce"}, {"name": "lace"}], "seed": [0, 1]},
    }))  # fmt: skip
    storage = str(tmp_path / "runs")

    # Without credentials, or with wrong ones: one line, exit 2, before any trial.
    for env in ({"user": None, "password": None}, {"password": "wrong"}):
        refused = served.study("run", str(space), "--storage", storage, **env)
        assert refused.returncode == 2, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "MLFLOW_TRACKING_" in lines[0], refused.stderr
        assert not (tmp_path / "runs").exists()

    ran = served.study("run", str(space), "--storage", storage)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert "main: 4/4 finished" in ran.stdout
    status = served.study("status", "shared", "--storage", storage)
    assert status.returncode == 0 and "is complete" in status.stdout, status.stderr
    out = tmp_path / "report"
    report = served.study("report", "shared", "--storage", storage, "--out", str(out))
    assert report.returncode == 0, report.stderr[-2000:]
    assert (out / "comparisons.csv").is_file()

    # Bob has an account and no permission on the study: no bulk read, no write.
    from mlflow.server.auth.client import AuthServiceClient

    os.environ.update(served.env())  # the admin's client (MLflow reads the environment)
    try:
        admin = AuthServiceClient(served.uri)
        admin.create_user(BOB, BOB_PASSWORD)
        exp = requests.get(f"{served.uri}/api/2.0/mlflow/experiments/get-by-name",
                           params={"experiment_name": "shared"}, auth=(ADMIN, PASSWORD),
                           timeout=30).json()["experiment"]["experiment_id"]  # fmt: skip
        bulk = {"experiment_id": exp, "wanted": {}, "params": False}
        runs = requests.post(served.uri + c.SERVER_RUNS_PATH, json=bulk,
                             auth=(ADMIN, PASSWORD), timeout=30).json()  # fmt: skip
        run_id = next(r[0] for r in runs if r[6].get(c.ROLE_TAG) == "trial")
        keys = {"keys": {run_id: ["train_loss"]}}
        as_bob = {"auth": (BOB, BOB_PASSWORD), "timeout": 30}
        assert (
            requests.post(served.uri + c.SERVER_RUNS_PATH, json=bulk, **as_bob).status_code == 403
        )
        assert requests.post(served.uri + c.SERVER_HISTORIES_PATH, json=keys,
                             **as_bob).status_code == 403  # fmt: skip
        metric = {"run_id": run_id, "key": "x", "value": 1.0, "timestamp": 0, "step": 0}
        write = f"{served.uri}/api/2.0/mlflow/runs/log-metric"
        assert requests.post(write, json=metric, **as_bob).status_code == 403
        for command in (
            ["status", "shared", "--storage", storage],
            ["report", "shared", "--storage", storage, "--out", str(out / "bob")],
        ):
            refused = served.study(*command, user=BOB, password=BOB_PASSWORD)
            lines = refused.stderr.strip().splitlines()
            assert refused.returncode == 2 and len(lines) == 1, refused.stderr[-3000:]
            assert "refused" in lines[0] and "Permission denied" in lines[0], lines

        # Granted READ: Bob reads the study in bulk, and still cannot write to it.
        admin.grant_user_permission(BOB, "experiment", exp, "READ")
        got = requests.post(served.uri + c.SERVER_RUNS_PATH, json=bulk, **as_bob)
        assert got.status_code == 200 and len(got.json()) == len(runs)
        got = requests.post(served.uri + c.SERVER_HISTORIES_PATH, json=keys, **as_bob)
        assert got.status_code == 200 and {row[1] for row in got.json()} == {"train_loss"}
        assert requests.post(write, json=metric, **as_bob).status_code == 403
    finally:
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            os.environ.pop(key, None)

    # No password in the console, MLflow's runs, the storage or the server's log, nor in any
    # process's command line while the server runs.
    texts = [ran.stdout, ran.stderr, status.stdout, report.stdout, report.stderr, _log(served)]
    texts += [p.read_text(errors="ignore") for p in Path(storage).rglob("*") if p.is_file()]
    texts += [p.read_text(errors="ignore") for p in (served.folder / "artifacts").rglob("*")
              if p.is_file()]  # fmt: skip
    texts.append((served.folder / "mlflow.db").read_bytes().decode(errors="ignore"))
    texts += [Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="ignore")
              for pid in os.listdir("/proc") if pid.isdigit()
              and Path(f"/proc/{pid}/cmdline").exists()]  # fmt: skip
    for secret in (PASSWORD, BOB_PASSWORD):
        assert not any(secret in text for text in texts)
