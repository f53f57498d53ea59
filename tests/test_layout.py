"""The shape of the code (benchmarks/module_graph.py prints the figures): no import cycle, no
module over 300 lines, one module per stage kind, and a new stage kind needs no change to the
runner or the planner."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from study.orchestration.spec import spec_from_dict
from study.orchestration.stages import (
    STAGES,
    Cost,
    StageContext,
    TunerPlan,
    expected_trials,
    study_stages,
)

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import module_graph


def test_no_import_cycle_and_no_module_over_300_lines() -> None:
    g = module_graph.graph()
    assert module_graph.cycles(g) == []
    assert {n: g.nodes[n]["lines"] for n in g if g.nodes[n]["lines"] > 300} == {}
    # the graph tool sees lazy imports too: a cycle made of them would be reported
    assert ("study.training.config", "study.training.data.registry") in g.edges


def test_each_stage_kind_is_its_own_module() -> None:
    kinds = {STAGES.get(n).__class__.__module__ for n in STAGES.names()}
    assert kinds == {
        f"study.orchestration.stages.{m}" for m in ("grid", "search", "evaluate", "looks")
    }


class _TwiceStage:
    """A tiny example stage kind: after the grid, every grid point again with seed + 100."""

    name = "twice"
    order = 30
    compared = False

    def active(self, spec: object) -> bool:
        return True

    def expected(self, spec, ctx=None) -> int:  # type: ignore[no-untyped-def]
        return len(spec.trial_overrides())

    def cost(self, spec) -> Cost:  # type: ignore[no-untyped-def]
        return Cost(1, [(c, 1) for c in spec.trial_configs()])

    def rounds(self, ctx: StageContext) -> Iterator[list[TunerPlan]]:
        grid = tuple({**p, "seed": p["seed"] + 100} for p in ctx.spec.trial_overrides())
        yield [TunerPlan("twice", self.name, ctx.spec.base, grid)]


def test_a_new_stage_kind_is_one_registration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from study.orchestration.storage import Storage
    from study.tools.planning import plan_table

    monkeypatch.setitem(STAGES._entries, "twice", _TwiceStage())
    spec = spec_from_dict({"name": "x", "base": {"data": {"name": "digits"}},
                           "grid": {"seed": [0, 1, 2]}})  # fmt: skip
    assert [s.name for s in study_stages(spec)] == ["main", "twice"]
    assert expected_trials(spec) == {"main": 3, "twice": 3}
    assert [r["stage"] for r in plan_table(spec)] == ["main", "twice"]
    ctx = StageContext(spec, Storage.of(tmp_path))
    (plan,) = next(STAGES.get("twice").rounds(ctx))
    assert [g["seed"] for g in plan.grid] == [100, 101, 102]


def test_reading_a_study_imports_no_torch_or_ray() -> None:
    """`study status` and the stored record are read on login nodes: the spec package must
    not pull in torch (the loss registry) or Ray at import."""
    import subprocess

    code = (
        "import sys, study.tools.status, study.orchestration.record, study.orchestration.spec; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'ray', 'optuna'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
