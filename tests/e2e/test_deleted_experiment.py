"""A study whose experiment a user deletes in the MLflow UI while it runs, on the SQL writer
(SQLite and PostgreSQL): no write reaches the deleted experiment, the study says so in one
line and stops cleanly, and once the experiment is restored `study resume` completes it with
every trial once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import tiny_dict
from tests.e2e.test_faults import _wait
from tests.services import postgres

pytestmark = pytest.mark.e2e


def _run(tmp_path: Path, root: Path, uri: str) -> None:
    import yaml

    space = tmp_path / "gone.yaml"
    base = tiny_dict(root, schedule={"epochs": 4, "step_size": 2},
                     eval={"batch_size": 100, "final_window": 2})  # fmt: skip
    space.write_text(yaml.safe_dump({
        "name": "gone", "base": base, "resources": {"cpu": 1},
        "grid": {"loss": [{"name": "ce"}, {"name": "lace"}], "seed": [0, 1]},
    }))  # fmt: skip
    storage = str(tmp_path / "runs")
    cmd = [sys.executable, "-m", "study", "run", str(space), "--tracking-uri", uri,
           "--storage", storage]  # fmt: skip
    driver = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)  # fmt: skip
    client = MlflowClient(uri)

    def started() -> bool:
        # a driver that ended before any trial got going fails here with its own words, not
        # after the whole wait as "no trial reached epoch 2"
        if driver.poll() is not None:
            _out, err = driver.communicate()
            raise AssertionError(f"the driver exited {driver.returncode}: {err[-3000:]}")
        exp = client.get_experiment_by_name("gone")
        if exp is None:
            return False
        runs = client.search_runs([exp.experiment_id], "tags.`lossbench.role` = 'trial'")
        return any(r.data.metrics.get("epoch", 0) >= 2 for r in runs)

    try:
        _wait(started, 300, "no trial reached epoch 2")
        exp = client.get_experiment_by_name("gone").experiment_id
        client.delete_experiment(exp)
        at_deletion = _points(uri)
        _out, err = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, 9)
    time.sleep(1)
    assert _points(uri) == at_deletion  # nothing written to the deleted experiment
    lines = [ln for ln in err.splitlines() if ln.startswith("study: error:")]
    assert driver.returncode == 2 and len(lines) == 1, err[-3000:]
    assert "deleted" in lines[0] and "study resume gone" in lines[0], lines

    client.restore_experiment(exp)
    resume = subprocess.run([sys.executable, "-m", "study", "resume", "gone", "--storage",
                             storage], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)  # fmt: skip
    assert resume.returncode == 0, resume.stdout[-3000:] + resume.stderr[-3000:]
    runs = client.search_runs([exp], "tags.`lossbench.role` = 'trial'")
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
        assert sorted(set(steps)) == list(range(1, 5)), steps


def _points(uri: str) -> tuple[int, int, int]:
    """Rows of runs, metrics and tags in the tracking database."""
    import sqlalchemy as sa

    engine = sa.create_engine(uri)
    with engine.connect() as conn:
        counts = tuple(conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                       for t in ("runs", "metrics", "tags"))  # fmt: skip
    engine.dispose()
    return counts  # type: ignore[return-value]


def test_a_deleted_experiment_stops_the_study_on_sqlite(
    tmp_path: Path, fake_cifar_root: Path
) -> None:
    _run(tmp_path, fake_cifar_root, f"sqlite:///{tmp_path / 'mlflow.db'}")


def test_a_deleted_experiment_stops_the_study_on_postgresql(
    tmp_path: Path, fake_cifar_root: Path
) -> None:
    with postgres() as pg:
        _run(tmp_path, fake_cifar_root, pg.uri)
