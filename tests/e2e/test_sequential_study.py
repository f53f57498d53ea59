"""A sequential (adaptive-seeding) study end to end on digits, from the shipped smoke space:
the driver is SIGKILLed during the second look and the study resumed; the first look's
decisions are never taken again, every trial runs once, the stored verdicts are what the
rule gives on the tracked finals, and the report shows them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from analysis.sequential import boundary, decide_with_bounds
from study.orchestration.spec import load_spec
from study.orchestration.stages.looks import comparisons, sequential_design
from tests.e2e.test_faults import _cli, _finish, _trial_runs, _wait

pytestmark = pytest.mark.e2e

SMOKE = Path(__file__).parents[2] / "search_spaces" / "smoke" / "sequential_smoke.yaml"


def test_sequential_study_resumes_without_re_deciding(tmp_path: Path) -> None:
    # 6 epochs instead of 2, so that the kill lands inside a look-3 trial
    space = tmp_path / "seq.yaml"
    space.write_text(yaml.safe_dump({"extends": str(SMOKE), "base": {"schedule": {"epochs": 6}}}))
    name = "sequential_smoke"
    folder = tmp_path / "runs" / name
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")

    def look3_running() -> bool:
        return (folder / "decisions" / "look-2.json").is_file() and any(
            r.data.tags.get("look") == "3" and r.data.metrics.get("epoch", 0) >= 2
            for r in _trial_runs(client, name)
        )

    driver = _cli(tmp_path, "run", str(space))
    try:
        _wait(look3_running, 300, "a look-3 trial at epoch 2")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(60)
    look2 = folder / "decisions" / "look-2.json"
    stored, mtime = look2.read_bytes(), look2.stat().st_mtime_ns
    assert not (folder / "decisions" / "look-3.json").exists()

    driver = _cli(tmp_path, "resume", name)
    out = _finish(driver, 420)
    assert driver.returncode == 0, out[-4000:]
    assert look2.read_bytes() == stored and look2.stat().st_mtime_ns == mtime  # not re-decided

    spec = load_spec(space)
    plan = sequential_design(spec)
    first = json.loads(stored)
    final = json.loads((folder / "decisions" / "look-3.json").read_text())
    open_after_2 = {c for c, v in first.items() if v["decision"] == "continue"}
    assert open_after_2 and set(final) == open_after_2  # look 3 analysed the open ones only
    assert all(v["decision"] != "continue" for v in final.values())  # the last look decides

    # every trial once, FINISHED; look 3 ran only the points the open comparisons need
    runs = _trial_runs(client, name)
    assert {r.info.status for r in runs} == {"FINISHED"}
    keys = [r.data.tags["trial_label"] for r in runs]
    assert len(keys) == len(set(keys))
    look3 = [r for r in runs if r.data.tags["look"] == "3"]
    needed = open_after_2 | {"loss=ce,noise=none"}
    assert {r.data.tags["trial_label"].rsplit(",seed=", 1)[0] for r in look3} == needed
    assert len(runs) == 3 * 2 + len(look3)

    # the stored verdicts are the rule applied to the tracked finals
    finals = {r.data.tags["trial_label"]: r.data.metrics["final_paper_top1_error"] for r in runs}
    for cid, _, _ in comparisons(spec):
        n = 3 if cid in open_after_2 else 2
        c = np.array([finals[f"{cid},seed={s}"] for s in range(n)])
        r = np.array([finals[f"loss=ce,noise=none,seed={s}"] for s in range(n)])
        decision, info = decide_with_bounds(r - c, plan)  # errors: reference - candidate
        verdict = (final if n == 3 else first)[cid]
        assert decision == verdict["decision"] and info["mean"] == pytest.approx(verdict["mean"])
        assert verdict["boundary"] == boundary(decision, info, plan)

    # the parent run carries the decisions; the report shows them; status says complete
    parent = [r for r in client.search_runs([runs[0].info.experiment_id])
              if r.data.tags.get("lossbench.role") == "parent"]  # fmt: skip
    names = {a.path for a in client.list_artifacts(parent[0].info.run_id, "decisions")}
    assert names == {"decisions/look-2.json", "decisions/look-3.json"}
    report = subprocess.run(
        [sys.executable, "-m", "study", "report", name, "--out", str(tmp_path / "rep")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-2000:]
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "Sequential decisions" in text and "(sequential): gain in" in text
    assert "biased away from 0 and carry no verdict" in text  # fixed-design rows: estimates only
    assert all(f"| {cid} | {v['decision']} | 3 |" in text for cid, v in final.items()), text
    status = subprocess.run(
        [sys.executable, "-m", "study", "status", name], cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert f"looks             {len(runs)}        {len(runs)}" in status.stdout, status.stdout
    assert "is complete" in status.stdout
