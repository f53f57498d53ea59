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
