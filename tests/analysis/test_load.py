"""`analysis.load`: a study read back into tidy tables, from a tracking DB written by hand with
MLflow's client (no Ray). How each store reads is tests/store/'s."""

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
    client.log_dict(pid, {"analysis": {"curve": "test_top1_error"}}, "study_spec.json")
    client.log_dict(pid, {"lace vs ce": {"decision": "continue"}}, "decisions/look-1.json")
    client.log_dict(pid, {"lace vs ce": {"decision": "efficacy"}}, "decisions/look-2.json")
    client.log_dict(pid, {"lr": 0.1}, "decisions/tune.json")
    client.log_dict(rid, {"count": [1, 2]}, "reliability_test.json")
    return uri


def test_tidy_tables(tmp_path: Path) -> None:
    study = load_study(_study(tmp_path), "s")
    trials = study.trials
    assert len(trials) == 8  # the run of another parent is not included
    assert set(trials["loss_label"]) == {"ce", "focal(gamma=2.0)"}
    assert trials["seed"].dtype.kind == "i" and trials["noise.rate"].dtype.kind == "f"
    assert trials["data.flip"].all() and trials["data.n_train"].isna().all()
    assert study.setting_keys == ["noise.rate"]  # varies, on a grid axis, not loss or seed
    per_run = study.epochs[study.epochs["metric"] == "train_loss"].groupby("run_id")
    assert per_run.size().eq(2).all()  # step 2 logged twice: kept once
    last = study.epochs[(study.epochs["metric"] == "train_loss") & (study.epochs["step"] == 2)]
    assert set(last["value"]) == {0.9}  # the latest value of a re-sent step


def test_the_report_reads_only_the_curves_it_asks_for(tmp_path: Path) -> None:
    uri = _study(tmp_path)
    run_id = load_study(uri, "s", curves=set()).trials["run_id"].iloc[0]
    MlflowClient(uri).log_batch(run_id, metrics=[Metric("test_top1_error", 40.0, 5, 1)])
    every = load_study(uri, "s").epochs
    assert set(every["metric"]) == {"train_loss", "test_top1_error"}  # final_* is no curve
    asked = load_study(uri, "s", curves={"train_loss", "test_top5_error"}).epochs
    assert asked.equals(every[every["metric"] == "train_loss"].reset_index(drop=True))
    assert load_study(uri, "s", curves=set()).epochs.empty
    # asked of the stored spec: the spec's own metric's curve
    chosen = load_study(uri, "s", curves=lambda spec: {spec["analysis"]["curve"]})
    assert set(chosen.epochs["metric"]) == {"test_top1_error"}


def test_unknown_experiment(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no experiment 'nope'"):
        load_study(_study(tmp_path), "nope")


def test_casts_and_labels() -> None:
    assert [cast_param(v) for v in ("3", "0.5", "True", "None", "ce")] == [3, 0.5, True, None, "ce"]
    assert loss_label({"loss.name": "focal", "loss.gamma": 1.0}) == "focal(gamma=1.0)"
    assert loss_label({"loss.name": "ce"}) == "ce"


def test_the_spec_decisions_and_reliability_come_with_the_study(tmp_path: Path) -> None:
    """The stored spec (the parent run's copy), the sequential decisions (a later look
    supersedes), and each finished trial's reliability bins, in the one load."""
    uri = _study(tmp_path)
    study = load_study(uri, "s", curves=set())
    assert study.spec == {"analysis": {"curve": "test_top1_error"}}
    assert list(study.decisions["comparison"]) == ["lace vs ce"]
    assert study.decisions["decision"].iloc[0] == "efficacy"
    (run,) = study.reliability  # the one trial with bins
    assert run in set(study.trials["run_id"]) and study.reliability[run]["count"] == [1, 2]
    bare = load_study(uri, "s", curves=set(), files=False)
    assert bare.spec == {} and bare.decisions.empty and bare.reliability == {}
