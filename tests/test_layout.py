"""The shape of the code (benchmarks/module_graph.py prints the figures): no import cycle, no
module over 300 lines and no function over 60, three layers that import one way, one contract
module for the MLflow schema, one module per stage kind, and a new stage kind needs no change
to the runner or the planner."""

from __future__ import annotations

import ast
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from study.orchestration.spec import spec_from_dict
from study.orchestration.stages import (
    STAGES,
    Cost,
    StageContext,
    TuneExperiment,
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


# What each layer may import of the project (study.errors, registry, coerce and contract sit
# under all three and import nothing of the layers)
LAYERS = {
    "study.training": ("study.training", "study.errors", "study.registry", "study.coerce",
                       "study.contract"),
    "study.orchestration": ("study.training", "study.orchestration", "study.errors",
                            "study.registry", "study.coerce", "study.contract", "analysis"),
    "study.tools": ("study", "analysis"),
    "analysis": ("analysis", "study.contract"),
}  # fmt: skip
BASE = ("study.errors", "study.registry", "study.coerce", "study.contract")


def _allowed(target: str, prefixes: tuple[str, ...]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def test_layers_import_one_way() -> None:
    """Training imports neither orchestration nor tools; orchestration does not import tools;
    analysis reads the MLflow schema from study.contract and nothing else of study."""
    g = module_graph.graph()
    wrong = []
    for src, dst in g.edges:
        layer = next((lay for lay in LAYERS if _allowed(src, (lay,))), None)
        if layer is not None and not _allowed(dst, LAYERS[layer]):
            wrong.append((src, dst))
        if src in BASE and dst not in BASE[:2]:  # coerce and registry use errors, no more
            wrong.append((src, dst))
    assert wrong == []
    assert ("study.orchestration.trainable", "study.training.trial") in g.edges  # it sees them
    top = {n for n in g if n.startswith("study.") and n.count(".") == 1}
    assert top == {*BASE, "study.training", "study.orchestration", "study.tools", "study.__main__"}


def test_no_function_over_60_lines() -> None:
    long = {
        f"{path.relative_to(module_graph.ROOT)}:{node.name}": node.end_lineno - node.lineno + 1
        for path in module_graph.modules().values()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > 60  # type: ignore[operator]
    }
    assert long == {}


# The words of the contract that name something else where they appear: (module, string) →
# how many times. A new literal of a contract string anywhere else fails the test; so does one
# more here.
OTHER_MEANINGS = Counter({
    # the DataFrame columns of `analysis.load` and the report's tables
    ("analysis/load.py", "stage"): 1, ("analysis/load.py", "cell"): 1,
    ("analysis/load.py", "look"): 1, ("analysis/report.py", "stage"): 1,
    ("analysis/answer.py", "look"): 1, ("analysis/sections.py", "look"): 1,
    ("analysis/plots.py", "cell"): 2,  # a forest row's kind
    ("analysis/sequential.py", "looks"): 2,  # a field of SequentialDesign
    # fields of the stored study record and of a trial checkpoint (files, not MLflow tags)
    ("study/orchestration/record.py", "spec_hash"): 3,
    ("study/orchestration/record.py", "git_sha"): 3,
    ("study/training/trial.py", "config_hash"): 3,
    ("study/orchestration/stages/looks.py", "look"): 1,  # a stored decision's field
    # YAML keys of the study spec
    ("study/orchestration/spec/load.py", "evaluate"): 2,
    ("study/orchestration/spec/model.py", "evaluate"): 1,
    ("study/orchestration/spec/translate.py", "sampler"): 1,  # the registry's family name
    ("study/training/config.py", "trial"): 1,  # `noise.seed: trial`
    # the command line, and table headers
    ("study/tools/cli.py", "study"): 1, ("study/tools/cli.py", "trial"): 1,
    ("study/tools/launch.py", "study"): 3,
    ("study/tools/bench_scheduling.py", "study"): 1,  # `python -m study`
    ("study/tools/planning.py", "stage"): 3, ("study/tools/status.py", "stage"): 1,
    ("study/orchestration/stages/base.py", "stage"): 1,  # the registry's family name
})  # fmt: skip


def _literals(tree: ast.AST) -> Iterator[ast.Constant]:
    """String constants that are not docstrings or `__all__` entries."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            skip.update(id(n) for n in ast.walk(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node


def test_the_mlflow_schema_is_written_once() -> None:
    """Tag names, roles, stage names, metric keys and the finished signal live in
    study.contract; study.contract imports nothing of the project."""
    import study.contract as contract

    words = {v for k, v in vars(contract).items() if k.isupper() and isinstance(v, str)}
    assert {"lossbench.role", "final_paper_top5_error", "main", "parent"} <= words
    found: Counter[tuple[str, str]] = Counter()
    for name, path in module_graph.modules().items():
        if name == "study.contract":
            continue
        for node in _literals(ast.parse(path.read_text())):
            if node.value in words:
                found[(str(path.relative_to(module_graph.ROOT)), node.value)] += 1
    assert found == OTHER_MEANINGS
    g = module_graph.graph()
    assert list(g.successors("study.contract")) == []
    assert set(g.successors("study.contract.runs")) == {"study.contract"}  # its reader
    assert {s for s, d in g.edges if d == "study.contract"} >= {
        "analysis.load",
        "study.orchestration.tracking",
    }


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
        return len(spec.grid_points())

    def cost(self, spec) -> Cost:  # type: ignore[no-untyped-def]
        return Cost(1, [(c, 1) for c in spec.trial_configs()])

    def rounds(self, ctx: StageContext) -> Iterator[list[TuneExperiment]]:
        grid = tuple({**p, "seed": p["seed"] + 100} for p in ctx.spec.grid_points())
        yield [TuneExperiment("twice", self.name, ctx.spec.base, grid)]


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
