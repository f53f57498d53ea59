"""Storage that fills up under a running study (a small tmpfs mounted by the test): the study
stops with one line naming the path, no state file is left half-written or unreadable, and
once space is freed `study resume` completes it with finals bit-identical to an
uninterrupted run."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from study.training.states import checkpoint_from_bytes
from tests.e2e.test_faults import (
    _cli,
    _finish,
    _most_epochs,
    _reference_finals,
    _space,
    _steps,
    _trial_runs,
    _wait,
)  # fmt: skip

pytestmark = pytest.mark.e2e


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `where` (root's `mount`; the test fails, not skips, without it)."""
    where.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=True)


def _fill(folder: Path) -> Path:
    """A file that takes every free byte of the file system of `folder`."""
    ballast = folder / "ballast"
    with ballast.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return ballast


def test_storage_full_stops_the_study_then_resume_completes_it(
    tmp_path: Path, fake_cifar_root: Path
) -> None:
    space, base = _space(tmp_path, fake_cifar_root, "full", epochs=4)
    db = tmp_path / "t.db"
    client = MlflowClient(f"sqlite:///{db}")
    with tmpfs(tmp_path / "mnt", "8m") as mnt:
        storage = str(mnt / "runs")
        where = ["--tracking-uri", f"sqlite:///{db}", "--storage", storage]
        driver = _cli(tmp_path, "run", str(space), *where)
        try:
            _wait(lambda: _most_epochs(client, "full") >= 2, 240, "epoch 2")
            ballast = _fill(mnt)
        finally:
            out = _finish(driver, 300)
        errors = [line for line in out.splitlines() if line.startswith("study: error:")]
        assert driver.returncode == 2 and len(errors) == 1, out[-4000:]
        assert "No space left on device" in errors[0] and storage in errors[0], errors
        assert out.strip().splitlines()[-1] == errors[0]  # the last word, after Ray's logs
        # no state file half-written: every one loads; no temporary file left beside them
        states = list(Path(storage).rglob("trial_states/*"))
        assert states and all(".tmp-" not in p.name for p in states), states
        for state in states:
            checkpoint_from_bytes(state.read_bytes())

        ballast.unlink()
        resumed = subprocess.run([sys.executable, "-m", "study", "resume", "full", "--storage",
                                  storage], cwd=tmp_path, capture_output=True, text=True,
                                 timeout=600)  # fmt: skip
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    trials = _trial_runs(client, "full")
    assert len(trials) == 2 and {r.info.status for r in trials} == {"FINISHED"}
    for run in trials:
        assert _steps(client, run.info.run_id) == [1, 2, 3, 4]
        ref = _reference_finals(tmp_path, base, run.data.tags["loss"])
        assert run.data.metrics["final_paper_top5_error"] == ref["final_paper_top5_error"]
        assert run.data.metrics["final_train_loss"] == ref["final_train_loss"]
