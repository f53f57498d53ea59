"""The stage kinds (`study.orchestration.stages`) without Ray running: every stage kind's
contract over fake trial results, and decisions read back after a restart."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from study import contract
from study.orchestration.spec import StudySpec, spec_from_dict
from study.orchestration.stages import (
    STAGES,
    StageContext,
    TrialResult,
    TuneExperiment,
    study_stages,
)
from study.orchestration.storage import Storage

# One study per stage kind that runs it, on the real registry's stages
DIGITS = {"data": {"name": "digits", "val_fraction": 0.2}}
LOSSES = [{"name": "ce"}, {"name": "lace"}, {"name": "focal"}]
SPECS: dict[str, dict[str, Any]] = {
    "main": {"name": "m", "base": DIGITS, "grid": {"loss": LOSSES[:2], "seed": [0, 1, 2]}},
    "tune": {
        "name": "t", "base": DIGITS, "grid": {"loss": LOSSES},
        "search": {"params": {"optim.lr": {"type": "logfloat", "low": 0.01, "high": 0.5}},
                   "per_loss": {"focal": {"loss.gamma": {"type": "float", "low": 0.0,
                                                         "high": 3.0}}},
                   "num_samples": 4},
        "evaluate": {"seeds": [0, 1, 2]},
    },
    "looks": {
        "name": "s", "base": DIGITS, "analysis": {"min_effect": 1.0},
        "grid": {"loss": LOSSES, "noise.rate": [0.0, 0.2]},
        "sequential": {"looks": [3, 6, 9]},
    },
}  # fmt: skip
SPECS["evaluate"] = SPECS["tune"]


def _value(point: Mapping[str, Any], salt: int) -> float:
    """A fake final metric: `lace` far better than `ce` (decided at the first look), `focal`
    the same as `ce` up to seed noise; `salt` changes every value (a second session)."""
    loss = str(point.get("loss", {}).get("name", "ce"))
    shift = {"ce": 0.0, "lace": -5.0, "focal": 0.0}.get(loss, 0.0)
    seed = int(point.get("seed", 0))
    return 20.0 + shift + ((seed * 7 + salt * 3) % 5) * 0.1 + float(point.get("noise.rate", 0))


def _fake_results(exp: TuneExperiment, spec: StudySpec, salt: int) -> list[TrialResult]:
    """What Tune would hand back for `exp`: every trial finished, with the metrics a stage
    reads (the search metric for a search, the study's metric otherwise)."""
    if exp.search is None:
        return [
            TrialResult(dict(p), {spec.analysis.metric: _value(p, salt), contract.FINISHED_METRIC:
                                  _value(p, salt)}, True)
            for p in exp.grid
        ]  # fmt: skip
    space = exp.search.params_for(exp.base.loss.name)
    out = []
    for i in range(exp.search.num_samples):
        suggested = {k: d.low + (d.high - d.low) * (i + salt) / 10 for k, d in space.items()}
        metric = 10.0 - i + salt  # a different winner in another session
        out.append(TrialResult(suggested, {exp.search.metric: metric}, True))
    return out


def _drive(spec: StudySpec, storage: Storage, salt: int = 0) -> tuple[StageContext, dict]:
    """The runner's loop over the stages, with fake results for every Tune experiment."""
    ctx = StageContext(spec, storage)
    ran: dict[str, list[TuneExperiment]] = {}
    for stage in study_stages(spec):
        ctx.results[stage.name], ran[stage.name] = [], []
        for experiments in stage.rounds(ctx):
            for exp in experiments:
                ran[stage.name].append(exp)
                ctx.results[stage.name].append(_fake_results(exp, spec, salt))
        ctx.complete[stage.name] = True
    return ctx, ran


@pytest.mark.parametrize("kind", STAGES.names())
def test_stage_contract(kind: str, tmp_path: Path) -> None:
    """`rounds()` yields what `expected()` counts (given its decisions), `expected()` without
    decisions is the most it can run, and `cost()` agrees with both."""
    spec = spec_from_dict(SPECS[kind])
    stage = STAGES.get(kind)
    assert stage.active(spec) and stage.name == kind
    assert stage.compared == contract.compared(kind)
    ctx, ran = _drive(spec, Storage.of(tmp_path))
    trials = sum(e.n_trials for e in ran[kind])
    assert all(e.stage == kind for e in ran[kind])
    assert trials == stage.expected(spec, ctx) > 0
    cost = stage.cost(spec)
    at_most = stage.expected(spec)
    assert sum(n for _, n in cost.trials) == at_most >= trials
    assert cost.experiments >= len(ran[kind])
    if not cost.bound:  # no early stop possible: exactly what runs
        assert (at_most, cost.experiments) == (trials, len(ran[kind]))


def test_a_sequential_stage_stops_decided_comparisons(tmp_path: Path) -> None:
    spec = spec_from_dict(SPECS["looks"])
    ctx, ran = _drive(spec, Storage.of(tmp_path))
    first = ctx.decision("look-3")
    assert {v["decision"] for k, v in first.items() if "lace" in k} == {"gain"}
    # each verdict names its comparison for the report: the candidate, the setting
    assert {(v["candidate"], v["setting"]) for k, v in first.items() if "lace" in k} == {
        ("lace", "rate=0"), ("lace", "rate=0.2")}  # fmt: skip
    later = [p for e in ran["looks"][1:] for p in e.grid]
    assert later and not any(p["loss"]["name"] == "lace" for p in later)


@pytest.mark.parametrize("kind", ["tune", "looks"])
def test_decisions_are_read_back_after_a_restart(kind: str, tmp_path: Path) -> None:
    """A second session, whose trials report other values (a restored Tune experiment's order
    and results are not stable), runs exactly what the first decided."""
    spec, storage = spec_from_dict(SPECS[kind]), Storage.of(tmp_path)
    first, ran_first = _drive(spec, storage, salt=0)
    second, ran_second = _drive(spec, storage, salt=1)
    assert ran_second == ran_first
    assert second.used == first.used and first.used
    for key in first.used:
        assert second.decision(key) == first.decision(key)
    _, ran_fresh = _drive(spec, Storage.of(tmp_path / "fresh"), salt=1)
    if kind == "tune":  # the winners do depend on the values: the test can tell
        assert ran_fresh["evaluate"] != ran_first["evaluate"]
