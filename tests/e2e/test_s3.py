"""A study whose storage is an S3 bucket (moto on 127.0.0.1), reached with a user's bucket-only
credentials given the AWS way (environment variables, read by pyarrow for Ray Tune and for the
study record and trial states): a killed driver, `study status` and `study resume` from that
storage alone, and no credential in MLflow, the storage or the console."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from tests.e2e.test_faults import _most_epochs, _space, _steps, _trial_runs, _wait
from tests.services import BUCKET, s3

pytestmark = pytest.mark.e2e


def test_s3_storage_killed_driver_then_status_and_resume(
    tmp_path: Path, fake_cifar_root: Path
) -> None:
    with s3() as store:
        env = {**os.environ, **store.env}
        space, _ = _space(tmp_path, fake_cifar_root, "s3study", epochs=6)
        db = tmp_path / "t.db"
        storage = f"s3://{BUCKET}/studies"
        client = MlflowClient(f"sqlite:///{db}")
        outputs: list[str] = []

        def cli(*args: str, timeout: float = 420) -> subprocess.CompletedProcess[str]:
            proc = subprocess.run(
                [sys.executable, "-m", "study", *args], env=env, capture_output=True,
                text=True, timeout=timeout, cwd=tmp_path,
            )  # fmt: skip
            outputs.extend([proc.stdout, proc.stderr])
            return proc

        driver = subprocess.Popen(
            [sys.executable, "-m", "study", "run", str(space), "--tracking-uri",
             f"sqlite:///{db}", "--storage", storage],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            _wait(lambda: _most_epochs(client, "s3study") >= 2, 240, "epoch")
        finally:
            os.killpg(driver.pid, signal.SIGKILL)
            out, _ = driver.communicate(60)
            outputs.append(out)

        status = cli("status", "s3study", "--storage", storage, timeout=120)
        assert status.returncode == 0 and "NOT complete" in status.stdout, status.stderr[-3000:]
        resumed = cli("resume", "s3study", "--storage", storage)
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        status = cli("status", "s3study", "--storage", storage, timeout=120)
        assert "is complete" in status.stdout, status.stdout + status.stderr[-3000:]

        trials = _trial_runs(client, "s3study")
        assert len(trials) == 2 and {r.info.status for r in trials} == {"FINISHED"}
        for run in trials:
            assert _steps(client, run.info.run_id) == [1, 2, 3, 4, 5, 6]

        # Everything of the study is in the bucket, nothing in a local runs/ folder.
        s3c: Any = store.client()
        keys = [
            obj["Key"]
            for page in s3c.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            for obj in page.get("Contents", [])
        ]
        assert "studies/s3study/lossbench_spec.json" in keys
        states = [k for k in keys if k.startswith("studies/s3study/trial_states/")]
        assert sum(k.endswith(".pt") for k in states) == 2
        assert not (tmp_path / "runs").exists()

        # No credential in the console, MLflow (params, tags, artifacts, DB) or the storage.
        texts = list(outputs)
        exp = client.get_experiment_by_name("s3study")
        for run in client.search_runs([exp.experiment_id]):
            texts += [repr(run.data.params), repr(run.data.tags)]
        texts += [
            p.read_bytes().decode(errors="ignore") for p in tmp_path.rglob("*") if p.is_file()
        ]
        texts += [
            s3c.get_object(Bucket=BUCKET, Key=k)["Body"].read().decode(errors="ignore")
            for k in keys
        ]
        for secret in (store.secret, store.env["AWS_ACCESS_KEY_ID"]):
            assert not any(secret in text for text in texts)
