"""A real local Ray cluster on 127.0.0.1 — a head and two worker raylets with fake GPUs — runs
a small study logging to a real `study server` over HTTP, with its storage in an S3 bucket
(moto), so that no node relies on the driver's disk; one worker is stopped mid-study and its
trials finish on the other. Everything started is stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from study.tools.server import start_server, stop_server, wait_healthy
from tests.conftest import free_port as _free_port
from tests.conftest import tiny_dict
from tests.services import BUCKET, s3

pytestmark = pytest.mark.e2e
RAY = str(Path(sys.executable).parent / "ray")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(20)


def _wait_for_gpus(gcs: int, env: dict[str, str], n: int, timeout: float) -> None:
    """Until the cluster at 127.0.0.1:gcs reports `n` GPUs in all (its head started, too)."""
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        proc = subprocess.run(
            [RAY, "status", f"--address=127.0.0.1:{gcs}"], env=env, capture_output=True,
            text=True, timeout=30,
        )  # fmt: skip
        out = proc.stdout
        if proc.returncode == 0 and (f"/{n}.0 GPU" in out or (n == 0 and "Active:" in out)):
            return
        time.sleep(1)
    raise TimeoutError(f"cluster never reached {n} GPUs: {out[-2000:]}")


def test_study_on_a_head_and_two_gpu_workers_one_lost(
    tmp_path: Path, fake_cifar_root: Path
) -> None:
    with s3() as store:
        _multinode(tmp_path, fake_cifar_root, store.env)


def _multinode(tmp_path: Path, fake_cifar_root: Path, s3_env: dict[str, str]) -> None:
    # the same auth mode and S3 credentials on every node and the driver
    env = {**os.environ, "RAY_AUTH_MODE": "token", **s3_env}
    gcs, mlflow_port = _free_port(), _free_port()
    uri = f"http://127.0.0.1:{mlflow_port}"
    started: list[subprocess.Popen[bytes]] = []

    def ray_start(*args: str) -> None:
        # --block keeps `ray start` in the foreground, so its process group holds the node
        proc = subprocess.Popen(
            [RAY, "start", "--block", "--node-ip-address=127.0.0.1", *args], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        started.append(proc)

    server = start_server(mlflow_port, f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "art"))
    try:
        ray_start("--head", f"--port={gcs}", "--num-cpus=0", "--num-gpus=0",
                  "--include-dashboard=false")  # fmt: skip
        for n_gpus in (1, 2):  # one worker at a time, each waited for until it has joined
            _wait_for_gpus(gcs, env, n_gpus - 1, timeout=60)
            ray_start(f"--address=127.0.0.1:{gcs}", "--num-cpus=1", "--num-gpus=1")
        _wait_for_gpus(gcs, env, 2, timeout=90)
        wait_healthy(uri)
        space = tmp_path / "multi.yaml"
        space.write_text(
            yaml.safe_dump(
                {
                    "name": "multi",
                    "base": tiny_dict(fake_cifar_root, schedule={"epochs": 8, "step_size": 2}),
                    "grid": {"loss": [{"name": "ce"}, {"name": "lace"}], "seed": [0, 1]},
                    "resources": {"cpu": 0.5, "gpu": 0.5},  # two trials per worker at once
                    "failure": {"max_failures": 3},
                }
            )
        )
        driver = subprocess.Popen(
            [sys.executable, "-m", "study", "run", str(space), "--address",
             f"127.0.0.1:{gcs}", "--tracking-uri", uri, "--storage", f"s3://{BUCKET}/multi"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            start_new_session=True,
        )  # fmt: skip
        client = MlflowClient(uri)

        def nodes_in_use() -> set[str]:
            exp = client.get_experiment_by_name("multi")
            runs = client.search_runs([exp.experiment_id]) if exp else []
            return {r.data.tags["ray.node_id"] for r in runs if "ray.node_id" in r.data.tags}

        deadline = time.monotonic() + 240
        while len(nodes_in_use()) < 2 and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.5)
        if len(nodes_in_use()) < 2:
            os.killpg(driver.pid, signal.SIGKILL)
            raise AssertionError(f"trials did not spread: {driver.communicate()[0][-6000:]}")
        _stop(started[2])  # a worker node is lost mid-study: its trials must move and finish
        out, _ = driver.communicate(timeout=600)
        assert driver.returncode == 0, out[-4000:]
        exp = client.get_experiment_by_name("multi")
        runs = client.search_runs([exp.experiment_id])
        trials = [r for r in runs if r.data.tags.get("lossbench.role") == "trial"]
        assert len(trials) == 4 and {r.info.status for r in trials} == {"FINISHED"}
        history = [set(r.data.tags["ray.node_history"].split(",")) for r in trials]
        assert len(set().union(*history)) == 2  # both worker raylets ran trials, the head none
        moved = [h for h in history if len(h) == 2]
        assert moved, "no trial was rescheduled from the lost node"
        for run in trials:
            steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
            assert steps == list(range(1, 9))  # every epoch once, also for the moved trials
    finally:
        for proc in reversed(started):
            _stop(proc)
        stop_server(server)
