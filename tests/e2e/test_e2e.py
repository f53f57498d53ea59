"""A tiny noisy study through `study run` with real Ray and real MLflow, then resumed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.conftest import tiny_dict

pytestmark = pytest.mark.e2e

PER_EPOCH = ("train_loss", "test_top1_error", "test_top5_error", "test_nll", "test_ece")
TAGS = ("study", "loss", "seed", "lr", "noise_kind", "noise_rate", "ray.trial_id", "git_sha",
        "config_hash", "mlflow.parentRunId")  # fmt: skip


SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET1",
    "MLFLOW_TRACKING_PASSWORD": "hunter2-tracking-SECRET2",
    "RAY_AUTH_TOKEN": "tok-3f9a1c-SECRET3",
}


def _study(tmp_path: Path, space: Path, db: Path, storage: Path) -> subprocess.CompletedProcess:
    work = tmp_path / "cwd"
    work.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "study", "run", str(space)]
    cmd += ["--tracking-uri", f"sqlite:///{db}", "--storage", str(storage)]
    env = {**os.environ, **SECRETS}  # none of these may reach MLflow or the logs
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert list(work.iterdir()) == []  # everything went where the flags said
    return proc


def _smoke(tmp_path: Path, name: str, data_root: Path) -> Path:
    """A shipped smoke space reading its data from `data_root`."""
    space = tmp_path / f"{name}.yaml"
    smoke = Path(__file__).parents[2] / "search_spaces" / "smoke" / f"{name}.yaml"
    space.write_text(f"extends: {smoke}\nbase: {{data: {{root: {data_root}}}}}\n")
    return space


def test_tiny_study_end_to_end_and_resume(tmp_path: Path, fake_cifar_root: Path) -> None:
    space = tmp_path / "tiny.yaml"
    raw = {
        "name": "tiny",
        "description": "a tiny noisy study",
        "base": tiny_dict(fake_cifar_root, noise={"kind": "symmetric", "rate": 0.4}),
        "grid": {"loss": [{"name": "ce"}, {"name": "lace"}], "seed": [0, 1]},
        "resources": {"cpu": 1},
        "analysis": {
            "primary": ["lace"],
            "claims": [{"candidate": "lace", "gain": 0.5, "source": "Shim 2025, Table 1"}],
        },
    }
    space.write_text(yaml.safe_dump(raw))
    db, storage = tmp_path / "track" / "t.db", tmp_path / "store"
    proc = _study(tmp_path, space, db, storage)
    assert "main: 4/4 finished" in proc.stdout
    # the compact console: one line per finished trial, no Ray result tables
    progress = [line for line in proc.stdout.splitlines() if " done (" in line]
    assert len(progress) == 4 and "main 4/4 done (0 running)" in progress[-1], proc.stdout
    assert all("final_paper_top5_error" in line for line in progress)
    assert "Trial status" not in proc.stdout and "╭" not in proc.stdout
    # a quiet console: neither MLflow's table creation nor Ray's start and token lines
    said = proc.stdout + proc.stderr
    assert "Creating initial MLflow database tables" not in said
    assert "Started a local Ray instance" not in said and "Token authentication is" not in said

    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("tiny")
    assert exp.artifact_location.startswith((db.parent / "mlartifacts").as_uri())
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("lossbench.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("lossbench.role") == "trial"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    # the MLflow UI shows the study's description and a results summary per loss and setting
    assert exp.tags["mlflow.note.content"] == "a tiny noisy study"
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert f"/#/experiments/{exp.experiment_id}?workflowType=machine_learning" in proc.stdout
    note = parents[0].data.tags["mlflow.note.content"]
    assert "main 4/4 finished" in note and "final_paper_top5_error (mean ± std)" in note
    assert note.count("| loss.name=") == 2 and "| 2 |" in note
    assert len(children) == 4 and {r.info.status for r in children} == {"FINISHED"}
    assert {(r.data.tags["loss"], r.data.tags["seed"]) for r in children} == {
        ("ce", "0"), ("ce", "1"), ("lace", "0"), ("lace", "1"),
    }  # fmt: skip
    for run in children:
        assert all(tag in run.data.tags for tag in TAGS)
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.data.params["optim.lr"] == "0.1" and "data.root" in run.data.params
        assert "final_paper_top5_error" in run.data.metrics
        for key in PER_EPOCH:
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert sorted(steps) == [1, 2], key
        assert run.data.metrics["noise_realized_rate"] == 0.4
        assert run.data.params["noise.seed"] == "trial"  # the draw follows the trial's seed
        assert run.data.tags["noise_draw_seed"] == run.data.tags["seed"]
        assert "train_noisy_memorized" in run.data.metrics
        artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
        assert (artifacts / "trial_config.json").is_file()
        assert np.load(artifacts / "noise_mask.npz")["flipped"].mean() == 0.4
        assert artifacts.is_relative_to(db.parent)

    status = subprocess.run(
        [sys.executable, "-m", "study", "status", "tiny", "--storage", str(storage),
         "--tracking-uri", f"sqlite:///{db}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr[-2000:]
    assert "is complete" in status.stdout
    assert len([ln for ln in status.stdout.splitlines() if "FINISHED  epoch 2 " in ln]) == 4

    # The same command again resumes the finished study: no new runs, no re-logged steps.
    _study(tmp_path, space, db, storage)
    again = client.search_runs([exp.experiment_id])
    assert len(again) == 5
    run = children[0]
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 2

    # No secret from the environment reached MLflow (params, tags, artifacts) or the output.
    texts = [proc.stdout, proc.stderr]
    for run in [*parents, *children]:
        texts += [json.dumps(run.data.params), json.dumps(run.data.tags)]
    texts += [
        p.read_text(errors="ignore")
        for p in db.parent.rglob("*")
        if p.is_file() and p.suffix != ".db"
    ]
    texts.append(db.read_bytes().decode(errors="ignore"))
    texts += [
        p.read_text(errors="ignore")
        for p in storage.rglob("*")
        if p.is_file() and p.suffix in (".json", ".csv", ".yaml", ".log", ".txt")
    ]
    for secret in SECRETS.values():
        assert not any(secret in text for text in texts), secret

    # The report reads the runs back from MLflow only.
    out = tmp_path / "report"
    cmd = [sys.executable, "-m", "study", "report", "tiny", "--tracking-uri", f"sqlite:///{db}"]
    proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(out / "comparisons.csv")
    assert list(table["candidate"]) == ["lace"] and table["n_pairs"].tolist() == [2]
    assert len(pd.read_parquet(out / "trials.parquet")) == 4
    epochs = pd.read_parquet(out / "epochs.parquet")
    assert set(epochs["step"]) == {1, 2}
    # the curves the report uses (the study compares final_paper_top5_error): not all ~15
    assert {"test_top1_error", "test_top5_error"} <= set(epochs["metric"]) <= {
        "test_top1_error", "test_top5_error", "train_noisy_memorized",
    }  # fmt: skip
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and 'src="http' not in page  # self-contained
    # it opens with the claim's answer, then the answer in words, then the per-setting
    # table; the methods come last
    answer = (out / "answer.txt").read_text().splitlines()
    assert answer[0].startswith("Claim from Shim 2025, Table 1: lace beats ce by 0.5 points of "
                                "test top-5 error — ") and answer[0] in page  # fmt: skip
    assert answer[0].split(" — ")[1].split(":")[0] in (
        "supported",
        "smaller than claimed",
        "not supported",
        "undecided",
    )
    assert answer[1].startswith("lace vs ce (confirmatory), ") and answer[1] in page
    assert page.index("The claims") < page.index("The answer") < page.index("Per setting")
    assert page.index("Per setting") < page.index("Time to")
    assert set(table["family"]) == {"confirmatory"} and table["n_diverged"].tolist() == [0]
    claims = pd.read_csv(out / "claims.csv")
    assert claims["answer"].iloc[0] == answer[0].split(" — ")[1].split(":")[0]
    assert page.index("Time to") < page.index("Methods") and "`" not in page
    assert not (out / "meta_analysis.csv").exists()  # one setting: nothing to pool
    assert set(table["ci_method"]) == {"t"} and set(table["family_size"]) == {1}
    assert table["verdict"].iloc[0] in ("gain", "loss", "equivalent", "inconclusive")
    targets = pd.read_csv(out / "time_to_target.csv")
    assert list(targets["candidate"]) == ["lace"] and targets["n_pairs"].tolist() == [2]
    logged = client.list_artifacts(parents[0].info.run_id, "report")
    assert {Path(a.path).name for a in logged} >= {
        "report.html", "comparisons.csv", "answer.txt", "time_to_target.csv", "paired_misses.csv",
    }  # fmt: skip
    # asked for another confirmatory family, the report says in its first line: post hoc;
    # asked for the losses' variances, which one row per setting cannot split, it says so
    post = tmp_path / "post"
    proc = subprocess.run([*cmd, "--out", str(post), "--primary", "", "--no-log",
                           "--family-method", "maxt-losses"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (post / "answer.txt").read_text().startswith("Post hoc: ")
    assert (post / "report.md").read_text().splitlines()[2].startswith("Post hoc: ")
    method = pd.read_csv(post / "comparisons.csv")["method"].iloc[0]
    assert method.startswith("seed-level model, moderated variances") and "need 3 rows" in method
    assert method in (post / "report.md").read_text()


def test_tune_then_evaluate_runs_both_stages(tmp_path: Path, fake_cifar_root: Path) -> None:
    """Stage `tune`: an Optuna search per loss (3 samples, 2 at a time) whose first trial is
    the paper's point; stage `evaluate`: each loss's best configuration with 2 fresh seeds."""
    space = _smoke(tmp_path, "tune_then_evaluate_smoke", fake_cifar_root)
    db, storage = tmp_path / "t.db", tmp_path / "store"
    proc = _study(tmp_path, space, db, storage)
    assert "tune: 6/6 finished, evaluate: 4/4 finished" in proc.stdout
    assert "Could not fetch metrics" not in proc.stdout + proc.stderr  # no logger files: no noise
    # each cell's search says what a suggestion cost the driver
    cost = r"tune \[loss=ce,seed=0\] \(tpe\): 3 suggestions, [0-9.]+ ms each"
    assert re.search(cost, proc.stdout)

    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("tune_then_evaluate_smoke")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if r.data.tags.get("lossbench.role") == "parent"]
    assert len(parents) == 1 and "sampler" in parents[0].data.tags
    trials = [r for r in runs if r.data.tags.get("lossbench.role") == "trial"]
    tune = [r for r in trials if r.data.tags["stage"] == "tune"]
    evaluate = [r for r in trials if r.data.tags["stage"] == "evaluate"]
    assert len(tune) == 6 and len(evaluate) == 4
    assert all(r.info.status == "FINISHED" for r in trials)

    decision = storage / "tune_then_evaluate_smoke" / "decisions" / "tune.json"
    best = json.loads(decision.read_text())
    for loss, chosen in zip(("ce", "focal"), best, strict=True):
        cell = [r for r in tune if r.data.params["loss.name"] == loss]
        assert len(cell) == 3
        # the paper's point is evaluated (the first suggestion: test_spec_translate.py)
        points = {
            (r.data.params["optim.lr"], r.data.params["optim.weight_decay"],
             r.data.params["optim.momentum"])
            for r in cell
        }  # fmt: skip
        assert ("0.1", "0.0005", "0.9") in points
        best_val = min(r.data.metrics["val_top1_error"] for r in cell)
        winners = [r for r in cell if r.data.metrics["val_top1_error"] == best_val]
        assert any(
            all(float(r.data.params[k]) == pytest.approx(v) for k, v in chosen.items())
            for r in winners
        )
        stage2 = [r for r in evaluate if r.data.params["loss.name"] == loss]
        assert sorted(r.data.params["seed"] for r in stage2) == ["1", "2"]
        for run in stage2:
            assert run.data.params["data.val_fraction"] == "0.0"  # full training split
            for key, value in chosen.items():
                assert float(run.data.params[key]) == pytest.approx(value)

    # A restart picks up where it was: nothing re-run, nothing duplicated, same winners.
    _study(tmp_path, space, db, storage)
    assert len(client.search_runs([exp.experiment_id])) == 11


def test_second_paper_protocol_smoke_trains_and_its_report_says_it_selects_on_test(
    tmp_path: Path, fake_emnist_root: Path
) -> None:
    """The published EMNIST-Letters protocol (VGG-5, Adam, the random-restart schedule reading
    the test split, rotation + perspective, 62 outputs) on fake official files, through Ray and
    MLflow; its report says up front that it selects on the test set."""
    space = _smoke(tmp_path, "emnist_letters_smoke", fake_emnist_root)
    db, storage = tmp_path / "e.db", tmp_path / "store"
    proc = _study(tmp_path, space, db, storage)
    assert "main: 3/3 finished" in proc.stdout
    out = tmp_path / "report"
    cmd = [sys.executable, "-m", "study", "report", "emnist_letters_smoke",
           "--tracking-uri", f"sqlite:///{db}", "--out", str(out), "--no-log"]  # fmt: skip
    report = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    page = (out / "report.html").read_text()
    assert page.index("selects on the test set") < page.index("Per setting")
    table = pd.read_csv(out / "comparisons.csv")
    assert sorted(table["candidate"]) == ["minent(lam=0.1088)", "mixent(eta=1e-06,lam=1.3206)"]
