"""Faults with real Ray and a real MLflow server: a trial SIGKILLed mid-study, the tracking
server restarted mid-study, the driver SIGTERMed and SIGKILLed and the study resumed and
checked from another directory, a trial killed past `max_failures`, a second Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow.tracking import MlflowClient

from study.tools.server import start_server, stop_server, wait_healthy
from study.training.config import TrialConfig
from tests.conftest import free_port as _free_port
from tests.conftest import tiny_dict
from tests.services import postgres

pytestmark = pytest.mark.e2e


def _trial_pids(driver: int) -> list[int]:
    """Trial worker processes of the local Ray that `driver` started (its descendants): the
    test kills only what it started."""
    out = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    rows = [line.split(None, 2) for line in out.splitlines()[1:]]
    parent = {int(r[0]): int(r[1]) for r in rows}

    def descends(pid: int) -> bool:
        while pid > 1:
            if pid == driver:
                return True
            pid = parent.get(pid, 1)
        return False

    return [int(r[0]) for r in rows if len(r) == 3 and "ray::ImplicitFunc" in r[2]
            and descends(int(r[0]))]  # fmt: skip


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise TimeoutError(what)


def _space(tmp_path: Path, root: Path, name: str, epochs: int) -> tuple[Path, dict[str, Any]]:
    base = tiny_dict(root, schedule={"epochs": epochs, "step_size": 2},
                     eval={"batch_size": 100, "final_window": min(2, epochs)})  # fmt: skip
    raw = {
        "name": name,
        "base": base,
        "grid": {"loss": [{"name": "ce"}, {"name": "lace"}], "seed": [0]},
        "resources": {"cpu": 1},
        "failure": {"max_failures": 2},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, base


def _steps(client: MlflowClient, run_id: str, key: str = "train_loss") -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]


def test_killed_trial_and_restarted_server_on_postgresql(
    tmp_path: Path, fake_cifar_root: Path
) -> None:
    """`study server` with a real PostgreSQL backend; a trial SIGKILLed while the server
    restarts; nothing lost; `study report` and `study status` read it back."""
    with postgres() as pg:
        _tracked_through_a_restarted_server(tmp_path, fake_cifar_root, pg.uri, pg.password)


def _bulk_reads_equal_mlflow(client: MlflowClient, server_uri: str, db_uri: str) -> None:
    from study.store import open_store

    exp = client.get_experiment_by_name("faults")
    runs = [r.info.run_id for r in client.search_runs([exp.experiment_id])
            if r.data.tags.get("lossbench.role") == "trial"]  # fmt: skip
    keys = {r: ["train_loss", "test_top1_error"] for r in runs}
    shown = sorted(
        (r, k, m.step, m.value, m.timestamp)
        for r, ks in keys.items() for k in ks for m in client.get_metric_history(r, k)
    )  # fmt: skip
    for uri in (server_uri, db_uri):
        frame = open_store(uri).read_histories(keys, steps=6)
        got = sorted((r, k, int(s), v, int(t)) for r, k, s, v, t in frame.itertuples(index=False))
        assert got == shown and len(shown) >= 2 * 2 * 6, uri


def _tracked_through_a_restarted_server(
    tmp_path: Path, fake_cifar_root: Path, db: str, password: str
) -> None:
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_server(port, db, str(tmp_path / "art"), log=tmp_path / "server.log")
    driver = None
    out = ""
    try:
        wait_healthy(uri)
        space, base = _space(tmp_path, fake_cifar_root, "faults", epochs=6)
        raw = yaml.safe_load(space.read_text())
        raw["checkpoint"] = {"every_epochs": 3, "every_seconds": None}  # killed between saves
        space.write_text(yaml.safe_dump(raw))
        cmd = [sys.executable, "-m", "study", "run", str(space), "--tracking-uri", uri]
        (tmp_path / "store").mkdir()
        driver = subprocess.Popen(
            [*cmd, "--storage", str(tmp_path / "store")], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True, cwd=tmp_path / "store",
        )  # fmt: skip
        client = MlflowClient(uri)

        # epoch 3 saved, epoch 4 done: the kill lands between two saves
        _wait(lambda: _most_epochs(client, "faults") >= 4, 180, "no fourth epoch logged")
        victims = _trial_pids(driver.pid)
        assert victims, "no trial process found"
        os.kill(victims[0], signal.SIGKILL)  # a trial dies mid-epoch
        stop_server(server)  # ... and the tracking server goes away
        time.sleep(4)
        server = start_server(port, db, str(tmp_path / "art"), log=tmp_path / "server.log")
        wait_healthy(uri)
        out, _ = driver.communicate(timeout=420)
        assert driver.returncode == 0, out[-4000:]
        # every file went to the server's artifact store, none beside the driver
        assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["faults"]
        # Read back through the server: the statistics, and the status from the record.
        report = subprocess.run(
            [sys.executable, "-m", "study", "report", "faults", "--storage",
             str(tmp_path / "store"), "--out", str(tmp_path / "report")],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert report.returncode == 0, report.stderr[-3000:]
        assert "lace" in (tmp_path / "report" / "comparisons.csv").read_text()
        status = subprocess.run(
            [sys.executable, "-m", "study", "status", "faults", "--storage",
             str(tmp_path / "store")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert "is complete" in status.stdout, status.stdout + status.stderr
        texts = [out, report.stdout, report.stderr, status.stdout, status.stderr]
        assert not any(password in t for t in texts)  # the DB password stays in the server
        # the report's bulk reads, through the server and straight from PostgreSQL, hold
        # exactly the points MLflow's per-run calls give (the retried trial's re-sent steps too)
        _bulk_reads_equal_mlflow(client, uri, db)
    finally:
        if driver is not None and driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        stop_server(server)

    # Checked against the server's database directly: one run per trial, no step twice.
    client = MlflowClient(db)
    exp = client.get_experiment_by_name("faults")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("lossbench.role") == "parent"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    trials = [r for r in runs if r.data.tags.get("lossbench.role") == "trial"]
    assert len(trials) == 2 and {r.info.status for r in trials} == {"FINISHED"}
    for run in trials:
        for key in ("train_loss", "test_top1_error", "lr"):
            assert _steps(client, run.info.run_id, key) == [1, 2, 3, 4, 5, 6], key
    # The retried trial ends exactly where an uninterrupted one does.
    for run in trials:
        ref = _reference_finals(tmp_path, base, run.data.tags["loss"])
        assert run.data.metrics["final_paper_top5_error"] == ref["final_paper_top5_error"]
        assert run.data.metrics["final_train_loss"] == ref["final_train_loss"]


def test_unreachable_tracking_server_is_a_clear_error(
    tmp_path: Path, fake_cifar_root: Path
) -> None:
    space, _ = _space(tmp_path, fake_cifar_root, "noserver", epochs=1)
    port = _free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "study", "run", str(space), "--tracking-uri",
         f"http://127.0.0.1:{port}", "--storage", str(tmp_path / "store")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "does not answer" in proc.stderr
    assert not (tmp_path / "store").exists()


def _reference_finals(tmp_path: Path, base: dict[str, Any], loss: str) -> dict[str, float]:
    """An uninterrupted `study trial` of one loss at seed 0 (one thread: Ray gives a 1-CPU
    trial one thread too)."""
    ref_cfg = tmp_path / f"ref_{loss}.yaml"
    cfg = TrialConfig.from_dict({**base, "loss": {"name": loss}, "seed": 0})
    ref_cfg.write_text(yaml.safe_dump(cfg.to_dict()))
    ref_out = tmp_path / f"ref_{loss}.json"
    subprocess.run(
        [sys.executable, "-m", "study", "trial", str(ref_cfg), "--out", str(ref_out)],
        check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    return dict(json.loads(ref_out.read_text()))


def _cli(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "study", *args], cwd=cwd, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def _finish(proc: subprocess.Popen[str], timeout: float) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(60)
    return out


def _trial_runs(client: MlflowClient, name: str) -> list[Any]:
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id]) if exp else []
    return [r for r in runs if r.data.tags.get("lossbench.role") == "trial"]


def _most_epochs(client: MlflowClient, name: str) -> int:
    """The most epochs any trial of study `name` has logged so far."""
    return max((len(_steps(client, r.info.run_id)) for r in _trial_runs(client, name)), default=0)


def test_sigterm_then_killed_driver_then_resume_and_status_from_elsewhere(
    tmp_path: Path, fake_cifar_root: Path
) -> None:
    """Started in directory A with relative paths (data root, storage, default tracking DB);
    SIGTERMed (what a cluster scheduler sends); resumed from directory B, SIGKILLed there,
    resumed again from B: complete, identical finals, nothing written in B."""
    dir_a, dir_b = tmp_path / "a", tmp_path / "b"
    dir_a.mkdir()
    dir_b.mkdir()
    (dir_a / "data").symlink_to(fake_cifar_root)
    space, base = _space(dir_a, fake_cifar_root, "driver", epochs=6)
    raw = yaml.safe_load(space.read_text())
    raw["base"]["data"]["root"] = "./data"  # resolved against A when the study starts
    space.write_text(yaml.safe_dump(raw))
    client = MlflowClient(f"sqlite:///{dir_a / 'mlflow.db'}")
    elsewhere = ["--storage", "../a/runs"]  # relative, from B, to the same storage

    def status() -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "study", "status", "driver", *elsewhere],
            cwd=dir_b, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    # 1. SIGTERM: Tune stops after a last checkpoint, the study is marked as not complete.
    driver = _cli(dir_a, "run", "driver.yaml")
    try:
        _wait(lambda: any(r.data.metrics.get("train_loss") for r in _trial_runs(client, "driver")),
              180, "epoch")  # fmt: skip
        driver.send_signal(signal.SIGTERM)
    finally:
        out = _finish(driver, 180)
    assert driver.returncode != 0 and "not complete" in out, out[-3000:]
    assert "RUNNING" not in {r.info.status for r in _trial_runs(client, "driver")}
    text = status()
    assert "NOT complete" in text and str(dir_a / "mlflow.db") in text

    # 2. `study resume` from B (the tracking URI comes from the record), SIGKILLed mid-study.
    driver = _cli(dir_b, "resume", "driver", *elsewhere)
    try:
        _wait(lambda: _most_epochs(client, "driver") >= 2, 180, "epoch")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(60)
    assert "NOT complete" in status()

    # 3. `study resume` from B finishes it: same parent, every trial once, every epoch once.
    driver = _cli(dir_b, "resume", "driver", *elsewhere)
    out = _finish(driver, 420)
    assert driver.returncode == 0, out[-4000:]
    exp = client.get_experiment_by_name("driver")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("lossbench.role") == "parent"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    trials = _trial_runs(client, "driver")
    assert len(trials) == 2 and {r.info.status for r in trials} == {"FINISHED"}
    for run in trials:
        assert _steps(client, run.info.run_id) == [1, 2, 3, 4, 5, 6]
        ref = _reference_finals(tmp_path, base, run.data.tags["loss"])
        assert run.data.metrics["final_paper_top5_error"] == ref["final_paper_top5_error"]
        assert run.data.metrics["final_train_loss"] == ref["final_train_loss"]
    assert "is complete" in status()
    assert sorted(dir_b.rglob("*")) == []  # no database, folder or file created in B


def test_trial_past_max_failures_and_double_interrupt_then_resume(
    tmp_path: Path, fake_cifar_root: Path
) -> None:
    """A trial killed with max_failures 0 errors; `study resume` restarts it from its last
    checkpoint; a second Ctrl-C during Tune's shutdown still leaves no run RUNNING; the last
    resume finishes with one run per trial and every epoch once."""
    space, _ = _space(tmp_path, fake_cifar_root, "errored", epochs=10)
    raw = yaml.safe_load(space.read_text())
    raw["failure"] = {"max_failures": 0}
    space.write_text(yaml.safe_dump(raw))
    db = tmp_path / "t.db"
    flags = ["--tracking-uri", f"sqlite:///{db}", "--storage", str(tmp_path / "store")]
    client = MlflowClient(f"sqlite:///{db}")

    # 1. One trial process dies: with no retries left, the trial errors and the study says so.
    driver = _cli(tmp_path, "run", str(space), *flags)
    try:
        _wait(lambda: _most_epochs(client, "errored") >= 2, 180, "epoch")
        victims = _trial_pids(driver.pid)
        assert victims, "no trial process found"
        os.kill(victims[0], signal.SIGKILL)
    finally:
        out = _finish(driver, 300)
    assert driver.returncode == 1 and "not complete" in out, out[-3000:]
    statuses = sorted(r.info.status for r in _trial_runs(client, "errored"))
    assert statuses == ["FAILED", "FINISHED"], statuses
    failed = next(r for r in _trial_runs(client, "errored") if r.info.status == "FAILED")
    done_before = len(_steps(client, failed.info.run_id))

    # 2. Resume, then Ctrl-C twice: the second as soon as Tune says it is stopping.
    driver = _cli(tmp_path, "resume", "errored", *flags)
    lines: list[str] = []
    stopping = threading.Event()

    def read() -> None:
        assert driver.stdout is not None
        for line in driver.stdout:
            lines.append(line)
            if "Stop signal received" in line:
                stopping.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        _wait(lambda: len(_steps(client, failed.info.run_id)) > done_before, 180, "resumed")
        driver.send_signal(signal.SIGINT)
        assert stopping.wait(60), "".join(lines)[-3000:]
        driver.send_signal(signal.SIGINT)
        driver.wait(60)  # promptly
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(60)
        reader.join(10)
    out = "".join(lines)
    # 130 when the second signal lands inside the shutdown (KeyboardInterrupt), 1 when Tune had
    # already stopped: either way not complete, and no run left RUNNING
    assert driver.returncode in (1, 130), out[-3000:]
    assert "RUNNING" not in {r.info.status for r in _trial_runs(client, "errored")}, out[-3000:]

    # 3. The last resume finishes the study: one run per trial, every epoch once.
    driver = _cli(tmp_path, "resume", "errored", *flags)
    out = _finish(driver, 420)
    assert driver.returncode == 0, out[-4000:]
    trials = _trial_runs(client, "errored")
    assert len(trials) == 2 and {r.info.status for r in trials} == {"FINISHED"}
    for run in trials:
        assert _steps(client, run.info.run_id) == list(range(1, 11))
