"""Reading runs back from MLflow, on a tracking DB written by hand (no Ray)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from analysis.load import cast_param, load_study, loss_label


def _study(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("s", artifact_location=(tmp_path / "art").as_uri())
    parent = client.create_run(
        exp,
        tags={
            "lossbench.role": "parent",
            "study": "s",
            "grid_axes": json.dumps(["loss", "noise", "seed"]),
        },
    )
    pid = parent.info.run_id
    for loss, extra in (("ce", {}), ("focal", {"loss.gamma": "2.0"})):
        for seed in (0, 1):
            for rate in ("0.2", "0.4"):
                run = client.create_run(
                    exp, tags={"lossbench.role": "trial", "study": "s", "mlflow.parentRunId": pid}
                )
                rid = run.info.run_id
                params = {"loss.name": loss, "seed": str(seed), "noise.rate": rate,
                          "noise.kind": "symmetric", "optim.lr": "0.1", "data.flip": "True",
                          "data.n_train": "None", **extra}  # fmt: skip
                for k, v in params.items():
                    client.log_param(rid, k, v)
                client.log_batch(rid, metrics=[Metric("train_loss", 2.0, 1, 1)])
                client.log_batch(rid, metrics=[Metric("train_loss", 1.0, 2, 2)])
                client.log_batch(rid, metrics=[Metric("train_loss", 0.9, 3, 2)])  # re-sent
                client.log_batch(rid, metrics=[Metric("final_paper_top5_error", 5.0, 4, 2)])
                client.set_terminated(rid, "FINISHED")
    client.create_run(
        exp, tags={"lossbench.role": "trial", "study": "s", "mlflow.parentRunId": "other"}
    )
    return uri


def test_tidy_tables(tmp_path: Path) -> None:
    study = load_study(_study(tmp_path), "s")
    trials = study.trials
    assert len(trials) == 8  # the run of another parent is not included
    assert set(trials["loss_label"]) == {"ce", "focal(gamma=2.0)"}
    assert trials["seed"].dtype.kind == "i" and trials["noise.rate"].dtype.kind == "f"
    assert trials["data.flip"].all() and trials["data.n_train"].isna().all()
    assert study.cell_keys == ["noise.rate"]  # varies, on a grid axis, not loss or seed
    per_run = study.epochs[study.epochs["metric"] == "train_loss"].groupby("run_id")
    assert per_run.size().eq(2).all()  # step 2 logged twice: kept once
    last = study.epochs[(study.epochs["metric"] == "train_loss") & (study.epochs["step"] == 2)]
    assert set(last["value"]) == {0.9}  # the latest value of a re-sent step


def test_unknown_experiment(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no experiment 'nope'"):
        load_study(_study(tmp_path), "nope")


def test_casts_and_labels() -> None:
    assert [cast_param(v) for v in ("3", "0.5", "True", "None", "ce")] == [3, 0.5, True, None, "ce"]
    assert loss_label({"loss.name": "focal", "loss.gamma": 1.0}) == "focal(gamma=1.0)"
    assert loss_label({"loss.name": "ce"}) == "ce"
