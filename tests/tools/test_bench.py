from __future__ import annotations

import pytest

from study.tools.bench import bench_losses
from study.tools.cli import main
from study.training.losses import list_losses


def test_bench_losses_covers_every_loss_and_shape() -> None:
    rows = bench_losses("cpu", shapes=((8, 5), (16, 10)), repeats=3)
    assert {(r["shape"], r["loss"]) for r in rows} == {
        (s, n) for s in ("8x5", "16x10") for n in list_losses()
    }
    assert all(r["ratio_to_ce"] == 1.0 for r in rows if r["loss"] == "ce")
    assert all(float(r["median_us"]) > 0 for r in rows)


def test_bench_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "losses", "--repeats", "0"]) == 2
    assert "--repeats" in capsys.readouterr().err


def test_bench_scheduling_runs_the_study_and_bare_tune(tmp_path: object) -> None:
    """The scale benchmark end to end at 2 trials, in its own process (it starts Ray)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "study", "bench", "scheduling", "--trials", "2", "--epochs", "2"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "MLflow trial runs FINISHED: 2/2" in out
    for figure in ("bare Ray Tune on the same trials", "ratio", "per-epoch results",
                   "`study status`", "`study report`"):  # fmt: skip
        assert figure in out
    assert main(["bench", "scheduling", "--trials", "1"]) == 2


def test_bench_tracking_logs_every_epoch_then_times_status_and_report() -> None:
    """The logging benchmark at 4 trials of 3 epochs (no Ray): every run FINISHED, and the
    figures it promises printed."""
    from study.tools.bench_tracking import bench_tracking

    out = "\n".join(bench_tracking(4, 3, at_once=3))
    assert "per-epoch results logged: 12 in" in out
    assert "trial runs FINISHED: 4/4" in out
    assert "`study status` (a fresh process)" in out and "`study report`" in out
