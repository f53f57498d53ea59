"""An S3 storage (moto behind `tests.services.Outage`, a proxy that goes away) that stops
answering mid-study: for 60 s, within the retry bound, the trials wait and the study
completes with nothing lost, the outage said in a line per process, not per call; for
longer than the bound, the study stops and `study resume` completes it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.e2e.test_faults import _space, _steps, _trial_runs, _wait
from tests.services import BUCKET, S3, Outage, s3

pytestmark = pytest.mark.e2e


def _study(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "study", *args], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip


def _complete(client: MlflowClient, name: str, epochs: int) -> None:
    trials = _trial_runs(client, name)
    assert len(trials) == 2 and {r.info.status for r in trials} == {"FINISHED"}
    for run in trials:
        assert _steps(client, run.info.run_id) == list(range(1, epochs + 1))


def _outage_during(proxy: Outage, store: S3, name: str, seconds: float | None) -> None:
    """Down once a trial has saved its state after epoch 1 (seen in the bucket itself, not
    through MLflow, whose writes lag the trials by a batch), up `seconds` later (a thread;
    None: until the test brings it up): every later epoch's save meets the outage."""
    states, bucket = f"outage/{name}/trial_states/", store.client()

    def saved() -> bool:
        listed = bucket.list_objects_v2(Bucket=BUCKET, Prefix=states)
        return int(listed.get("KeyCount", 0)) > 0

    def run() -> None:
        _wait(saved, 240, "a trial's first saved state")
        proxy.down()
        if seconds is not None:
            time.sleep(seconds)
            proxy.up()

    threading.Thread(target=run, daemon=True).start()


def test_s3_outage_within_the_bound_then_past_it(tmp_path: Path, fake_cifar_root: Path) -> None:
    with s3() as store:
        host, port = store.endpoint.removeprefix("http://").split(":")
        proxy = Outage((host, int(port)))
        env = {**os.environ, **store.env, "AWS_ENDPOINT_URL": proxy.endpoint}
        db = tmp_path / "t.db"
        client = MlflowClient(f"sqlite:///{db}")
        storage = f"s3://{BUCKET}/outage"
        where = ["--tracking-uri", f"sqlite:///{db}", "--storage", storage]
        try:
            # 60 s down, within the 300 s bound: the study waits it out and completes.
            space, _ = _space(tmp_path, fake_cifar_root, "waits", epochs=4)
            _save_every_epoch(space)
            _outage_during(proxy, store, "waits", 60)
            out, _ = _study(env, tmp_path, "run", str(space), *where).communicate(timeout=600)
            assert "main: 2/2 finished" in out, out[-4000:]
            said = [ln for ln in out.splitlines() if "unreachable (" in ln]
            assert 1 <= len(said) <= 3, said  # the driver and each trial's process, once
            _complete(client, "waits", 4)

            # Down for longer than a 5 s bound (until the driver has exited: a call that
            # hangs rather than fails would otherwise outlive a short outage and succeed),
            # with no retry of a failed trial: the study stops, not complete; once S3 is
            # back, `study resume` completes it.
            space, _ = _space(tmp_path, fake_cifar_root, "stops", epochs=6)
            raw = yaml.safe_load(space.read_text())
            space.write_text(yaml.safe_dump({**raw, "failure": {"max_failures": 0}}))
            _save_every_epoch(space)
            short = {**env, "LOSSBENCH_STORAGE_RETRY_S": "5"}
            _outage_during(proxy, store, "stops", None)
            driver = _study(short, tmp_path, "run", str(space), *where)
            out, _ = driver.communicate(timeout=600)
            assert driver.returncode != 0 and "study resume stops" in out, out[-4000:]
            proxy.up()
            _wait(lambda: _reachable(proxy), 120, "the proxy back")
            resumed = _study(env, tmp_path, "resume", "stops", "--storage", storage)
            out, _ = resumed.communicate(timeout=600)
            assert resumed.returncode == 0, out[-4000:]
            _complete(client, "stops", 6)
        finally:
            proxy.close()


def _save_every_epoch(space: Path) -> None:
    raw = yaml.safe_load(space.read_text())
    space.write_text(yaml.safe_dump({**raw, "checkpoint": {"every_epochs": 1}}))


def _reachable(proxy: Outage) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
        return True
    except OSError:
        return False
